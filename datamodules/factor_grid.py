"""Discrete factors laid out as a grid, and a dataset that visits every point of it.

dSprites enumerates all combinations of its factors; item `i` of the dataset is the factor tuple
whose mixed-radix digits (last factor fastest, as in the official file) spell `i`. A grid may be
restricted to a subset of each factor's values: subset value `k` stands for the `k`-th listed
value of the full grid, so factor tuples stay `0 .. size-1` whichever subset was chosen.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset


def ravel_factors(factors: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Mixed-radix index of each row of `factors` (`(n, len(sizes))`), last factor fastest."""
    index = torch.zeros(factors.shape[0], dtype=torch.long)
    for column, size in enumerate(sizes):
        index = index * size + factors[:, column]
    return index


def grid_rows(factors: torch.Tensor) -> tuple[tuple[int, ...], torch.Tensor]:
    """The full grid that a file's factor class tuples enumerate, one tuple per stored image.

    Args:
        factors: `(N, k)` class indices, row `r` being the factors of the file's image `r`, in any order.

    Returns:
        `(sizes, row_of_index)`: `sizes[j] = max(factors[:, j]) + 1` and `row_of_index[ravel_factors(t, sizes)]`
        the row of tuple `t`, so a file is looked up by factors whatever its row order.

    Raises:
        ValueError: (a message to prefix with the file's name) when the tuples are empty, negative, or do not
            list every combination of the grid exactly once.
    """
    if factors.ndim != 2 or len(factors) == 0 or factors.min() < 0:
        raise ValueError("must be non-empty class indices >= 0")
    sizes = tuple(int(size) for size in factors.amax(0) + 1)
    row_of_index = torch.full((math.prod(sizes),), -1, dtype=torch.long)
    row_of_index[ravel_factors(factors, sizes)] = torch.arange(len(factors))
    if len(factors) != len(row_of_index) or (row_of_index < 0).any():
        raise ValueError(f"does not list each of the {math.prod(sizes)} factor combinations {sizes} exactly once")
    return sizes, row_of_index


def unravel_index(index: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Inverse of `ravel_factors`: the factor tuples `(n, len(sizes))` of mixed-radix indices."""
    index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
    digits = []
    for size in reversed(sizes):
        digits.append(index % size)
        index = index // size
    return torch.stack(digits[::-1], dim=1)


class FactorGrid:
    """The factor tuples of a full grid (`full_sizes`) restricted to chosen values per factor.

    Args:
        names: factor names, in column order.
        full_sizes: number of values of each factor in the full grid.
        subsets: per factor, the full-grid values to keep (`None` keeps all). Listing order is the
            order of the subset's values, so `[0, 20]` makes subset value 1 mean full value 20.
    """

    def __init__(
        self,
        names: Sequence[str],
        full_sizes: Sequence[int],
        subsets: Sequence[Sequence[int] | None],
    ) -> None:
        self.names = tuple(names)
        self.full_sizes = tuple(int(size) for size in full_sizes)
        self.values = tuple(
            _checked_subset(name, size, subset)
            for name, size, subset in zip(self.names, self.full_sizes, subsets, strict=True)
        )
        self.sizes = tuple(len(values) for values in self.values)

    def __len__(self) -> int:
        return math.prod(self.sizes)

    def factors_at(self, index: torch.Tensor) -> torch.Tensor:
        """Factor tuples (subset values) of dataset indices `index`."""
        return unravel_index(index, self.sizes)

    def full_values(self, factors: torch.Tensor) -> torch.Tensor:
        """The full-grid values that the subset factor tuples `factors` (`(n, k)`) stand for."""
        return torch.stack([values[factors[:, k]] for k, values in enumerate(self.values)], dim=1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` factor tuples, each factor uniform and independent (the grid's data distribution)."""
        return torch.stack([torch.randint(size, (n,), generator=generator) for size in self.sizes], dim=1)


def _checked_subset(name: str, size: int, subset: Sequence[int] | None) -> torch.Tensor:
    if subset is None:
        return torch.arange(size)
    values = [int(value) for value in subset]
    if not values or len(set(values)) != len(values) or not all(0 <= v < size for v in values):
        raise ValueError(
            f"{name}={list(subset)} must list distinct indices in 0..{size - 1} (or be None for all)"
        )
    return torch.tensor(values, dtype=torch.long)


class FactorGridDataset(Dataset):
    """Every factor tuple of `grid` with its observation, produced on demand by `observe`.

    Items are `(observation, factors)` with `factors` in the grid's (subset) values; `observe` maps
    full-grid values `(n, k)` to observations `(n, ...)`. It is called once per batch
    (`__getitems__`, which PyTorch's DataLoader prefers), so a vectorized renderer pays its
    overhead once per batch rather than once per image.
    """

    def __init__(self, grid: FactorGrid, observe: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.grid = grid
        self.observe = observe

    def __len__(self) -> int:
        return len(self.grid)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        index = torch.as_tensor(indices, dtype=torch.long)
        if ((index < 0) | (index >= len(self))).any():
            raise IndexError(f"index out of range for a grid of {len(self)} factor tuples")
        factors = self.grid.factors_at(index)
        observations = self.observe(self.grid.full_values(factors))
        return list(zip(observations, factors))
