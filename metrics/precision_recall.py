r"""Improved precision and recall of a generative model (Kynkäänniemi, Karras, Laine, Lehtinen, Aila,
"Improved Precision and Recall Metric for Assessing Generative Models", NeurIPS 2019).

Written here because no library installed with this project has it: torchmetrics (1.x) offers FID, KID
and Inception Score for images but not this metric, and torch-fidelity, which has one, is not a
dependency and works in the space of Inception weights it downloads. The definition follows the paper
and its reference implementation (NVlabs ``precision-recall``, ``ManifoldEstimator``): a point's ball
reaches its k-th nearest neighbour in its own set, the point itself excluded, and a query inside a ball
(distance ``<=`` radius) is inside the manifold.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

# Pairwise distances are computed in blocks of at most this many entries (128 MB in float64), so 10,000
# x 10,000 points never hold the full matrix.
BLOCK_ENTRIES = 1 << 24


def _check(features: Tensor, name: str, k: int) -> Tensor:
    features = torch.as_tensor(features)
    if features.ndim != 2:
        raise ValueError(f"improved_precision_recall: {name} must be (n, d), got shape {tuple(features.shape)}.")
    if len(features) <= k:
        raise ValueError(f"improved_precision_recall: {name} needs more than k={k} points to define k-NN balls, "
                         f"got {len(features)}.")
    if not torch.isfinite(features).all():
        raise ValueError(f"improved_precision_recall: {name} contain NaN or infinite values.")
    # float64: |a|^2 + |b|^2 - 2ab (the fast form of a distance) loses small radii to round-off in float32.
    return features.detach().to(torch.float64)


def _blocks(num_rows: int, num_columns: int):
    step = max(1, BLOCK_ENTRIES // max(num_columns, 1))
    return ((start, min(start + step, num_rows)) for start in range(0, num_rows, step))


def squared_distances(queries: Tensor, features: Tensor) -> Tensor:
    """`(m, n)` squared Euclidean distances, :math:`|q|^2 + |\\phi|^2 - 2 q \\cdot \\phi` (one matrix
    product; exact for small integer coordinates, so hand-made examples have exact ties)."""
    cross = queries @ features.T
    return (queries.square().sum(1, keepdim=True) + features.square().sum(1) - 2 * cross).clamp_min_(0)


def squared_manifold_radii(features: Tensor, k: int = 3) -> Tensor:
    """`(n,)` squared radius of every point's ball: the squared distance to its `k`-th nearest
    neighbour among the other points of `features` (`(n, d)`, float64). Duplicates of a point count as
    neighbours at distance 0."""
    radii = torch.empty(len(features), dtype=features.dtype, device=features.device)
    for start, stop in _blocks(len(features), len(features)):
        distances = squared_distances(features[start:stop], features)
        rows = torch.arange(stop - start, device=features.device)
        distances[rows, rows + start] = float("inf")  # the point itself is not its own neighbour
        radii[start:stop] = distances.kthvalue(k, dim=1).values
    return radii


def inside_manifold(queries: Tensor, features: Tensor, squared_radii: Tensor) -> Tensor:
    """`(m,)` booleans: is query `j` inside some ball, :math:`\\exists i: \\|q_j - \\phi_i\\| \\le r_i`?"""
    inside = torch.empty(len(queries), dtype=torch.bool, device=queries.device)
    for start, stop in _blocks(len(queries), len(features)):
        inside[start:stop] = (squared_distances(queries[start:stop], features) <= squared_radii).any(dim=1)
    return inside


def improved_precision_recall(real_features: Tensor, fake_features: Tensor, k: int = 3) -> tuple[Tensor, Tensor]:
    r"""Improved precision and recall of generated samples against real ones, in a feature space.

    Each set approximates its manifold by the union of balls around its points, of radius the distance
    to the point's `k`-th nearest neighbour in the same set (the point itself excluded):

    .. math::
        f(\phi, \Phi) = \begin{cases} 1 & \exists \phi' \in \Phi:
            \|\phi - \phi'\|_2 \le \|\phi' - \mathrm{NN}_k(\phi', \Phi)\|_2 \\ 0 & \text{otherwise} \end{cases}

    .. math::
        \mathrm{precision} = \frac{1}{|\Phi_g|} \sum_{\phi_g \in \Phi_g} f(\phi_g, \Phi_r), \qquad
        \mathrm{recall} = \frac{1}{|\Phi_r|} \sum_{\phi_r \in \Phi_r} f(\phi_r, \Phi_g)

    Precision is the share of generated samples that look real (quality), recall the share of real
    samples the generator can produce (coverage).

    Args:
        real_features: `(n, d)` features of real samples, `n > k`.
        fake_features: `(m, d)` features of generated samples, `m > k`.
        k: the neighbourhood size (the paper's 3). A larger `k` inflates every ball, which raises both
            scores and hides missing modes; with `k` fixed, both scores grow with the sample size, so
            compare values at equal `n` and `m` (the paper uses 50,000 each).

    Returns:
        `(precision, recall)`, scalars in :math:`[0, 1]`: near 1 each for two samples of one
        distribution; a generator whose samples lie off the data has precision near 0, one that draws
        a single image over and over has recall near 0.

    Example (1D, k = 1: balls of radius 0.5 around the generated points, 1 or 2 around the real ones):
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [4.0]])  # balls cover [-1, 6]
        >>> fake = torch.tensor([[0.0], [0.5], [9.0], [9.5]])  # balls cover [-0.5, 1] and [8.5, 10]
        >>> precision, recall = improved_precision_recall(real, fake, k=1)
        >>> float(precision), float(recall)  # 0 and 0.5 lie in [-1, 6]; real 0 and 1 lie in [-0.5, 1]
        (0.5, 0.5)
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"improved_precision_recall: k must be a positive integer, got {k!r}.")
    real = _check(real_features, "real features", k)
    fake = _check(fake_features, "generated features", k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"improved_precision_recall: real and generated features differ in dimension "
                         f"({real.shape[1]} vs {fake.shape[1]}).")
    fake = fake.to(real.device)
    precision = inside_manifold(fake, real, squared_manifold_radii(real, k)).double().mean()
    recall = inside_manifold(real, fake, squared_manifold_radii(fake, k)).double().mean()
    return precision, recall


