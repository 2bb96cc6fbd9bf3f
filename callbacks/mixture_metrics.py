"""`eval/modes_captured`, `eval/high_quality_frac`, `eval/code_purity` for 2D Gaussian mixtures
(definitions in metrics/mixture.py), from a fixed set of latent draws so values are comparable over time."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from callbacks.eval_logging import log_eval, should_run
from metrics.mixture import mixture_quality


class MixtureMetrics(pl.Callback):
    def __init__(self, modes: torch.Tensor, std: float, every_n_iterations: int, num_generated: int = 10000,
                 seed: int = 12345) -> None:
        self.modes = modes
        self.std = std
        self.every_n_iterations = every_n_iterations
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

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if should_run(trainer, pl_module, self.every_n_iterations):
            log_eval(trainer, pl_module, self.evaluate(pl_module))

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.fast_dev_run and trainer.is_global_zero:
            log_eval(trainer, pl_module, self.evaluate(pl_module))
