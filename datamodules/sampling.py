"""The order in which training sees the data: an endless shuffled stream that any iteration can resume.

Position ``p`` of the stream is item ``permutation_e[p mod n]`` with ``e = p // n`` and ``permutation_e``
drawn from ``(seed, e)``. Iteration ``t`` of a run on ``world_size`` ranks reads the global batch at
positions ``[t W B, (t + 1) W B)``; rank ``r`` takes the ``r``-th block of ``B``. So the batches of a run
are a function of (seed, iteration, rank) alone: a resumed run continues with exactly the batches an
uninterrupted run would have seen, and ranks never share items within an iteration.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class ResumableShuffle(Sampler[int]):
    """Endless per-rank stream of dataset indices starting at iteration ``start_iteration``.

    It has no length: Lightning treats the loader as infinite and ``max_steps`` ends training, so
    there are no epoch boundaries to restore.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start_iteration: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if num_items < 1:
            raise ValueError("the training set is empty")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.start_iteration = start_iteration
        self.rank = rank
        self.world_size = world_size
        self._epoch, self._permutation = -1, np.empty(0, dtype=np.int64)

    def _permutation_of(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]))
            self._epoch, self._permutation = epoch, torch.randperm(self.num_items, generator=generator).numpy()
        return self._permutation

    def indices(self, iteration: int) -> list[int]:
        """This rank's dataset indices for one training iteration."""
        start = (iteration * self.world_size + self.rank) * self.batch_size
        positions = range(start, start + self.batch_size)
        return [int(self._permutation_of(p // self.num_items)[p % self.num_items]) for p in positions]

    def __iter__(self) -> Iterator[int]:
        iteration = self.start_iteration
        while True:
            yield from self.indices(iteration)
            iteration += 1
