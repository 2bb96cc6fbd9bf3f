"""``eval/fid``, ``eval/precision``, ``eval/recall`` of image models, every N iterations and at the end of
training (on rank 0, never under ``fast_dev_run``).

Generated images (latents drawn from ``seed``) are compared with real ones (``datamodule.sample`` with
``seed``) in the feature space of a small network trained on the data's own factors and cached on disk
(metrics/feature_cache.py): FID (lower is better) and improved precision and recall with k = 3
(Kynkäänniemi et al. 2019; higher is better). The FIDs are in that network's space, so they compare
runs on one data configuration with each other, not with published Inception FIDs. On data of one object
per image (dSprites), ``eval/multiple_objects`` is the share of generated images that show several
(metrics/object_count.py), and ``eval/multiple_objects/large`` the share that show several of at least
half the pixels of the smallest real object (specks left out). ``eval/share_gap/<factor>`` says how far
the shares of each factor's values among the generated images are from those among the real ones, both
read by the same network's heads (metrics/factor_shares.py).
"""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from callbacks.eval_logging import PeriodicEvaluation
from lightning_modules.latent import LatentBatch
from metrics.factor_shares import share_gaps
from metrics.feature_cache import feature_network
from metrics.feature_training import head_names
from metrics.fidelity import fidelity
from metrics.object_count import object_shares


def data_config(cfg: DictConfig) -> dict:
    """What selects the images, for the feature network's cache key: ``data.name``, ``data.path``
    (absolute) and the dataset's own section (``data.dsprites``), if it has one. Loader settings
    (batch size, workers) and the other datasets' sections are left out: they do not change the images."""
    data = cfg.data
    section = data.get(data.name)
    return {
        "name": data.name,
        "path": str(Path(data.path).expanduser().resolve()) if data.path else None,
        data.name: OmegaConf.to_container(section, resolve=True) if section is not None else None,
    }


def prior_draws(model, n: int, seed: int) -> LatentBatch:
    """The ``n`` latents the evaluation images are generated from, drawn from the prior with ``seed``."""
    return model.latent_spec.sample(n, torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate_images(model, latent: LatentBatch, batch_size: int = 500) -> torch.Tensor:
    """The images of ``model`` in eval mode from ``latent``, on the model's device."""
    was_training = model.training
    model.eval()
    images = [model.generate(LatentBatch(latent.categorical[i:i + batch_size], latent.continuous[i:i + batch_size],
                                         latent.noise[i:i + batch_size]).to(model.device))
              for i in range(0, len(latent), batch_size)]
    model.train(was_training)
    return torch.cat(images)


def fidelity_scores(model, datamodule, network, num_samples: int = 2000, seed: int = 0) -> dict[str, float]:
    """``eval/fid``, ``eval/precision``, ``eval/recall`` of ``num_samples`` generated against as many real
    images, both drawn from ``seed``; ``network`` is moved to the model's device. ``eval/share_gap/<factor>``
    for every factor the network classifies, and for data of one object per image ``eval/multiple_objects``,
    the share of generated images that show several, and ``eval/multiple_objects/large`` of objects of at
    least half the smallest real object's pixels."""
    network.to(model.device)
    real = datamodule.sample(num_samples, seed=seed)[0].to(model.device)
    generated = generate_images(model, prior_draws(model, num_samples, seed))
    scores = fidelity(real, generated, network)
    gaps = share_gaps(real, generated, network, head_names(datamodule))
    scores.update({f"share_gap/{name}": gap for name, gap in gaps.items()})
    if datamodule.one_object_per_image:
        scores.update(object_shares(generated, real))
    return {f"eval/{name}": value for name, value in scores.items()}


class FeatureNetworkEvaluation(PeriodicEvaluation):
    """What the scores read through a network trained on the data's factors share: the settings, and the
    network, loaded from the cache (or trained) once per callback, at the start of training on rank 0.

    Args:
        datamodule: image data with ``sample``, ``observation_shape``, ``factor_names``, ``factor_sizes``.
        every_n_iterations: evaluation period (0: only at the end).
        data_config: the data's configuration, part of the network's cache key (:func:`data_config`).
        cache_dir: the feature networks' folder (``callbacks.metrics.feature_cache``).
        num_samples: generated (and real) images each (``callbacks.metrics.fidelity_samples``).
        seed: latents and real images.
    """

    def __init__(self, datamodule, every_n_iterations: int, data_config: dict, cache_dir: str | Path,
                 num_samples: int = 2000, seed: int = 0) -> None:
        super().__init__(every_n_iterations)
        self.datamodule = datamodule
        self.data_config = data_config
        self.cache_dir = cache_dir
        self.settings = dict(num_samples=num_samples, seed=seed)
        self._network = None

    def load_network(self):
        """The network this score reads (:func:`metrics.feature_cache.feature_network` with its settings)."""
        raise NotImplementedError

    def network(self):
        if self._network is None:
            self._network = self.load_network()
        return self._network

    def on_fit_start(self, trainer, pl_module) -> None:
        # Train (or load) the network before the first iteration, so its minute is not in an evaluation.
        if not trainer.fast_dev_run and trainer.is_global_zero:
            self.network()


class FidelityMetrics(FeatureNetworkEvaluation):
    """Logs :func:`fidelity_scores` every ``every_n_iterations`` and at the end of training
    (:class:`~callbacks.eval_logging.PeriodicEvaluation`) in the fidelity feature network's space."""

    def load_network(self):
        return feature_network(self.datamodule, self.data_config, self.cache_dir)

    def evaluate(self, pl_module) -> dict[str, float]:
        return fidelity_scores(pl_module, self.datamodule, self.network(), **self.settings)
