"""Datamodules with one observation per point of a factor grid (dSprites, 3DShapes): the samplers and the
training set follow from the grid and the map from factor tuples to observations."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from datamodules.base import FactorDataModule
from datamodules.factor_grid import FactorGrid, FactorGridDataset


class GridDataModule(FactorDataModule):
    """Subclasses set, in their constructor, ``grid`` (a :class:`FactorGrid`, possibly a subset of the full
    grid) and ``observe`` (full-grid factor tuples ``(n, k)`` -> observations ``(n, *observation_shape)``,
    a renderer or a file reader); factors are independent and uniform over the grid."""

    grid: FactorGrid
    observe: Callable[[torch.Tensor], torch.Tensor]

    @property
    def factor_sizes(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.grid.sizes

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.grid.sample(n, generator)

    def observations_from_factors(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # One observation per factor tuple: `generator` is not needed.
        return self.observe(self.grid.full_values(factors))

    def train_dataset(self) -> Dataset:
        return FactorGridDataset(self.grid, self.observe)
