"""Training through the odd non-finite gradient: drop that update, count it, stop when they persist.

A NaN or infinite gradient in one update (a loss that overflowed once) should not end a run hours in,
nor silently write NaNs into the weights. :class:`NonFiniteGuard` drops such an update (the optimizer
still steps, so iterations and learning-rate schedules stay aligned), counts the iterations that had one,
and raises :class:`DivergenceError` once too many come in a row. Its counter is part of the checkpoint.
"""
from __future__ import annotations

from typing import Any

import torch


class DivergenceError(RuntimeError):
    """Training produced non-finite losses or gradients for too many consecutive iterations."""


class NonFiniteGuard:
    """Skips the updates of iterations with a non-finite gradient; ``max_consecutive`` in a row raise."""

    def __init__(self, max_consecutive: int) -> None:
        self.max_consecutive = max_consecutive
        self.skipped = 0  # iterations whose updates were dropped (train/skipped_steps)
        self.consecutive = 0  # ... in a row, up to the last completed iteration
        self._this_iteration = False

    def start_iteration(self) -> None:
        self._this_iteration = False

    def step(self, *optimizers: torch.optim.Optimizer) -> None:
        """Step the optimizers of one backward pass, unless a gradient is NaN or infinite.

        Then the gradients are dropped instead, so the step changes no parameter (Adam skips parameters
        without gradients) but still counts. Under DDP gradients are already all-reduced, so every rank
        takes the same decision.
        """
        grads = [p.grad for opt in optimizers for group in opt.param_groups for p in group["params"]
                 if p.grad is not None]
        if grads and not torch.isfinite(torch.stack([torch.linalg.vector_norm(g) for g in grads]).sum()):
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            self._this_iteration = True
        for opt in optimizers:
            opt.step()

    def end_iteration(self, iteration: int, hint: str = "") -> None:
        """Count the iteration; raise :class:`DivergenceError` (its message ending with ``hint``) after
        ``max_consecutive`` skipped iterations in a row."""
        if self._this_iteration:
            self.skipped += 1
            self.consecutive += 1
        else:
            self.consecutive = 0
        if self.consecutive >= self.max_consecutive:
            raise DivergenceError(
                f"training diverged: non-finite loss or gradient in {self.consecutive} consecutive iterations "
                f"(up to iteration {iteration}); likely a learning rate too high (model.*.optimizer.lr){hint}"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"skipped_steps": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = state.get("skipped_steps", 0)
