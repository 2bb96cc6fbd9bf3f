"""``eval/...`` disentanglement scores of image models, every N iterations and at the end of training.

The model is seen through its encoder ``encode(x)`` (Q, docs/method.md "Fitting Q"), the data through its
ground-truth factors:

* two or more varying factors and two or more code dimensions (dSprites): MIG, FactorVAE, BetaVAE,
  DCI and SAP (``metrics.evaluate_disentanglement``) as ``eval/mig``, ``eval/factor_vae``, ...;
* a single factor, a label (digits, MNIST), and a categorical code: ``eval/unsupervised_accuracy``,
  the accuracy of the first categorical code after the best matching of its values to the labels.

Scores are computed from ``seed`` on fresh samples of the datamodule, so the values of one run are
comparable over iterations and ``inspect_checkpoint.py`` reproduces them.
"""
from __future__ import annotations

import logging


from callbacks.eval_logging import PeriodicEvaluation
from metrics import evaluate_disentanglement, unsupervised_accuracy
from metrics.ground_truth import varying_factor_indices

log = logging.getLogger(__name__)


def applicable_scores(latent_spec, datamodule) -> tuple[bool, bool, str | None]:
    """Whether the disentanglement scores and the unsupervised accuracy apply, and a one-line note on
    what is skipped and why (``None`` when nothing is)."""
    varying = varying_factor_indices(datamodule.factor_sizes)
    disentanglement = len(varying) >= 2 and latent_spec.num_codes >= 2
    accuracy = len(varying) == 1 and bool(latent_spec.categorical_sizes)
    notes = []
    if not disentanglement:
        notes.append(f"MIG, FactorVAE, BetaVAE, DCI and SAP skipped: they need >= 2 varying factors and >= 2 code "
                     f"dimensions, the data has {len(varying)} ({', '.join(datamodule.factor_names)}) and the model "
                     f"{latent_spec.num_codes}")
    if len(varying) == 1 and not accuracy:
        notes.append("eval/unsupervised_accuracy skipped: the latent has no categorical code")
    if disentanglement or accuracy:
        return disentanglement, accuracy, "; ".join(notes) or None
    return False, False, "no disentanglement score applies: " + "; ".join(notes)


def disentanglement_scores(model, datamodule, num_train: int = 2000, num_test: int = 1000, seed: int = 0,
                           dci_n_estimators: int = 20, progress=None) -> dict[str, float]:
    """The ``eval/...`` scores that apply to ``model`` on ``datamodule`` (see the module docstring).

    Args:
        model: has ``latent_spec`` and ``encode(x) -> (n, num_codes)`` (categorical codes first, as
            their argmax), which handles devices and eval mode itself.
        datamodule: ground-truth data (``factor_sizes``, ``factor_names``, ``sample_factors``,
            ``observations_from_factors``, ``sample``).
        num_train, num_test: sample sizes of ``evaluate_disentanglement``; the accuracy uses
            ``num_test`` real samples.
        seed: every sample and classifier.
        dci_n_estimators: boosting stages of DCI's classifiers (reference 100).
        progress: called with each score's ``eval/...`` name and value as soon as it is computed.
    """
    disentanglement, accuracy, _ = applicable_scores(model.latent_spec, datamodule)
    scores: dict[str, float] = {}
    if disentanglement:
        report = None if progress is None else (lambda name, value: progress(f"eval/{name}", value))
        values = evaluate_disentanglement(datamodule, model.encode, num_train=num_train, num_test=num_test, seed=seed,
                                          dci_n_estimators=dci_n_estimators, progress=report)
        scores.update({f"eval/{name}": value for name, value in values.items()})
    if accuracy:
        label = varying_factor_indices(datamodule.factor_sizes)[0]
        observations, factors = datamodule.sample(num_test, seed=seed)
        code_values = model.encode(observations)[:, 0].round().long()
        scores["eval/unsupervised_accuracy"] = float(unsupervised_accuracy(
            code_values, factors[:, label], model.latent_spec.categorical_sizes[0], datamodule.factor_sizes[label]))
    return scores


class DisentanglementMetrics(PeriodicEvaluation):
    """Logs :func:`disentanglement_scores` through ``log_eval`` every ``every_n_iterations`` and at the end
    of training (on rank 0, never under ``fast_dev_run``); the final values land in summary.json."""

    def __init__(self, datamodule, every_n_iterations: int, num_train: int = 2000, num_test: int = 1000,
                 seed: int = 0, dci_n_estimators: int = 20) -> None:
        super().__init__(every_n_iterations)
        self.datamodule = datamodule
        self.settings = dict(num_train=num_train, num_test=num_test, seed=seed, dci_n_estimators=dci_n_estimators)

    def evaluate(self, pl_module) -> dict[str, float]:
        return disentanglement_scores(pl_module, self.datamodule, **self.settings, progress=self.progress)

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        note = applicable_scores(pl_module.latent_spec, self.datamodule)[2]
        if note:
            log.warning(f"DisentanglementMetrics: {note}")
