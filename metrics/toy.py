"""A toy ground-truth dataset whose observation is its factor vector, and three reference encoders.

Used by the doctests, the tests and `python -m metrics.report` to show what each metric gives for a
perfectly disentangled, a random and a mixed (rotated) code.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from metrics.ground_truth import Encoder


class ToyFactorData:
    """Independent uniform discrete factors; the observation is the factor vector (plus optional noise).

    Implements the ground-truth-data interface of `datamodules.base.FactorDataModule`.
    """

    def __init__(self, factor_sizes: Sequence[int] = (3, 4, 5, 6), noise: float = 0.0) -> None:
        self.factor_sizes = tuple(int(size) for size in factor_sizes)
        self.factor_names = tuple(f"factor{k}" for k in range(len(self.factor_sizes)))
        self.noise = noise

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.stack([torch.randint(size, (n,), generator=generator) for size in self.factor_sizes], dim=1)

    def observations_from_factors(self, factors: Tensor, generator: torch.Generator) -> Tensor:
        observations = factors.to(torch.float64)
        if self.noise > 0:
            noise = torch.randn(observations.shape, generator=generator, dtype=torch.float64)
            observations = observations + self.noise * noise
        return observations


def standardize(observations: Tensor, factor_sizes: Sequence[int]) -> Tensor:
    """Factor values mapped to zero mean and unit variance under the uniform factor distribution."""
    sizes = torch.tensor(factor_sizes, dtype=torch.float64)
    return (observations - (sizes - 1) / 2) / torch.sqrt((sizes**2 - 1) / 12)


def perfect_encoder(data: ToyFactorData, seed: int = 0) -> Encoder:
    """A perfectly disentangled code: the factors, permuted and scaled by factors in [0.5, 2]."""
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.randperm(data.num_factors, generator=generator)
    scales = 0.5 + 1.5 * torch.rand(data.num_factors, generator=generator, dtype=torch.float64)
    # index_select, not observations[:, permutation]: advanced indexing is ~1000x slower here on CPU.
    return lambda observations: observations.index_select(1, permutation) * scales


def random_encoder(num_codes: int, seed: int = 0) -> Encoder:
    """A code independent of the data: fresh standard normal noise at every call (seeded once)."""
    generator = torch.Generator().manual_seed(seed)
    return lambda observations: torch.randn(observations.shape[0], num_codes, generator=generator, dtype=torch.float64)


def rotated_encoder(data: ToyFactorData, angle: float = math.pi / 6) -> Encoder:
    """A mixed code: standardized factors rotated by `angle` in the planes (0, 1), (2, 3), ...

    Every code dimension depends on two factors. With `angle < pi/4` each factor still has a
    dimension it dominates, which the intervention metrics (FactorVAE, BetaVAE) reward as fully as a
    disentangled code, while MIG and DCI see the mixing.
    """
    # z = R x with R block-diagonal, written elementwise (a matmul of tiny matrices is slow on a busy CPU).
    partner = torch.arange(data.num_factors)
    cos = torch.ones(data.num_factors, dtype=torch.float64)
    sin = torch.zeros(data.num_factors, dtype=torch.float64)
    for first in range(0, data.num_factors - 1, 2):
        partner[first], partner[first + 1] = first + 1, first
        cos[first : first + 2] = math.cos(angle)
        sin[first], sin[first + 1] = -math.sin(angle), math.sin(angle)

    def encode(observations: Tensor) -> Tensor:
        standard = standardize(observations, data.factor_sizes)
        return cos * standard + sin * standard.index_select(1, partner)

    return encode
