"""`checkpoints/last.ckpt`, written every N iterations and at the end, atomically (write, then rename),
so a run killed during a save still has its previous checkpoint intact."""
from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl


class AtomicLastCheckpoint(pl.Callback):
    def __init__(self, dirpath: str | Path, every_n_iterations: int) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def save(self, trainer: pl.Trainer) -> None:
        if trainer.fast_dev_run:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        partial = self.dirpath / "last.ckpt.partial"
        trainer.save_checkpoint(partial)  # every rank takes part; rank 0 writes
        if trainer.is_global_zero:
            os.replace(partial, self.last_path)
        trainer.strategy.barrier("atomic-checkpoint")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_iterations > 0 and pl_module.iteration % self.every_n_iterations == 0:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)
