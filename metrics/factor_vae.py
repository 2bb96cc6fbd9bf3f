"""FactorVAE score, Kim & Mnih 2018, "Disentangling by Factorising".

Reproduces `disentanglement_lib.evaluation.metrics.factor_vae` with its study defaults
(`config/unsupervised_study_v1/metric_configs/factor_vae_metric.gin`): `batch_size = 64`,
`num_train = 10000`, `num_eval = 5000`, `num_variance_estimate = 10000`, `prune_dims.threshold = 0.05`
(a dimension is kept when its global standard deviation is at least 0.05).
"""
from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from metrics.ground_truth import (
    ENCODE_BATCH_SIZE,
    Encoder,
    GroundTruthData,
    encode_observations,
    sample_codes,
    varying_factors,
)


def global_code_variances(
    data: GroundTruthData,
    encode: Encoder,
    num_points: int,
    generator: torch.Generator,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> Tensor:
    """Unbiased variance (`ddof = 1`) of every code dimension over `num_points` data samples, `(D,)`."""
    codes, _ = sample_codes(data, encode, num_points, generator, encode_batch_size)
    return codes.var(dim=0, correction=1)


def active_dimensions(variances: Tensor, prune_threshold: float = 0.05) -> Tensor:
    """Boolean mask of the code dimensions whose global std is at least `prune_threshold` (not collapsed)."""
    return variances.sqrt() >= prune_threshold


def factor_vae_votes(
    data: GroundTruthData,
    encode: Encoder,
    num_votes: int,
    variances: Tensor,
    active: Tensor,
    generator: torch.Generator,
    batch_size: int = 64,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> tuple[Tensor, Tensor]:
    """Draw `num_votes` votes `(argmin_dims, factor_indices)`, two LongTensors `(num_votes,)`.

    A vote fixes a factor :math:`k` (uniform over the varying factors) to the value of one random draw
    across `batch_size` otherwise random samples and returns the code dimension of smallest normalised
    variance among the active ones,

    .. math::
        j^* = \\arg\\min_{j\\ \\mathrm{active}}
        \\mathrm{Var}_{\\mathrm{batch}}(z_j) / \\mathrm{Var}_{\\mathrm{global}}(z_j),

    as an index into all `D` dimensions.
    """
    if not active.any():
        raise ValueError("factor_vae_votes: no active code dimension (every global std is below the threshold).")
    varying = torch.tensor(varying_factors(data))
    factor_indices = varying.index_select(0, torch.randint(len(varying), (num_votes,), generator=generator))
    factors = data.sample_factors(num_votes * batch_size, generator).long().view(num_votes, batch_size, -1)
    # Fix factor k of each vote to the value it takes in that vote's first sample.
    column = factor_indices.view(-1, 1, 1).expand(-1, batch_size, 1)
    factors.scatter_(2, column, factors[:, :1, :].gather(2, column[:, :1]).expand(-1, batch_size, 1))
    active_index = active.nonzero().flatten()
    global_variances = variances.index_select(0, active_index)
    votes_per_call = max(1, encode_batch_size // batch_size)
    argmin_dims = []
    for start in range(0, num_votes, votes_per_call):
        chunk = factors[start : start + votes_per_call]
        observations = data.observations_from_factors(chunk.flatten(0, 1), generator)
        codes = encode_observations(encode, observations, encode_batch_size).view(len(chunk), batch_size, -1)
        local = codes.var(dim=1, correction=1).index_select(1, active_index) / global_variances
        argmin_dims.append(active_index.index_select(0, local.argmin(dim=1)))
    return torch.cat(argmin_dims), factor_indices


def vote_matrix(argmin_dims: Tensor, factor_indices: Tensor, num_factors: int, num_codes: int) -> Tensor:
    """Count matrix `(num_factors, num_codes)`: entry `(k, j)` counts the votes of factor `k` for dimension `j`."""
    votes = torch.zeros(num_factors * num_codes, dtype=torch.long, device=argmin_dims.device)
    cells = factor_indices.long() * num_codes + argmin_dims.long()
    votes.index_add_(0, cells, torch.ones_like(cells))
    return votes.view(num_factors, num_codes)


def majority_vote_accuracy(train_votes: Tensor, eval_votes: Tensor) -> Tensor:
    """Accuracy on `eval_votes` of the classifier `dimension -> argmax_k train_votes[k, dimension]`.

    .. math:: \\mathrm{acc} = \\frac{\\sum_j V^{\\mathrm{eval}}_{c(j), j}}{\\sum_{k, j} V^{\\mathrm{eval}}_{k, j}},
        \\qquad c(j) = \\arg\\max_k V^{\\mathrm{train}}_{k, j}

    A dimension that received no training vote predicts factor 0 (the first maximum), as the reference.
    """
    if train_votes.shape != eval_votes.shape:
        raise ValueError(f"vote matrices differ in shape: {tuple(train_votes.shape)} vs {tuple(eval_votes.shape)}.")
    total = eval_votes.sum()
    if total == 0:
        raise ValueError("majority_vote_accuracy: no evaluation votes.")
    classifier = train_votes.argmax(dim=0)
    correct = eval_votes.gather(0, classifier[None]).sum()
    return (correct.double() / total.double()).to(torch.get_default_dtype())


def factor_vae_score(
    data: GroundTruthData,
    encode: Encoder,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    batch_size: int = 64,
    prune_threshold: float = 0.05,
    seed: int = 0,
    encode_batch_size: int = ENCODE_BATCH_SIZE,
) -> Tensor:
    """FactorVAE score: how well a majority vote maps the least-varying code dimension to the fixed factor.

    Code dimensions are normalised by their global variance over `num_variance_estimate` samples and
    dimensions with global std below `prune_threshold` are dropped. Each vote fixes one factor across
    `batch_size` samples and records :math:`(k, j^*)` with
    :math:`j^* = \\arg\\min_j \\mathrm{Var}_{\\mathrm{batch}}(z_j) / \\mathrm{Var}_{\\mathrm{global}}(z_j)`.
    With :math:`V_{kj}` the vote counts of `num_train` votes, the classifier is
    :math:`c(j) = \\arg\\max_k V_{kj}`, and the score is its accuracy on `num_eval` fresh votes:

    .. math:: \\mathrm{score} = \\frac{\\sum_j V^{\\mathrm{eval}}_{c(j), j}}{\\mathrm{num\\_eval}}

    Cost: `(num_train + num_eval) * batch_size + num_variance_estimate` encoded observations
    (970,000 with the reference defaults); the encoder is called on `encode_batch_size` at a time.

    Args:
        data: ground-truth data (`factor_sizes`, `sample_factors`, `observations_from_factors`).
        encode: `observations -> (n, D)` codes.
        num_train, num_eval: votes to fit and to evaluate the classifier (reference: 10,000 / 5,000).
        num_variance_estimate: samples for the global variances (reference: 10,000).
        batch_size: samples per vote (reference: 64); smaller batches make the argmin noisier.
        prune_threshold: minimum global std of an active dimension (reference: 0.05); it is in code
            units, so a code scaled down by 100 can lose all its dimensions.
        seed: seeds every random draw; the score is a deterministic function of the arguments.
        encode_batch_size: observations per encoder call (memory only).

    Returns:
        Eval accuracy, a scalar in :math:`[0, 1]`; 1 when every factor has its own dimension,
        about :math:`1/K` for codes independent of the factors, 0 when every dimension is pruned.

    Example:
        >>> from metrics import factor_vae_score
        >>> from metrics.toy import ToyFactorData, perfect_encoder
        >>> data = ToyFactorData((3, 4, 5))
        >>> factor_vae_score(data, perfect_encoder(data), num_train=300, num_eval=200, num_variance_estimate=1000)
        tensor(1.)
    """
    generator = torch.Generator().manual_seed(seed)
    variances = global_code_variances(data, encode, num_variance_estimate, generator, encode_batch_size)
    active = active_dimensions(variances, prune_threshold)
    if not active.any():
        return torch.tensor(0.0)
    num_factors, num_codes = data.num_factors, variances.shape[0]
    votes = {}
    for split, num_votes in (("train", num_train), ("eval", num_eval)):
        argmin_dims, factor_indices = factor_vae_votes(
            data, encode, num_votes, variances, active, generator, batch_size, encode_batch_size
        )
        votes[split] = vote_matrix(argmin_dims, factor_indices, num_factors, num_codes)
    return majority_vote_accuracy(votes["train"], votes["eval"])


class FactorVAEScore(Metric):
    """Streaming FactorVAE score from votes (see :func:`factor_vae_score` for the formula and defaults).

    `update(argmin_dims, factor_indices, split)` adds votes - two `(n,)` integer tensors, as returned by
    :func:`factor_vae_votes` - to the `"train"` or `"eval"` vote-count matrix `(num_factors, num_codes)`;
    both are summed over ranks (`dist_reduce_fx="sum"`). `compute()` returns the eval accuracy of the
    majority-vote classifier fitted on the train votes, a scalar in :math:`[0, 1]`.

    On several ranks, estimate the global variances with the same seed everywhere (so that every rank
    normalises the same way) and draw votes with a rank-dependent seed.

    Example:
        >>> import torch
        >>> from metrics import FactorVAEScore
        >>> metric = FactorVAEScore(num_factors=2, num_codes=3)
        >>> metric.update(torch.tensor([2, 2, 0, 0]), torch.tensor([0, 0, 1, 1]), split="train")
        >>> metric.update(torch.tensor([2, 0, 0, 1]), torch.tensor([0, 1, 1, 1]), split="eval")
        >>> metric.compute()  # dimension 1 got no train vote, so it predicts factor 0
        tensor(0.7500)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    train_votes: Tensor
    eval_votes: Tensor

    def __init__(self, num_factors: int, num_codes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_factors, self.num_codes = num_factors, num_codes
        for name in ("train_votes", "eval_votes"):
            self.add_state(name, default=torch.zeros(num_factors, num_codes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, argmin_dims: Tensor, factor_indices: Tensor, split: Literal["train", "eval"] = "train") -> None:
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}.")
        if argmin_dims.shape != factor_indices.shape or argmin_dims.ndim != 1:
            raise ValueError(
                f"argmin_dims and factor_indices must be 1-D of equal length, got {tuple(argmin_dims.shape)} "
                f"and {tuple(factor_indices.shape)}."
            )
        if len(argmin_dims) and (argmin_dims.min() < 0 or argmin_dims.max() >= self.num_codes):
            raise ValueError(f"argmin_dims must lie in [0, {self.num_codes}).")
        if len(factor_indices) and (factor_indices.min() < 0 or factor_indices.max() >= self.num_factors):
            raise ValueError(f"factor_indices must lie in [0, {self.num_factors}).")
        votes = vote_matrix(argmin_dims, factor_indices, self.num_factors, self.num_codes).to(self.train_votes.device)
        if split == "train":
            self.train_votes += votes
        else:
            self.eval_votes += votes

    def compute(self) -> Tensor:
        return majority_vote_accuracy(self.train_votes, self.eval_votes)
