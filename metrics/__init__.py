"""Disentanglement scores with disentanglement_lib's definitions and defaults (Locatello et al. 2019).

One metric per module, each a torchmetrics `Metric` plus a functional twin: MIG (`mig`), FactorVAE score
(`factor_vae`), BetaVAE score (`beta_vae`), DCI (`dci`), SAP (`sap`). `evaluate_disentanglement` computes
them all for an encoder on ground-truth data. `unsupervised_accuracy` scores a categorical code against labels.

Sample quality of images: improved precision and recall (`precision_recall`) and, with torchmetrics' FID,
`fidelity`, in the feature space of a small network trained on the data's factors (`feature_network`,
trained by `feature_training`, cached by `feature_cache`), and `share_gaps` (`factor_shares`): how far the
shares of each factor's values among generated images are from those among real ones, read by its heads.
"""
from metrics.beta_vae import BetaVAEScore, beta_vae_features, beta_vae_score
from metrics.dci import DCI, dci, dci_completeness, dci_disentanglement
from metrics.evaluate import SCORE_NAMES, evaluate_disentanglement
from metrics.factor_shares import share_gaps
from metrics.factor_vae import FactorVAEScore, factor_vae_score, factor_vae_votes, global_code_variances
from metrics.ground_truth import GroundTruthData, sample_codes
from metrics.fidelity import fidelity
from metrics.mig import MutualInfoGap, mutual_info_gap, mutual_info_gaps
from metrics.precision_recall import ImprovedPrecisionRecall, improved_precision_recall
from metrics.sap import SAPScore, sap_score
from metrics.unsupervised_accuracy import UnsupervisedAccuracy, unsupervised_accuracy

__all__ = [
    "SCORE_NAMES",
    "BetaVAEScore",
    "DCI",
    "FactorVAEScore",
    "GroundTruthData",
    "ImprovedPrecisionRecall",
    "MutualInfoGap",
    "SAPScore",
    "UnsupervisedAccuracy",
    "beta_vae_features",
    "beta_vae_score",
    "dci",
    "dci_completeness",
    "dci_disentanglement",
    "evaluate_disentanglement",
    "factor_vae_score",
    "factor_vae_votes",
    "fidelity",
    "global_code_variances",
    "improved_precision_recall",
    "mutual_info_gap",
    "mutual_info_gaps",
    "sample_codes",
    "sap_score",
    "share_gaps",
    "unsupervised_accuracy",
]