class ImprovedPrecisionRecall(Metric):
    """Streaming :func:`improved_precision_recall`, with the interface of torchmetrics'
    ``FrechetInceptionDistance``: ``update(images, real=True|False)`` passes the images through
    ``feature`` (or takes them as features when ``feature`` is None) and keeps the features of both
    sets; ``compute()`` returns ``(precision, recall)``. Every point's ball needs all points of its set,
    so the states are gathered whole over ranks (``dist_reduce_fx="cat"``, memory :math:`O((n + m) d)`).

    Args:
        feature: a module mapping a batch of inputs to `(n, d)` features, e.g. the network FID uses, or
            None when ``update`` receives features.
        k: neighbourhood size (see :func:`improved_precision_recall`).

    Example:
        >>> import torch
        >>> metric = ImprovedPrecisionRecall(k=1)
        >>> metric.update(torch.tensor([[0.0], [1.0]]), real=True)
        >>> metric.update(torch.tensor([[2.0], [4.0]]), real=True)
        >>> metric.update(torch.tensor([[0.0], [0.5], [9.0], [9.5]]), real=False)
        >>> [float(score) for score in metric.compute()]
        [0.5, 0.5]
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def __init__(self, feature: nn.Module | None = None, k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"ImprovedPrecisionRecall: k must be a positive integer, got {k!r}.")
        self.feature = feature
        self.k = k
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(self, images: Tensor, real: bool) -> None:
        """`images`: a batch for ``feature`` (or `(n, d)` features); `real`: which set it belongs to."""
        features = self.feature(images) if self.feature is not None else images
        if features.ndim != 2:
            raise ValueError(f"ImprovedPrecisionRecall.update: features must be (n, d), got shape "
                             f"{tuple(features.shape)}.")
        (self.real_features if real else self.fake_features).append(features.detach().to(torch.float64))

    def compute(self) -> tuple[Tensor, Tensor]:
        if len(self.real_features) == 0 or len(self.fake_features) == 0:  # lists, or tensors after a sync
            raise ValueError("ImprovedPrecisionRecall.compute: needs real and generated samples; call update with "
                             "real=True and real=False first.")
        return improved_precision_recall(dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features), self.k)
