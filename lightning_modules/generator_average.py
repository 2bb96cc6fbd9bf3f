r"""An exponential moving average of the generator's weights, which draws the evaluation samples.

GAN training oscillates around an equilibrium rather than settling at it; the average of the iterates is
nearer the equilibrium than any one of them (Yazici et al. 2019, "The unusual effectiveness of averaging
in GAN training"). After iteration t the averaged weights are

.. math:: \bar\theta_t = \beta_t\,\bar\theta_{t-1} + (1 - \beta_t)\,\theta_t, \qquad
          \beta_t = \min\Big(\beta, \frac{1 + t}{10 + t}\Big),

with a warm-up factor, as TensorFlow's ``ExponentialMovingAverage(num_updates=t)``, that keeps the first
iterations' random weights from lingering in the average. Batch-norm statistics are buffers, not
weights: they are copied from the trained generator. Written here rather than taken from
``torch.optim.swa_utils.AveragedModel`` because that one keeps its own update counter as a buffer, where
this project's iteration counter (and so resume) is the global step's.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorAverage(nn.Module):
    """The averaged copy of ``generator`` (no gradients) and its update rule."""

    def __init__(self, generator: nn.Module, beta: float) -> None:
        super().__init__()
        if not 0 < beta < 1:
            raise ValueError(f"model.generator.average must be in (0, 1) when on, got {beta}")
        self.beta = beta
        self.network = copy.deepcopy(generator).requires_grad_(False)

    def decay(self, iteration: int) -> float:
        """beta_t of the module docstring for the update after ``iteration`` (0-based) iterations."""
        return min(self.beta, (1 + iteration) / (10 + iteration))

    @torch.no_grad()
    def update(self, generator: nn.Module, iteration: int) -> None:
        beta = self.decay(iteration)
        averaged = list(self.network.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in generator.parameters()], 1 - beta)
        for mine, theirs in zip(self.network.buffers(), generator.buffers()):
            mine.copy_(theirs)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.network(z)
