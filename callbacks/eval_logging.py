"""Where evaluation callbacks put their numbers: every logger at the current iteration, and the trainer's
`callback_metrics`, whose final values train.py writes to summary.json."""
from __future__ import annotations

import pytorch_lightning as pl
import torch


def log_eval(trainer: pl.Trainer, pl_module: pl.LightningModule, values: dict[str, float]) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(values, step=pl_module.iteration)
    trainer.callback_metrics.update({key: torch.tensor(float(value)) for key, value in values.items()})


def should_run(trainer: pl.Trainer, pl_module: pl.LightningModule, every_n_iterations: int) -> bool:
    """Periodic evaluation: on rank 0 only, never under fast_dev_run, every N iterations."""
    if trainer.fast_dev_run or not trainer.is_global_zero or every_n_iterations <= 0:
        return False
    return pl_module.iteration > 0 and pl_module.iteration % every_n_iterations == 0
