"""`trainer.pause_at`: stop a run after a given iteration with a checkpoint to resume from.

Stopping a run early with a shorter ``trainer.max_steps`` would change it: the learning rates decay over
the run's length (``model.lr_decay_start``), so its first 500 iterations of 500 are not the first 500 of
2000. A pause keeps the schedule of ``trainer.max_steps`` and stops as a signal does, at the end of an
iteration after its evaluation and traversal, so that ``python train.py resume=RUN_DIR`` continues the
run that was started, exactly. Its use: train a few seeds that far, rank them with ``select_model.py``,
and resume the one kept.
"""
from __future__ import annotations

import pytorch_lightning as pl

from callbacks.checkpoint import AtomicLastCheckpoint


class TrainingPaused(Exception):
    def __init__(self, iteration: int, checkpoint: str) -> None:
        super().__init__(f"paused after iteration {iteration} (trainer.pause_at); checkpoint saved to {checkpoint}")
        self.iteration, self.checkpoint = iteration, checkpoint


class PauseAt(pl.Callback):
    """Raises :class:`TrainingPaused` at the end of iteration ``iteration``, once the checkpoint holds it.

    Placed after every other callback, like the signal check, so that the iteration's evaluation and
    traversal run first. Every rank reaches the same iteration, so under DDP all ranks save and stop
    together. A resumed run that starts past the iteration never meets it."""

    def __init__(self, checkpoint: AtomicLastCheckpoint, iteration: int) -> None:
        self.checkpoint = checkpoint
        self.iteration = iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iteration != self.iteration:
            return
        self.checkpoint.save_unless_current(trainer)
        raise TrainingPaused(self.iteration, str(self.checkpoint.last_path))
