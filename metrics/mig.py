"""Mutual Information Gap (MIG), Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs".

Reproduces `disentanglement_lib.evaluation.metrics.mig` with its study defaults
(`config/unsupervised_study_v1/metric_configs/mig.gin`): `num_train = 10000` points,
`discretizer_fn = histogram_discretizer`, `num_bins = 20`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.ground_truth import check_codes_and_factors, check_varying


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin index of every code value, `(n, D)` ints in `1 .. num_bins`.

    Each dimension's range `[min, max]` is cut into `num_bins` equal-width bins (numpy's histogram
    edges, as the reference); a value on an inner edge goes to the bin on its right and the maximum
    to the last bin.
    """
    binned = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=num_bins)
        binned[:, j] = np.digitize(codes[:, j], edges[:-1])
    return binned


def _labels(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Values relabelled to `0 .. m-1`, and `m`."""
    uniques, inverse = np.unique(values, return_inverse=True)
    return inverse.reshape(-1), len(uniques)


def discrete_mutual_info(x: np.ndarray, y: np.ndarray) -> float:
    """Mutual information (nats) of two discrete samples from their joint empirical distribution.

    .. math:: I(x; y) = \\sum_{a, b} p(a, b) \\log \\frac{p(a, b)}{p(a)\\, p(b)}

    Equal to scikit-learn's `mutual_info_score(x, y)`, which the reference calls.
    """
    x_labels, num_x = _labels(x)
    y_labels, num_y = _labels(y)
    joint = np.bincount(x_labels * num_y + y_labels, minlength=num_x * num_y).reshape(num_x, num_y)
    joint = joint / joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return max(float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero]))), 0.0)


def discrete_entropy(x: np.ndarray) -> float:
    """Entropy (nats) of a discrete sample, :math:`H(x) = I(x; x)`."""
    _, counts = np.unique(x, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mutual_info_matrix(binned_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """`(D, F)` matrix of :math:`I(\\hat z_j; v_k)` between binned code dimensions and factors."""
    return np.array(
        [
            [discrete_mutual_info(binned_codes[:, j], factors[:, k]) for k in range(factors.shape[1])]
            for j in range(binned_codes.shape[1])
        ]
    )


def mutual_info_gaps(codes: Tensor, factors: Tensor, num_bins: int = 20) -> Tensor:
    """Each factor's term of the Mutual Information Gap, `(K,)`: which factors a code captures.

    Each code dimension :math:`z_j` is binned into `num_bins` equal-width bins (:math:`\\hat z_j`); the
    term of factor :math:`v_k` is the gap between its two most informative code dimensions, in units of
    the factor's entropy:

    .. math::
        \\mathrm{MIG}_k = \\frac{1}{H(v_k)}
        \\Big( I(\\hat z_{j_k}; v_k) - \\max_{j \\neq j_k} I(\\hat z_j; v_k) \\Big),
        \\qquad j_k = \\arg\\max_j I(\\hat z_j; v_k)

    with plug-in (empirical) probabilities, as disentanglement_lib computes it. A term is near 1 when
    one code dimension holds the factor alone and near 0 when none does or when two share it.

    Args:
        codes: `(n, D)` real codes, `D >= 2`, finite.
        factors: `(n, K)` integer factor values; every factor must vary within the sample.
        num_bins: bins per code dimension (reference: 20). More bins raise every :math:`I(\\hat z_j; v_k)`
            by finite-sample bias, which shrinks the gaps of random codes less than it helps
            continuous ones; keep 20 to compare with published numbers.
    """
    name = "MIG"  # the messages serve mutual_info_gaps and mutual_info_gap, which calls it
    codes_np, factors_np = check_codes_and_factors(codes, factors, name)
    if codes_np.shape[1] < 2:
        raise ValueError(f"{name}: needs at least 2 code dimensions to form a gap, got {codes_np.shape[1]}.")
    check_varying(factors_np, name)
    mutual_info = mutual_info_matrix(histogram_discretize(codes_np, num_bins), factors_np)
    entropy = np.array([discrete_entropy(factors_np[:, k]) for k in range(factors_np.shape[1])])
    top_two = -np.sort(-mutual_info, axis=0)[:2]
    return torch.from_numpy((top_two[0] - top_two[1]) / entropy)


def mutual_info_gap(codes: Tensor, factors: Tensor, num_bins: int = 20) -> Tensor:
    """Mutual Information Gap (Chen et al. 2018): the mean over the :math:`K` factors of their terms
    :math:`\\mathrm{MIG}_k` (:func:`mutual_info_gaps`, which says what the arguments are).

    Returns:
        A scalar in :math:`[0, 1]`: 1 when each factor is captured by exactly one code dimension, near 0
        for codes independent of the factors or factors spread over several dimensions.

    Example:
        >>> import torch
        >>> from metrics import mutual_info_gap
        >>> factors = torch.randint(0, 5, (2000, 2), generator=torch.Generator().manual_seed(0))
        >>> codes = 3.0 * factors.flip(1)  # each factor has its own code dimension
        >>> round(mutual_info_gap(codes, factors).item(), 2)
        1.0
        >>> mixed = torch.stack([codes[:, 0] + codes[:, 1], codes[:, 0] - codes[:, 1]], dim=1)
        >>> round(mutual_info_gap(mixed, factors).item(), 2)  # both dimensions carry both factors
        0.01
    """
    return torch.tensor(float(mutual_info_gaps(codes, factors, num_bins).mean()))


class MutualInfoGap(Metric):
    """Streaming Mutual Information Gap (see :func:`mutual_info_gap` for the formula and defaults).

    `update(codes, factors)` stores the batch (`(n, D)` float codes, `(n, K)` integer factors);
    `compute()` bins the codes of all batches - on all ranks, gathered with `dist_reduce_fx="cat"` - and
    returns the gap, a scalar in :math:`[0, 1]`. Binning needs the range of every dimension over the
    whole sample, so the metric keeps all points (memory :math:`O(n (D + K))`); disentanglement_lib
    uses 10,000 points.

    Example:
        >>> import torch
        >>> from metrics import MutualInfoGap
        >>> metric = MutualInfoGap()
        >>> generator = torch.Generator().manual_seed(0)
        >>> for _ in range(4):
        ...     factors = torch.randint(0, 5, (500, 2), generator=generator)
        ...     metric.update(3.0 * factors.flip(1), factors)
        >>> round(metric.compute().item(), 2)
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    codes: list[Tensor]
    factors: list[Tensor]

    def __init__(self, num_bins: int = 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_bins = num_bins
        self.add_state("codes", default=[], dist_reduce_fx="cat")
        self.add_state("factors", default=[], dist_reduce_fx="cat")

    def update(self, codes: Tensor, factors: Tensor) -> None:
        check_codes_and_factors(codes, factors, "MutualInfoGap.update")
        self.codes.append(codes.detach().to(torch.float64))
        self.factors.append(factors.detach().long())

    def compute(self) -> Tensor:
        if len(self.codes) == 0:  # a list, or one tensor after a distributed sync
            raise ValueError("MutualInfoGap.compute: no samples; call update first.")
        return mutual_info_gap(dim_zero_cat(self.codes), dim_zero_cat(self.factors), self.num_bins)
