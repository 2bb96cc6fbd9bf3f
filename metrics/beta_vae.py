"""BetaVAE score, Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework".

Reproduces `disentanglement_lib.evaluation.metrics.beta_vae.compute_beta_vae_sklearn` with its study
defaults (`config/unsupervised_study_v1/metric_configs/beta_vae_sklearn.gin`): `batch_size = 64`,
`num_train = 10000`, `num_eval = 5000`, classifier `sklearn.linear_model.LogisticRegression` with
scikit-learn's defaults.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.ground_truth import ENCODE_BATCH_SIZE, Encoder, GroundTruthData, encode_observations, varying_factors


def beta_vae_features(
    data: GroundTruthData,
    encode: Encoder,
    num_points: int,
    generator: torch.Generator,
    batch_size: int = 64,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> tuple[Tensor, Tensor]:
    """Draw `num_points` training points `(features (n, D) float64, factor_indices (n,) long)`.

    A point picks a factor :math:`k` (uniform over the varying factors), draws `batch_size` pairs of
    samples that agree on factor :math:`k` and are independent otherwise, and averages the absolute code
    differences: :math:`\\frac{1}{B} \\sum_b |z(x^{(1)}_b) - z(x^{(2)}_b)|`.
    """
    varying = torch.tensor(varying_factors(data))
    factor_indices = varying.index_select(0, torch.randint(len(varying), (num_points,), generator=generator))
    first = data.sample_factors(num_points * batch_size, generator).long().view(num_points, batch_size, -1)
    second = data.sample_factors(num_points * batch_size, generator).long().view(num_points, batch_size, -1)
    column = factor_indices.view(-1, 1, 1).expand(-1, batch_size, 1)
    second.scatter_(2, column, first.gather(2, column))
    points_per_call = max(1, encode_batch_size // (2 * batch_size))
    features = []
    for start in range(0, num_points, points_per_call):
        pairs = torch.cat([first[start : start + points_per_call], second[start : start + points_per_call]])
        observations = data.observations_from_factors(pairs.flatten(0, 1), generator)
        codes = encode_observations(encode, observations, encode_batch_size).view(2, len(pairs) // 2, batch_size, -1)
        features.append((codes[0] - codes[1]).abs().mean(dim=1))
    return torch.cat(features), factor_indices


def logistic_regression_accuracy(
    train_features: Tensor, train_labels: Tensor, eval_features: Tensor, eval_labels: Tensor, seed: int = 0
) -> Tensor:
    """Eval accuracy of `LogisticRegression(random_state=seed)` (scikit-learn defaults) fit on the train points."""
    train_labels_np = train_labels.cpu().numpy()
    if len(np.unique(train_labels_np)) < 2:
        raise ValueError("beta_vae: the training points fix a single factor; a classifier needs at least two.")
    features = {"train": train_features, "eval": eval_features}
    for name, value in features.items():
        if not torch.isfinite(value).all():
            raise ValueError(f"beta_vae: {name} features contain NaN or infinite values.")
    model = LogisticRegression(random_state=seed)
    model.fit(train_features.cpu().double().numpy(), train_labels_np)
    accuracy = model.score(eval_features.cpu().double().numpy(), eval_labels.cpu().numpy())
    return torch.tensor(float(accuracy))


def beta_vae_score(
    data: GroundTruthData,
    encode: Encoder,
    num_train: int = 10000,
    num_eval: int = 5000,
    batch_size: int = 64,
    seed: int = 0,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> Tensor:
    """BetaVAE score: accuracy of a linear classifier that tells which factor a batch of pairs shared.

    Each point :math:`(\\bar d, k)` fixes factor :math:`k` across `batch_size` pairs and records
    :math:`\\bar d = \\frac{1}{B}\\sum_b |z(x^{(1)}_b) - z(x^{(2)}_b)|`; a multinomial logistic regression
    :math:`p(k \\mid \\bar d) \\propto \\exp(w_k^\\top \\bar d + b_k)` (scikit-learn defaults: L2, `C = 1`,
    lbfgs, 100 iterations) is fit on `num_train` points and the score is its accuracy on `num_eval`:

    .. math:: \\mathrm{score} = \\frac{1}{N_{\\mathrm{eval}}} \\sum_{i} [\\hat k(\\bar d_i) = k_i]

    Cost: `2 * (num_train + num_eval) * batch_size` encoded observations (1,920,000 with the reference
    defaults). The classifier works on raw code units, so rescaling a code can change the score slightly
    (regularisation and iteration limit), as in the reference.

    Args:
        data: ground-truth data (`factor_sizes`, `sample_factors`, `observations_from_factors`).
        encode: `observations -> (n, D)` codes.
        num_train, num_eval: points to fit and to evaluate the classifier (reference: 10,000 / 5,000).
        batch_size: pairs per point (reference: 64); smaller batches give noisier features.
        seed: seeds every random draw and the classifier.
        encode_batch_size: observations per encoder call (memory only).

    Returns:
        Eval accuracy, a scalar in :math:`[0, 1]`: 1 when the fixed factor can be read off linearly
        (every disentangled code, and many mixed ones), about :math:`1/K` for codes independent of the factors.

    Example:
        >>> from metrics import beta_vae_score
        >>> from metrics.toy import ToyFactorData, perfect_encoder
        >>> data = ToyFactorData((3, 4, 5))
        >>> beta_vae_score(data, perfect_encoder(data), num_train=300, num_eval=200)
        tensor(1.)
    """
    generator = torch.Generator().manual_seed(seed)
    train_features, train_labels = beta_vae_features(data, encode, num_train, generator, batch_size, encode_batch_size)
    eval_features, eval_labels = beta_vae_features(data, encode, num_eval, generator, batch_size, encode_batch_size)
    return logistic_regression_accuracy(train_features, train_labels, eval_features, eval_labels, seed)


def _is_empty(state: list[Tensor] | Tensor) -> bool:
    # A list state becomes one tensor after a distributed sync.
    return len(state) == 0


class BetaVAEScore(Metric):
    """Streaming BetaVAE score (see :func:`beta_vae_score` for the formula and defaults).

    `update(features, factor_indices, split)` stores points - `(n, D)` mean absolute code differences and
    `(n,)` fixed-factor indices, as returned by :func:`beta_vae_features` - in the `"train"` or `"eval"`
    set (`dist_reduce_fx="cat"`); `compute()` fits the logistic regression on all train points and
    returns its eval accuracy, a scalar in :math:`[0, 1]`.

    Example:
        >>> import torch
        >>> from metrics import BetaVAEScore
        >>> from metrics.beta_vae import beta_vae_features
        >>> from metrics.toy import ToyFactorData, perfect_encoder
        >>> data, generator = ToyFactorData((3, 4, 5)), torch.Generator().manual_seed(0)
        >>> metric = BetaVAEScore()
        >>> for split in ("train", "train", "eval"):
        ...     metric.update(*beta_vae_features(data, perfect_encoder(data), 100, generator), split=split)
        >>> metric.compute()
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        for name in ("train_features", "train_labels", "eval_features", "eval_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, features: Tensor, factor_indices: Tensor, split: Literal["train", "eval"] = "train") -> None:
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}.")
        if features.ndim != 2 or factor_indices.ndim != 1 or len(features) != len(factor_indices):
            raise ValueError(
                f"features must be (n, D) and factor_indices (n,), got {tuple(features.shape)} and "
                f"{tuple(factor_indices.shape)}."
            )
        if not torch.isfinite(features).all():
            raise ValueError("BetaVAEScore.update: features contain NaN or infinite values.")
        getattr(self, f"{split}_features").append(features.detach().double())
        getattr(self, f"{split}_labels").append(factor_indices.detach().long())

    def compute(self) -> Tensor:
        if _is_empty(self.train_features) or _is_empty(self.eval_features):
            raise ValueError("BetaVAEScore.compute: needs both train and eval points.")
        return logistic_regression_accuracy(
            dim_zero_cat(self.train_features),
            dim_zero_cat(self.train_labels),
            dim_zero_cat(self.eval_features),
            dim_zero_cat(self.eval_labels),
            self.seed,
        )
