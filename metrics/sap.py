"""SAP score (Separated Attribute Predictability), Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", Section 3.

Reproduces `disentanglement_lib.evaluation.metrics.sap_score` with its study defaults
(`config/unsupervised_study_v1/metric_configs/sap_score.gin`): `num_train = 10000`, `num_test = 5000`,
`continuous_factors = False`, i.e. every entry of the score matrix is the test accuracy of
`sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")` fit on a single code dimension.

Two properties of this default, kept rather than fixed, keep a perfect code far below 1:

* The gap subtracts the accuracy of the second-best dimension, and an uninformative dimension still
  scores about chance (the class the SVM settles on), so a factor with :math:`m` values contributes at
  most about :math:`1 - 1/m` - 0.5 for a binary factor.
* A one-vs-rest linear classifier on one real number cannot carve out the middle values of a factor
  with many values (and `C = 0.01` regularises it hard), so even the dimension that holds the factor
  exactly scores well below 1 for factors with more than 3 values.

On four uniform factors with 3, 4, 5 and 6 values a scaled permutation of the factors scores about 0.48
with 2,000 train points and 0.58 with the reference's 10,000: liblinear's `C` multiplies the summed
loss, so more points regularise less and the score depends on `num_train`. The classifier also sees raw
code units (its intercept is regularised too), so rescaling a code changes the score.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.svm import LinearSVC
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.ground_truth import check_codes_and_factors, check_varying


def sap_score_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous_factors: bool = False,
    C: float = 0.01,
    seed: int = 0,
) -> np.ndarray:
    """Score matrix `(D, K)`: how well code dimension `j` alone predicts factor `k`.

    Discrete factors: test accuracy of a linear SVM on the one dimension. Continuous factors: the squared
    correlation on the train set (0 for a dimension of variance below 1e-12), as the reference.
    """
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for j in range(num_codes):
        for k in range(num_factors):
            if continuous_factors:
                covariance = np.cov(train_codes[:, j], train_factors[:, k], ddof=1)
                if covariance[0, 0] > 1e-12:
                    scores[j, k] = covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1])
            else:
                classifier = LinearSVC(C=C, class_weight="balanced", random_state=seed)
                classifier.fit(train_codes[:, j : j + 1], train_factors[:, k])
                scores[j, k] = np.mean(classifier.predict(test_codes[:, j : j + 1]) == test_factors[:, k])
    return scores


def sap_score(
    train_codes: Tensor,
    train_factors: Tensor,
    test_codes: Tensor,
    test_factors: Tensor,
    continuous_factors: bool = False,
    C: float = 0.01,
    seed: int = 0,
) -> Tensor:
    """SAP score: the gap between the two code dimensions that best predict each factor, averaged.

    With :math:`S_{jk}` the score of code dimension :math:`j` for factor :math:`k` (see
    :func:`sap_score_matrix`) and :math:`S_{(1)k} \\ge S_{(2)k}` its two largest entries in column :math:`k`,

    .. math:: \\mathrm{SAP} = \\frac{1}{K} \\sum_{k=1}^{K} \\big( S_{(1)k} - S_{(2)k} \\big)

    Args:
        train_codes, test_codes: `(n, D)` codes, `D >= 2` (reference: 10,000 train / 5,000 test points).
        train_factors, test_factors: `(n, K)` integer factors; each must vary in the train set.
        continuous_factors: reference default `False` (accuracy of a linear SVM per dimension); `True`
            scores by squared correlation and ignores the test set.
        C: SVM regularisation (reference: 0.01, with balanced class weights).
        seed: `random_state` of the SVMs (the reference leaves it unset).

    Returns:
        A scalar in :math:`[0, 1]`, near 0 for codes independent of the factors and for factors spread
        over several dimensions. With discrete factors a perfect code stays far below 1 (at most about
        the mean of :math:`1 - 1/m_k` over factors with :math:`m_k` values; see the module note); with
        continuous factors a code linear in the factors scores 1.

    Example:
        >>> import torch
        >>> from metrics import sap_score
        >>> factors = torch.randint(0, 2, (400, 2), generator=torch.Generator().manual_seed(0))
        >>> codes = factors.flip(1).double()  # binary factors, one code dimension each
        >>> sap_score(codes[:300], factors[:300], codes[300:], factors[300:])  # 1 - chance, not 1
        tensor(0.5300)
        >>> sap_score(codes[:300], factors[:300], codes[300:], factors[300:], continuous_factors=True)
        tensor(0.9993)
    """
    train_codes_np, train_factors_np = check_codes_and_factors(train_codes, train_factors, "sap_score (train)")
    test_codes_np, test_factors_np = check_codes_and_factors(test_codes, test_factors, "sap_score (test)")
    if train_codes_np.shape[1] != test_codes_np.shape[1] or train_factors_np.shape[1] != test_factors_np.shape[1]:
        raise ValueError("sap_score: train and test must have the same numbers of code dimensions and factors.")
    if train_codes_np.shape[1] < 2:
        raise ValueError(f"sap_score: needs at least 2 code dimensions to form a gap, got {train_codes_np.shape[1]}.")
    check_varying(train_factors_np, "sap_score (train)")
    scores = sap_score_matrix(
        train_codes_np, train_factors_np, test_codes_np, test_factors_np, continuous_factors, C, seed
    )
    top_two = -np.sort(-scores, axis=0)[:2]
    return torch.tensor(float(np.mean(top_two[0] - top_two[1])))


class SAPScore(Metric):
    """Streaming SAP score (see :func:`sap_score` for the formula and defaults).

    `update(codes, factors, split)` stores a batch (`(n, D)` codes, `(n, K)` integer factors) in the
    `"train"` or `"test"` set, gathered over ranks with `dist_reduce_fx="cat"`; `compute()` returns the
    score, a scalar in :math:`[0, 1]`.

    Example:
        >>> import torch
        >>> from metrics import SAPScore
        >>> metric = SAPScore()
        >>> generator = torch.Generator().manual_seed(0)
        >>> for split in ("train", "test"):
        ...     factors = torch.randint(0, 2, (200, 2), generator=generator)
        ...     metric.update(factors.flip(1).double(), factors, split=split)
        >>> metric.compute()  # a perfect code of binary factors: 1 minus chance accuracy
        tensor(0.5150)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, continuous_factors: bool = False, C: float = 0.01, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.continuous_factors, self.C, self.seed = continuous_factors, C, seed
        for name in ("train_codes", "train_factors", "test_codes", "test_factors"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, codes: Tensor, factors: Tensor, split: Literal["train", "test"] = "train") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        check_codes_and_factors(codes, factors, "SAPScore.update")
        getattr(self, f"{split}_codes").append(codes.detach().double())
        getattr(self, f"{split}_factors").append(factors.detach().long())

    def compute(self) -> Tensor:
        # A list state becomes one tensor after a distributed sync, hence len() rather than truthiness.
        if len(self.train_codes) == 0 or len(self.test_codes) == 0:
            raise ValueError("SAPScore.compute: needs both train and test points.")
        return sap_score(
            dim_zero_cat(self.train_codes),
            dim_zero_cat(self.train_factors),
            dim_zero_cat(self.test_codes),
            dim_zero_cat(self.test_factors),
            self.continuous_factors,
            self.C,
            self.seed,
        )
