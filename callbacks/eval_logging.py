"""When evaluation callbacks evaluate (:class:`PeriodicEvaluation`), how they show their progress
(:class:`ScoreLines`), and what they log with their scores (the training seconds so far)."""
from __future__ import annotations

import sys
import time

import pytorch_lightning as pl
from tqdm import tqdm

from callbacks.interrupt import abandon_on_signal, signals
from callbacks.run_values import log_eval
from callbacks.training_clock import TRAINING_SECONDS, training_seconds


class ScoreLines:
    """Prints scores as they are computed, one line each (several computed together share one), with the
    seconds since the previous line: ``eval: mig 0.051 (12 s)``. Long evaluations so show their progress."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.printed: set[str] = set()

    def __call__(self, name: str, value: float) -> None:
        self.print_new({name: value})

    def print_new(self, values: dict[str, float]) -> None:
        new = {name.removeprefix("eval/"): value for name, value in values.items()
               if name.removeprefix("eval/") not in self.printed}
        if not new:
            return
        now = time.perf_counter()
        seconds = now - self.last
        self.last = now
        self.printed.update(new)
        scores = ", ".join(f"{name} {value:.4g}" for name, value in new.items())
        with signals.shielded():  # a signal abandons the evaluation after the line, not inside tqdm's lock
            tqdm.write(f"eval: {scores} ({seconds:.1f} s)" if seconds < 10 else f"eval: {scores} ({seconds:.0f} s)")
            sys.stdout.flush()


def should_run(trainer: pl.Trainer, pl_module: pl.LightningModule, every_n_iterations: int) -> bool:
    """Periodic evaluation: on rank 0 only, never under fast_dev_run, every N iterations."""
    if trainer.fast_dev_run or not trainer.is_global_zero or every_n_iterations <= 0:
        return False
    return pl_module.iteration > 0 and pl_module.iteration % every_n_iterations == 0


class PeriodicEvaluation(pl.Callback):
    """Logs ``evaluate(pl_module)`` (a dict of ``eval/...`` values), with the training seconds so far
    (``time/training_seconds``: a score's point on a learning curve), through :func:`log_eval` every
    ``every_n_iterations`` and at the end of training, on rank 0, never under fast_dev_run. The end is
    skipped when the last iteration was just evaluated: the scores would be the same."""

    def __init__(self, every_n_iterations: int) -> None:
        self.every_n_iterations = every_n_iterations
        self.evaluated_at: int | None = None
        self._lines: ScoreLines | None = None

    def evaluate(self, pl_module: pl.LightningModule) -> dict[str, float]:
        """The scores; an evaluator that computes them one by one may pass each to ``self.progress``."""
        raise NotImplementedError

    def progress(self, name: str, value: float) -> None:
        if self._lines is not None:
            self._lines(name, value)

    def run(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Evaluate, printing each score as it comes (:class:`ScoreLines`), and log the scores once all
        are there; a signal abandons the evaluation (callbacks/interrupt.py) and nothing is logged."""
        self._lines = ScoreLines()
        try:
            finished, values = abandon_on_signal(pl_module, f"iteration {pl_module.iteration}'s evaluation",
                                                 lambda: self.evaluate(pl_module))
            if finished and values:
                self._lines.print_new(values)
        finally:
            self._lines = None
        if not finished:
            return
        if values:  # empty when no score applies
            seconds = training_seconds(trainer)
            log_eval(trainer, pl_module, {**values, **({TRAINING_SECONDS: seconds} if seconds is not None else {})})
        self.evaluated_at = pl_module.iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if should_run(trainer, pl_module, self.every_n_iterations):
            self.run(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if not trainer.fast_dev_run and trainer.is_global_zero and self.evaluated_at != pl_module.iteration:
            self.run(trainer, pl_module)
