"""DCI disentanglement, completeness and informativeness, Eastwood & Williams 2018, "A Framework for the
Quantitative Evaluation of Disentangled Representations".

Reproduces `disentanglement_lib.evaluation.metrics.dci` with its study defaults
(`config/unsupervised_study_v1/metric_configs/dci.gin`): `num_train = 10000`, `num_test = 5000`, one
`sklearn.ensemble.GradientBoostingClassifier()` per factor with scikit-learn's defaults
(`n_estimators = 100`, `learning_rate = 0.1`, `max_depth = 3`), importances = `feature_importances_`,
informativeness = mean test accuracy.

Cost: gradient boosting fits `n_estimators` trees per factor *value* (one per class and stage), on one
core. With the reference sizes, 10,000 points and a factor of 10 values take about 15 s on a laptop core,
so dSprites (five factors, up to 40 values) takes minutes. 2,000 points take about 3 s per 10-valued
factor; `n_estimators = 20` cuts that by another 5x at the cost of noisier importances.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.ground_truth import check_codes_and_factors, check_varying

# Added to every importance before normalising, as the reference does, so that all-zero rows are uniform.
_IMPORTANCE_EPS = 1e-11


def gbt_importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    n_estimators: int = 100,
    learning_rate: float = 0.1,
    max_depth: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """Importance matrix `(D, K)` from one gradient-boosted classifier per factor, plus mean train and test accuracy."""
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((num_codes, num_factors))
    train_accuracy, test_accuracy = [], []
    for k in range(num_factors):
        model = GradientBoostingClassifier(
            n_estimators=n_estimators, learning_rate=learning_rate, max_depth=max_depth, random_state=seed
        )
        model.fit(train_codes, train_factors[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(train_codes) == train_factors[:, k]))
        test_accuracy.append(np.mean(model.predict(test_codes) == test_factors[:, k]))
    return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


def _one_minus_entropy(probabilities: np.ndarray, axis: int) -> np.ndarray:
    """:math:`1 - H_n(p)` along `axis`, entropy in base :math:`n` = the length of that axis."""
    p = probabilities + _IMPORTANCE_EPS
    p = p / p.sum(axis=axis, keepdims=True)
    return 1.0 + np.sum(p * np.log(p), axis=axis) / np.log(probabilities.shape[axis])


def dci_disentanglement(importance: np.ndarray) -> float:
    """Disentanglement of an importance matrix :math:`R` `(D, K)`.

    .. math:: D = \\sum_j \\rho_j \\big(1 - H_K(P_{j\\cdot})\\big)

    :math:`P_{jk} = R_{jk} / \\sum_{k'} R_{jk'}` and :math:`\\rho_j = \\sum_k R_{jk} / \\sum_{j'k} R_{j'k}`
    (uniform if :math:`R = 0`). Needs :math:`K \\ge 2`.

    Example:
        >>> import numpy as np
        >>> from metrics.dci import dci_disentanglement
        >>> round(dci_disentanglement(np.eye(3)), 6), round(dci_disentanglement(np.ones((3, 3))), 6)
        (1.0, 0.0)
    """
    importance = np.asarray(importance, dtype=np.float64)
    if importance.shape[1] < 2:
        raise ValueError("dci_disentanglement: needs at least 2 factors (entropy base K).")
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_weight = weights.sum(axis=1) / weights.sum()
    return float(np.sum(code_weight * _one_minus_entropy(importance, axis=1)))


def dci_completeness(importance: np.ndarray) -> float:
    """Completeness of an importance matrix :math:`R` `(D, K)`.

    .. math:: C = \\sum_k \\tilde\\rho_k \\big(1 - H_D(\\tilde P_{\\cdot k})\\big)

    :math:`\\tilde P_{jk} = R_{jk} / \\sum_{j'} R_{j'k}` and
    :math:`\\tilde\\rho_k = \\sum_j R_{jk} / \\sum_{jk'} R_{jk'}` (uniform if :math:`R = 0`). Needs :math:`D \\ge 2`.

    Example:
        >>> import numpy as np
        >>> from metrics.dci import dci_completeness
        >>> round(dci_completeness(np.vstack([np.eye(2), np.eye(2)])), 4)  # each factor in two of four codes
        0.5
    """
    importance = np.asarray(importance, dtype=np.float64)
    if importance.shape[0] < 2:
        raise ValueError("dci_completeness: needs at least 2 code dimensions (entropy base D).")
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    factor_weight = weights.sum(axis=0) / weights.sum()
    return float(np.sum(factor_weight * _one_minus_entropy(importance, axis=0)))


def dci(
    train_codes: Tensor,
    train_factors: Tensor,
    test_codes: Tensor,
    test_factors: Tensor,
    n_estimators: int = 100,
    learning_rate: float = 0.1,
    max_depth: int = 3,
    seed: int = 0,
) -> dict[str, Tensor]:
    """DCI scores from gradient-boosted-tree importances.

    For each factor :math:`v_k` a `GradientBoostingClassifier` predicts :math:`v_k` from all codes; its
    (impurity-based) feature importances form column :math:`k` of :math:`R \\in \\mathbb{R}^{D \\times K}`.
    Then

    .. math::
        D = \\sum_j \\rho_j \\big(1 - H_K(P_{j\\cdot})\\big), \\quad
        C = \\sum_k \\tilde\\rho_k \\big(1 - H_D(\\tilde P_{\\cdot k})\\big), \\quad
        I = \\frac{1}{K} \\sum_k \\mathrm{acc}_k^{\\mathrm{test}}

    with :math:`P` the row-normalised and :math:`\\tilde P` the column-normalised :math:`R`, weights
    :math:`\\rho_j`, :math:`\\tilde\\rho_k` the row and column shares of :math:`R`, and entropies in base
    :math:`K` and :math:`D`. Informativeness is an accuracy (higher is better), as the reference reports it.

    Args:
        train_codes, test_codes: `(n, D)` codes, `D >= 2` (reference: 10,000 train / 5,000 test points;
            fewer work, with noisier importances and lower accuracy).
        train_factors, test_factors: `(n, K)` integer factors, `K >= 2`; each must vary in the train set.
        n_estimators, learning_rate, max_depth: boosting parameters (reference: scikit-learn defaults
            100 / 0.1 / 3). Run time grows linearly with `n_estimators` and the number of factor values.
        seed: `random_state` of the classifiers (the reference leaves it unset; it only breaks ties).

    Returns:
        `{"disentanglement", "completeness", "informativeness", "informativeness_train"}`, scalars in
        :math:`[0, 1]`. D and C are 1 for a scaled permutation of the factors and near 0 for codes
        independent of the factors.

    Example:
        >>> import torch
        >>> from metrics import dci
        >>> factors = torch.randint(0, 4, (400, 2), generator=torch.Generator().manual_seed(0))
        >>> codes = 0.5 * factors.flip(1)
        >>> scores = dci(codes[:300], factors[:300], codes[300:], factors[300:], n_estimators=10)
        >>> {name: round(value.item(), 3) for name, value in scores.items()}
        {'disentanglement': 1.0, 'completeness': 1.0, 'informativeness': 1.0, 'informativeness_train': 1.0}
    """
    train_codes_np, train_factors_np = check_codes_and_factors(train_codes, train_factors, "dci (train)")
    test_codes_np, test_factors_np = check_codes_and_factors(test_codes, test_factors, "dci (test)")
    if train_codes_np.shape[1] != test_codes_np.shape[1] or train_factors_np.shape[1] != test_factors_np.shape[1]:
        raise ValueError(
            f"dci: train and test differ in width: codes {train_codes_np.shape[1]} vs {test_codes_np.shape[1]}, "
            f"factors {train_factors_np.shape[1]} vs {test_factors_np.shape[1]}."
        )
    if train_codes_np.shape[1] < 2 or train_factors_np.shape[1] < 2:
        raise ValueError(
            f"dci: needs at least 2 code dimensions and 2 factors, got {train_codes_np.shape[1]} and "
            f"{train_factors_np.shape[1]}."
        )
    check_varying(train_factors_np, "dci (train)")
    importance, train_accuracy, test_accuracy = gbt_importance_matrix(
        train_codes_np, train_factors_np, test_codes_np, test_factors_np, n_estimators, learning_rate, max_depth, seed
    )
    scores = {
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
        "informativeness": test_accuracy,
        "informativeness_train": train_accuracy,
    }
    return {name: torch.tensor(value) for name, value in scores.items()}


class DCI(Metric):
    """Streaming DCI (see :func:`dci` for the formulas and defaults).

    `update(codes, factors, split)` stores a batch (`(n, D)` codes, `(n, K)` integer factors) in the
    `"train"` or `"test"` set, gathered over ranks with `dist_reduce_fx="cat"`; `compute()` fits the
    boosted trees on all train points and returns the dict of :func:`dci`, scalars in :math:`[0, 1]`.

    Example:
        >>> import torch
        >>> from metrics import DCI
        >>> metric = DCI(n_estimators=10)
        >>> generator = torch.Generator().manual_seed(0)
        >>> for split in ("train", "train", "test"):
        ...     factors = torch.randint(0, 4, (150, 2), generator=generator)
        ...     metric.update(0.5 * factors.flip(1), factors, split=split)
        >>> round(metric.compute()["disentanglement"].item(), 3)
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(
        self, n_estimators: int = 100, learning_rate: float = 0.1, max_depth: int = 3, seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.n_estimators, self.learning_rate, self.max_depth, self.seed = n_estimators, learning_rate, max_depth, seed
        for name in ("train_codes", "train_factors", "test_codes", "test_factors"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, codes: Tensor, factors: Tensor, split: Literal["train", "test"] = "train") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        check_codes_and_factors(codes, factors, "DCI.update")
        getattr(self, f"{split}_codes").append(codes.detach().double())
        getattr(self, f"{split}_factors").append(factors.detach().long())

    def compute(self) -> dict[str, Tensor]:
        # A list state becomes one tensor after a distributed sync, hence len() rather than truthiness.
        if len(self.train_codes) == 0 or len(self.test_codes) == 0:
            raise ValueError("DCI.compute: needs both train and test points.")
        return dci(
            dim_zero_cat(self.train_codes),
            dim_zero_cat(self.train_factors),
            dim_zero_cat(self.test_codes),
            dim_zero_cat(self.test_factors),
            self.n_estimators,
            self.learning_rate,
            self.max_depth,
            self.seed,
        )
