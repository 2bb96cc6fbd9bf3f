"""Drawing codes from ground-truth data, and the input checks every metric shares.

The metrics see a dataset only through the interface disentanglement_lib calls "ground-truth data"
(`datamodules.base.FactorDataModule` implements it): `factor_names`, `factor_sizes`, `num_factors`,
`sample_factors(n, generator)` and `observations_from_factors(factors, generator)`. A model is seen
only through its encoder, any callable `encode(observations) -> Tensor (n, D)` of codes.
"""
from __future__ import annotations

from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

Encoder = Callable[[Tensor], Tensor]

#: Observations passed to the encoder in one call. Only memory depends on it, except on datasets that draw
#: observation noise from the generator: their noise is drawn chunk by chunk, so scores change with it.
ENCODE_BATCH_SIZE = 1024


class GroundTruthData(Protocol):
    """What the metrics read from a dataset (a `FactorDataModule` or any object with these members)."""

    factor_names: Sequence[str]
    factor_sizes: Sequence[int]

    @property
    def num_factors(self) -> int: ...

    def sample_factors(self, n: int, generator: torch.Generator) -> Tensor: ...

    def observations_from_factors(self, factors: Tensor, generator: torch.Generator) -> Tensor: ...


def varying_factor_indices(factor_sizes: Sequence[int]) -> list[int]:
    """Indices of the factors that take more than one value (possibly none).

    A factor of size 1 carries no information and fixing it is no intervention; disentanglement_lib's
    datasets leave such factors out (dSprites' colour), so the metrics, the feature network's heads and
    the choice of scores leave them out too.
    """
    return [k for k, size in enumerate(factor_sizes) if int(size) > 1]


def varying_factors(data: GroundTruthData) -> list[int]:
    """:func:`varying_factor_indices` of ``data``; a one-line error when no factor varies."""
    varying = varying_factor_indices(data.factor_sizes)
    if not varying:
        raise ValueError(f"All factors have size 1 (factor_sizes={tuple(data.factor_sizes)}); nothing to score.")
    return varying


def encode_observations(encode: Encoder, observations: Tensor, encode_batch_size: int = ENCODE_BATCH_SIZE) -> Tensor:
    """Codes of `observations` as a float64 CPU tensor `(n, D)`, computed without gradients in chunks."""
    chunks = []
    with torch.no_grad():
        for start in range(0, observations.shape[0], encode_batch_size):
            batch = observations[start : start + encode_batch_size]
            codes = torch.as_tensor(encode(batch)).detach().to("cpu", torch.float64)
            if codes.ndim == 1:
                codes = codes[:, None]
            if codes.ndim != 2 or codes.shape[0] != batch.shape[0]:
                raise ValueError(
                    f"encode must map {batch.shape[0]} observations to codes of shape ({batch.shape[0]}, D), "
                    f"got shape {tuple(codes.shape)}."
                )
            chunks.append(codes)
    codes = torch.cat(chunks)
    if not torch.isfinite(codes).all():
        raise ValueError("encode returned NaN or infinite codes; the metrics need finite codes.")
    return codes


def sample_codes(
    data: GroundTruthData,
    encode: Encoder,
    num_points: int,
    generator: torch.Generator,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> tuple[Tensor, Tensor]:
    """`num_points` i.i.d. draws from the data: codes `(n, D)` float64 and their factors `(n, F)` long."""
    factors, observation_chunks = sample_observations(data, num_points, generator, encode_batch_size)
    codes = [encode_observations(encode, observations, encode_batch_size) for observations in observation_chunks]
    return torch.cat(codes), factors


def sample_observations(
    data: GroundTruthData, num_points: int, generator: torch.Generator, chunk_size: int = ENCODE_BATCH_SIZE
) -> tuple[Tensor, Iterator[Tensor]]:
    """`num_points` i.i.d. factors `(n, F)` long, and their observations as they are drawn, `chunk_size` at
    a time (so that only one chunk needs to be in memory). Every caller draws the same observations from
    the same generator state."""
    if num_points < 1:
        raise ValueError(f"num_points must be positive, got {num_points}.")
    factors = data.sample_factors(num_points, generator).long()
    return factors, (data.observations_from_factors(chunk, generator) for chunk in factors.split(chunk_size))


def check_codes_and_factors(codes: Tensor, factors: Tensor, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate a `(codes, factors)` pair and return them as float64 / int64 numpy arrays.

    `codes` is `(n, D)` real and finite, `factors` is `(n, F)` of integers; `name` prefixes messages.
    """
    prefix = f"{name}: " if name else ""
    codes, factors = torch.as_tensor(codes), torch.as_tensor(factors)
    if codes.ndim != 2:
        raise ValueError(f"{prefix}codes must have shape (n, num_codes), got {tuple(codes.shape)}.")
    if factors.ndim != 2:
        raise ValueError(f"{prefix}factors must have shape (n, num_factors), got {tuple(factors.shape)}.")
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"{prefix}codes and factors must have the same number of rows, got {codes.shape[0]} codes "
            f"and {factors.shape[0]} factor rows."
        )
    if codes.shape[0] < 2:
        raise ValueError(f"{prefix}need at least 2 samples, got {codes.shape[0]}.")
    if factors.is_floating_point() or factors.is_complex() or factors.dtype == torch.bool:
        raise ValueError(f"{prefix}factors must be an integer tensor (factor values), got dtype {factors.dtype}.")
    codes = codes.detach().to("cpu", torch.float64)
    if not torch.isfinite(codes).all():
        raise ValueError(f"{prefix}codes contain NaN or infinite values.")
    return codes.numpy(), factors.detach().to("cpu", torch.int64).numpy()


def check_varying(factors: np.ndarray, name: str = "") -> None:
    """Raise if a factor column takes a single value: its entropy is 0 and no classifier can be fit."""
    prefix = f"{name}: " if name else ""
    for k in range(factors.shape[1]):
        if np.all(factors[:, k] == factors[0, k]):
            raise ValueError(
                f"{prefix}factor {k} takes a single value in the sample; its scores are undefined "
                "(drop constant factors, or sample more points)."
            )
