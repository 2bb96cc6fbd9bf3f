"""Callbacks: checkpoints, evaluation metrics and latent traversals, assembled from `callbacks.*` config."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from callbacks.checkpoint import AtomicLastCheckpoint
from callbacks.interrupt import GracefulInterrupt, TrainingInterrupted
from callbacks.mixture_metrics import MixtureMetrics


def build_callbacks(cfg: DictConfig, run_dir: Path, datamodule) -> list:
    checkpoint = AtomicLastCheckpoint(run_dir / "checkpoints", cfg.callbacks.checkpoint.every_n_steps)
    callbacks: list = [checkpoint, GracefulInterrupt(checkpoint)]
    metrics = cfg.callbacks.metrics
    if metrics.enabled and hasattr(datamodule, "modes") and cfg.model.latent.categorical:
        callbacks.append(MixtureMetrics(datamodule.modes, datamodule.std, metrics.every_n_steps, metrics.num_generated))
    return callbacks
