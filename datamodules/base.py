"""What every datamodule offers beyond Lightning's: its ground-truth factors, described as data.

Metrics and traversals need no per-dataset code: they read `factor_names` / `factor_sizes`, draw
factor values with `sample_factors`, and turn them into observations with
`observations_from_factors` (the interface disentanglement_lib calls "ground-truth data").
"""
from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from datamodules.sampling import ResumableShuffle

log = logging.getLogger(__name__)


def loader_arguments(data: DictConfig, seed: int) -> dict[str, Any]:
    """The training loader's settings every datamodule takes: ``data.batch_size``, ``data.num_workers``, ``seed``."""
    return dict(batch_size=data.batch_size, num_workers=data.num_workers, seed=seed)


def dataset_section(data: DictConfig, name: str) -> dict[str, Any]:
    """The dataset's own keys (``data.<name>``, e.g. ``data.dsprites``) as plain Python values."""
    return OmegaConf.to_container(data[name], resolve=True)  # type: ignore[return-value]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, which a cluster's job limits), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def loader_workers(requested: int, rank: int = 0) -> int:
    """``data.num_workers``, at most the cores available: more workers than cores only compete for them
    (and torch warns of it on every loader). Rank 0 says so in one line when it caps them."""
    cores = available_cores()
    if requested <= cores:
        return requested
    if rank == 0:
        log.warning(f"data.num_workers={requested} is more than the {cores} CPU cores available: "
                    f"using {cores} loader workers")
    return cores


def trains_on_gpu(trainer) -> bool:
    """Whether batches go to a CUDA device, where pinned host memory makes the copy asynchronous."""
    strategy = getattr(trainer, "strategy", None)
    return strategy is not None and strategy.root_device.type == "cuda"


class FactorDataModule(pl.LightningDataModule, ABC):
    """A LightningDataModule whose samples are generated from discrete ground-truth factors.

    Subclasses set `factor_names` and `factor_sizes` (one entry per factor, factor `k` takes the
    values `0 .. factor_sizes[k] - 1`) and `observation_shape`, and implement the two samplers.
    Observations are float tensors: points in R^2 for 2D data, images `(C, H, W)` in [0, 1].
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, ...]
    # Every image holds exactly one object on a dark background (dSprites): generated images are then
    # also scored by the share that show several (eval/multiple_objects, metrics/object_count.py).
    one_object_per_image: bool = False

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.start_iteration = 0  # set by train.py when a run resumes

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> FactorDataModule:
        """The datamodule of a run's ``data`` section and ``seed`` (what ``train.build_datamodule`` calls).

        This default reads only the loader settings; a dataset with keys of its own (``data.path``,
        ``data.<name>.*``) overrides it.
        """
        return cls(**loader_arguments(data, seed))

    @abstractmethod
    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` factor tuples drawn from the data distribution, a LongTensor `(n, num_factors)`."""

    @abstractmethod
    def observations_from_factors(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One observation for each row of `factors` (`(n, num_factors)` LongTensor): `(n, *observation_shape)`.

        Where several observations share the factor values (noise in a mixture, several images of
        one digit), one is drawn with `generator`.
        """

    @abstractmethod
    def train_dataset(self) -> Dataset:
        """The map-style dataset of `(observation, factors)` pairs that training iterates over."""

    def sample(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """An evaluation batch `(observations, factors)` of size `n`, reproducible from `seed`."""
        generator = torch.Generator().manual_seed(seed)
        factors = self.sample_factors(n, generator)
        return self.observations_from_factors(factors, generator), factors

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def train_dataloader(self) -> DataLoader:
        """An endless loader whose batches depend only on (seed, iteration, rank): see datamodules/sampling.py.

        Under DDP each rank reads its own block of every global batch, so the Trainer must not swap in
        a DistributedSampler (train.py passes ``use_distributed_sampler=False``).
        """
        trainer = getattr(self, "trainer", None)
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        dataset = self.train_dataset()
        sampler = ResumableShuffle(len(dataset), self.batch_size, self.seed, self.start_iteration, rank, world_size)
        workers = loader_workers(self.num_workers, rank)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,  # workers (and their open files) live for the whole run
            pin_memory=trains_on_gpu(trainer),
        )
