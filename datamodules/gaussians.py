"""2D Gaussian mixtures, the classic test of mode collapse: which mode a point comes from is its factor."""
from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch.utils.data import Dataset, TensorDataset

from datamodules.base import FactorDataModule, dataset_section, loader_arguments

MIXTURES = ("grid", "ring")


def mixture_modes(mixture: str) -> torch.Tensor:
    """Centres `(K, 2)` of the named mixture.

    `grid`: the 25 points of {-2, -1, 0, 1, 2}^2 (row-major, y fastest); `ring`: 8 points evenly
    spaced on the circle of radius 2, the first at angle 0.
    """
    if mixture == "grid":
        axis = torch.arange(-2.0, 3.0)
        return torch.cartesian_prod(axis, axis)
    if mixture == "ring":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()
    raise ValueError(f"unknown mixture {mixture!r}; choose one of {', '.join(MIXTURES)}")


class GaussianMixtureDataModule(FactorDataModule):
    """Points from a uniform mixture of isotropic Gaussians; the factor `mode` is the component.

    Args:
        mixture: `"grid"` (25 modes on {-2..2}^2) or `"ring"` (8 modes on a circle of radius 2).
        std: standard deviation of every component. The modes are 1 apart on the grid, so
            `std` well below 0.5 keeps them separable (quality metrics count a point as belonging to
            a mode within a few `std`).
        num_samples: size of the training set, drawn once from the mixture with `seed`.
        batch_size, num_workers, seed: of the training loader; `seed` also draws the training set.

    Attributes:
        modes: the centres `(K, 2)`, and `std`, for sample-quality metrics (modes covered, share of
            high-quality samples).
    """

    factor_names = ("mode",)
    observation_shape = (2,)

    def __init__(
        self,
        mixture: str = "grid",
        std: float = 0.05,
        num_samples: int = 100_000,
        batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.mixture = mixture
        self.modes = mixture_modes(mixture)
        self.std = float(std)
        self.num_samples = num_samples
        self.factor_sizes = (len(self.modes),)
        self._train_dataset: TensorDataset | None = None

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> GaussianMixtureDataModule:
        return cls(**dataset_section(data, "gaussians"), **loader_arguments(data, seed))

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(len(self.modes), (n, 1), generator=generator)

    def observations_from_factors(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        centres = self.modes[factors[:, 0]]
        return centres + self.std * torch.randn(centres.shape, generator=generator)

    def train_dataset(self) -> Dataset:
        if self._train_dataset is None:
            points, factors = self.sample(self.num_samples, seed=self.seed)
            self._train_dataset = TensorDataset(points, factors)
        return self._train_dataset
