"""SIGINT (Ctrl-C) and SIGTERM (pre-emption, `scancel`, `kill`) during training: finish the current
iteration, write `checkpoints/last.ckpt`, and stop with :class:`TrainingInterrupted`.

Stopping between iterations, never inside one, is what makes the checkpoint resumable exactly. Under
DDP every rank checks whether any rank was signalled at the end of each iteration, so all stop at the
same one.
"""
from __future__ import annotations

import signal

import pytorch_lightning as pl

from callbacks.checkpoint import AtomicLastCheckpoint


class TrainingInterrupted(Exception):
    def __init__(self, signal_name: str, iteration: int, checkpoint: str) -> None:
        super().__init__(f"stopped by {signal_name} after iteration {iteration}; checkpoint saved to {checkpoint}")
        self.signal_name, self.iteration, self.checkpoint = signal_name, iteration, checkpoint


class GracefulInterrupt(pl.Callback):
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpoint: AtomicLastCheckpoint) -> None:
        self.checkpoint = checkpoint
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def on_train_start(self, trainer, pl_module) -> None:
        self.received = None
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread (e.g. a notebook executor): leave signals alone
            self._previous = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        self.checkpoint.save(trainer)
        name = signal.Signals(self.received).name if self.received is not None else "a signal on another rank"
        raise TrainingInterrupted(name, pl_module.iteration, str(self.checkpoint.last_path))

    def teardown(self, trainer, pl_module, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
