"""Where callbacks put their numbers: every logger at the current iteration, and the trainer's
``callback_metrics``, whose final values train.py writes to summary.json."""
from __future__ import annotations

import pytorch_lightning as pl
import torch


def log_eval(trainer: pl.Trainer, pl_module: pl.LightningModule, values: dict[str, float]) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(values, step=pl_module.iteration)
    trainer.callback_metrics.update({key: torch.tensor(float(value)) for key, value in values.items()})
