"""How long training itself takes. :class:`TrainingClock` sums the wall-clock seconds of the training
iterations and records ``time/training_seconds`` and ``time/training_iterations_per_second`` with the run's
final scores (summary.json, the loggers).

A run's total time (``time/seconds``) also counts start-up, periodic evaluation, traversal grids and
checkpoints, which do not depend on how fast a model trains; the benchmarks' equal wall-clock budgets are
therefore set from these training speeds (benchmarks/quality.py).

Every evaluation logs ``time/training_seconds`` beside its scores (callbacks/eval_logging.py), so a score
can be read against training time: the learning curves of benchmarks/curves.py. The clock is part of the
checkpoint, so a resumed run's seconds continue from the interrupted run's.
"""
from __future__ import annotations

import time

import pytorch_lightning as pl

from callbacks.run_values import log_eval

TRAINING_SECONDS = "time/training_seconds"
TRAINING_SPEED = "time/training_iterations_per_second"


class TrainingClock(pl.Callback):
    """Times each training iteration from the start of its batch to its end.

    It must come first among the callbacks: Lightning calls their hooks in order, so its end-of-batch hook
    then runs before the others' (evaluation, traversals, checkpoints), which are left out.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.iterations = 0
        self._started: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.iterations += 1
            self._started = None

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "iterations": self.iterations}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.seconds, self.iterations = float(state_dict["seconds"]), int(state_dict["iterations"])

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.iterations and self.seconds > 0:
            log_eval(trainer, pl_module, {TRAINING_SECONDS: self.seconds, TRAINING_SPEED: self.iterations / self.seconds})


def training_seconds(trainer: pl.Trainer) -> float | None:
    """The training seconds so far of the run's :class:`TrainingClock` (None in a run without one)."""
    clock = next((c for c in getattr(trainer, "callbacks", ()) if isinstance(c, TrainingClock)), None)
    return clock.seconds if clock is not None else None
