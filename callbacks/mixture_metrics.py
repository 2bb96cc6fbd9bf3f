"""`eval/modes_captured`, `eval/high_quality_frac`, `eval/code_purity` for 2D Gaussian mixtures
(definitions in metrics/mixture.py), from a fixed set of latent draws so values are comparable over time."""
from __future__ import annotations

import torch

from callbacks.eval_logging import PeriodicEvaluation
from metrics.mixture import mixture_quality


class MixtureMetrics(PeriodicEvaluation):
    def __init__(self, modes: torch.Tensor, std: float, every_n_iterations: int, num_generated: int = 10000,
                 seed: int = 12345) -> None:
        super().__init__(every_n_iterations)
        self.modes = modes
        self.std = std
        self.num_generated = num_generated
        self.seed = seed

    @torch.no_grad()
    def evaluate(self, pl_module) -> dict[str, float]:
        latent = pl_module.latent_spec.sample(self.num_generated, torch.Generator().manual_seed(self.seed))
        was_training = pl_module.training
        pl_module.eval()
        samples = pl_module.generate(latent.to(pl_module.device)).cpu()
        pl_module.train(was_training)
        scores = mixture_quality(samples, latent.categorical[:, 0], self.modes, self.std,
                                 pl_module.latent_spec.categorical_sizes[0])
        return {f"eval/{name}": value for name, value in scores.items()}
