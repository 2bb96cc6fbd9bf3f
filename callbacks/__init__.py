"""Callbacks: checkpoints, evaluation metrics and latent traversals, assembled from `callbacks.*` config."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from callbacks.checkpoint import AtomicLastCheckpoint
from callbacks.data_kind import is_image_data
from callbacks.disentanglement import DisentanglementMetrics
from callbacks.interrupt import GracefulInterrupt, TrainingInterrupted
from callbacks.mixture_metrics import MixtureMetrics
from callbacks.traversal import LatentTraversal


def build_callbacks(cfg: DictConfig, run_dir: Path, datamodule) -> list:
    checkpoint = AtomicLastCheckpoint(run_dir / "checkpoints", cfg.callbacks.checkpoint.every_n_steps)
    callbacks: list = [checkpoint, GracefulInterrupt(checkpoint)]
    metrics = cfg.callbacks.metrics
    if metrics.enabled and hasattr(datamodule, "modes") and cfg.model.latent.categorical:
        callbacks.append(MixtureMetrics(datamodule.modes, datamodule.std, metrics.every_n_steps, metrics.num_generated))
    elif metrics.enabled and is_image_data(datamodule):
        callbacks.append(DisentanglementMetrics(
            datamodule, metrics.every_n_steps, num_train=metrics.num_train, num_test=metrics.num_test, seed=cfg.seed,
            dci_n_estimators=metrics.dci_n_estimators,
        ))
    traversal = cfg.callbacks.traversal
    if traversal.enabled:
        callbacks.append(LatentTraversal(
            run_dir / "traversals", datamodule, traversal.every_n_steps, num_seeds=traversal.num_seeds,
            num_steps=traversal.num_steps, value_range=traversal.continuous_range, num_points=traversal.num_points,
            seed=cfg.seed,
        ))
    return callbacks
