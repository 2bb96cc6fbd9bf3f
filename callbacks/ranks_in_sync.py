"""Under DDP every rank must end training with the same weights: :class:`RanksInSync` checks that they do
and records the answer, ``ddp/ranks_in_sync`` (1 or 0), where the run's final scores go (summary.json)."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from callbacks.run_values import log_eval


class RanksInSync(pl.Callback):
    """At the end of a multi-process run, compares every rank's parameters with rank 0's, bit for bit."""

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size <= 1:
            return
        weights = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        gathered = pl_module.all_gather(weights)  # a collective: every rank takes part
        in_sync = all(torch.equal(gathered[0], other) for other in gathered[1:])
        log_eval(trainer, pl_module, {"ddp/ranks_in_sync": float(in_sync)})
