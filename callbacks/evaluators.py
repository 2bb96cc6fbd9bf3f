"""Which ``eval/...`` evaluators apply to a run: decided here once, for training (callbacks/__init__.py
adds them as callbacks) and for inspect_checkpoint.py (which calls their ``evaluate(model)``), so the
two always compute the same scores."""
from __future__ import annotations

import logging

from omegaconf import DictConfig

from callbacks.data_kind import is_image_data
from callbacks.disentanglement import DisentanglementMetrics, applicable_scores
from callbacks.fidelity import FidelityMetrics, data_config
from callbacks.generated_accuracy import GeneratedAccuracy
from callbacks.mixture_metrics import MixtureMetrics
from lightning_modules.latent import LatentSpec

log = logging.getLogger(__name__)

# A folder of images has no ground truth; the fidelity scores' feature network learns its features by
# classifying the data's factors, so it has nothing to learn from either.
NO_FACTORS_NOTE = ("no eval/ scores for {name}: the images have no factors or labels, which MIG, FactorVAE, BetaVAE, "
                   "DCI, SAP and unsupervised accuracy compare codes with and FID/precision/recall's feature network "
                   "is trained on; the traversal grids show what the codes do")


def build_evaluators(cfg: DictConfig, datamodule) -> list:
    """The evaluation callbacks for ``datamodule`` with the settings of ``cfg.callbacks.metrics``
    (``enabled`` aside: training checks it, inspection always evaluates):

    * 2D mixtures (data with ``modes``) and a categorical code: :class:`MixtureMetrics`;
    * images: :class:`DisentanglementMetrics`, and :class:`FidelityMetrics` unless
      ``callbacks.metrics.fidelity=false`` (which also turns off :class:`GeneratedAccuracy`, the labelled
      data's other feature-network score);
    * images without factors (``data.name=image_folder``): none, with one logged line saying why.
    """
    metrics = cfg.callbacks.metrics
    if hasattr(datamodule, "modes"):
        if not cfg.model.latent.categorical:
            return []
        return [MixtureMetrics(datamodule.modes, datamodule.std, metrics.every_n_iterations, metrics.num_generated)]
    if not is_image_data(datamodule):
        return []
    if datamodule.num_factors == 0:
        log.warning(NO_FACTORS_NOTE.format(name=cfg.data.name))
        return []
    evaluators: list = [DisentanglementMetrics(
        datamodule, metrics.every_n_iterations, num_train=metrics.num_train, num_test=metrics.num_test, seed=cfg.seed,
        dci_n_estimators=metrics.dci_n_estimators,
    )]
    if metrics.fidelity:
        evaluators.append(FidelityMetrics(datamodule, metrics.every_n_iterations, data_config(cfg),
                                          metrics.feature_cache, num_samples=metrics.fidelity_samples, seed=cfg.seed))
        if applicable_scores(LatentSpec.from_config(cfg.model.latent), datamodule)[1]:
            evaluators.append(GeneratedAccuracy(datamodule, metrics.every_n_iterations, data_config(cfg),
                                                metrics.feature_cache, num_samples=metrics.fidelity_samples,
                                                seed=cfg.seed))
    return evaluators
