"""Callbacks: checkpoints, evaluation metrics and latent traversals, assembled from `callbacks.*` config."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from callbacks.checkpoint import AtomicLastCheckpoint
from callbacks.eval_logging import PeriodicEvaluation
from callbacks.evaluators import build_evaluators
from callbacks.interrupt import GracefulInterrupt, StartupInterrupted, TrainingInterrupted
from callbacks.pause import PauseAt, TrainingPaused
from callbacks.ranks_in_sync import RanksInSync
from callbacks.training_clock import TrainingClock
from callbacks.traversal import LatentTraversal


def build_callbacks(cfg: DictConfig, run_dir: Path, datamodule) -> list:
    checkpoint = AtomicLastCheckpoint(run_dir / "checkpoints", cfg.callbacks.checkpoint.every_n_iterations)
    # The clock first, so that it stops before the other callbacks' end-of-batch work (callbacks/training_clock.py).
    callbacks: list = [TrainingClock(), checkpoint, RanksInSync()]
    if cfg.callbacks.metrics.enabled:
        callbacks += build_evaluators(cfg, datamodule)
    traversal = cfg.callbacks.traversal
    if traversal.enabled:
        callbacks.append(LatentTraversal(
            run_dir / "traversals", datamodule, traversal.every_n_iterations, num_seeds=traversal.num_seeds,
            num_steps=traversal.num_steps, value_range=traversal.continuous_range, num_points=traversal.num_points,
            seed=cfg.seed,
        ))
    # The signal check and the pause last, after the iteration's evaluation and traversal
    # (callbacks/interrupt.py, callbacks/pause.py).
    solo_periods = tuple(callback.every_n_iterations for callback in callbacks
                         if isinstance(callback, (PeriodicEvaluation, LatentTraversal)))
    callbacks.append(GracefulInterrupt(checkpoint, solo_periods))
    if cfg.trainer.pause_at is not None:
        callbacks.append(PauseAt(checkpoint, cfg.trainer.pause_at))
    return callbacks
