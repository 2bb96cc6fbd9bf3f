r"""Entropic optimal transport with a structured, code-informative regularization (docs/method.md, eqs. (1)-(10)).

Everything the method computes about transport lives here, written once:

* :func:`sinkhorn_potentials` - the symmetric log-domain Sinkhorn loop with eps-scaling that solves the
  dual (7) for the cross problem and the two self problems of the debiased divergence;
* :func:`informative_sinkhorn_divergence` - the debiased Sinkhorn divergence of eq. (10) with the
  perturbed ground cost :math:`C^Q_{ij} = C_{ij} - \lambda\,\mathrm{pmi}_{ij}` on the cross pairs,
  its gradient (envelope theorem) and the latent-data transport plan (7);
* :func:`entropic_ot_value` - the entropic OT value of the cross problem alone;
* :func:`minibatch_energy_distance` - OT-GAN's energy distance built from entropic OT values on halves
  of each batch, which a critic may ascend instead of the divergence (docs/method.md eq. 16);
* :func:`code_mutual_information` and :func:`regularized_objective` - the primal quantities of
  eqs. (3)-(4), used by tests and diagnostics.

Why a loop of our own rather than ``geomloss.SamplesLoss``: the method needs, from one solve, both the
divergence (for the networks) and the plan of the *cross* problem (for the code model Q, eq. 9).
``SamplesLoss(potentials=True, debias=True)`` only returns the debiased potentials
``f_ba - f_aa``, from which the cross plan cannot be rebuilt, so a second solve would be needed.
This loop is geomloss's tensorized algorithm (same eps schedule, same symmetric averaged updates,
same final extrapolation that carries the gradient), so with ``pmi = 0`` it returns geomloss's
value and gradient (tests/test_ot.py checks both to 1e-5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def squared_euclidean_cost(x: Tensor, y: Tensor) -> Tensor:
    r"""Ground cost :math:`C_{ij} = \tfrac12 |x_i - y_j|^2` (geomloss's cost for ``p=2``), shape ``(N, M)``."""
    cost = (x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1).unsqueeze(-2)) / 2 - x @ y.transpose(-1, -2)
    return cost.clamp_min(0.0)


def max_diameter(x: Tensor, y: Tensor) -> float:
    """Diagonal of the bounding box of both point clouds: where eps-scaling starts (as geomloss)."""
    points = torch.cat([x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])])
    return (points.max(0).values - points.min(0).values).norm().item()


def epsilon_schedule(diameter: float, blur: float, scaling: float) -> list[float]:
    r"""Temperatures of eps-scaling: :math:`\text{diameter}^2` down to :math:`\text{blur}^2`, geometric steps
    of ratio :math:`\text{scaling}^2` (geomloss's schedule for ``p = 2``)."""
    start, stop, step = 2 * math.log(diameter), 2 * math.log(blur), 2 * math.log(scaling)
    n = max(0, math.ceil((stop - start) / step))
    return [diameter**2] + [math.exp(start + k * step) for k in range(n)] + [blur**2]


def schedule_for(x: Tensor, y: Tensor, blur: float, scaling: float, diameter: float | None) -> list[float]:
    """:func:`epsilon_schedule` for the points ``x`` and ``y``: from ``diameter`` (measured by
    :func:`max_diameter` when None) down to ``blur``."""
    if diameter is None:
        diameter = max_diameter(x.detach(), y.detach())
    return epsilon_schedule(max(diameter, blur), blur, scaling)


def softmin(eps: float, cost: Tensor, h: Tensor) -> Tensor:
    r"""Soft c-transform :math:`f_i = -\varepsilon \log \sum_j \exp(h_j - C_{ij}/\varepsilon)` along the last axis."""
    return -eps * torch.logsumexp(h.unsqueeze(-2) - cost / eps, dim=-1)


@dataclass
class DualPotentials:
    """Final Sinkhorn potentials: cross problem ``(f, g)`` on x and y, self problems ``f_xx``, ``g_yy`` (None
    when only the cross problem was solved)."""

    f: Tensor
    g: Tensor
    f_xx: Tensor | None = None
    g_yy: Tensor | None = None


class _StackedProblems:
    r"""The problems of one symmetric Sinkhorn step - cross (f on x, g on y) and, when given, the self problems
    (f_xx, g_yy) - stacked on a leading axis, so each step of a training-size batch is one batched soft
    c-transform instead of two or four (on 64-point batches the per-call overhead of the small tensor ops, not
    the arithmetic, is the cost). Batches of different sizes N != M are padded to max(N, M) with log-weight -inf,
    so padded points receive no mass and the padded rows are sliced off.

    Row k of the stacked potentials is ``(f, g, f_xx, g_yy)[k]``; its update reads the potential of
    ``partner[k]`` (g for f, f for g, each self potential itself) and the weights of the other side."""

    # Above this many points the matrices are transformed one at a time (the same arithmetic): four large
    # matrices at once outgrow the cache, and batching them made N = 512-1024 solves 1.3-2.5x slower
    # (docs/results.md, ot_step).
    LARGEST_BATCHED = 256

    def __init__(self, c_xy: Tensor, c_yx: Tensor, c_xx: Tensor | None, c_yy: Tensor | None,
                 log_a: Tensor, log_b: Tensor) -> None:
        self.n, self.m = c_xy.shape[-2], c_xy.shape[-1]
        self.size = max(self.n, self.m)
        with_self = c_xx is not None
        self.partner = [1, 0, 2, 3] if with_self else [1, 0]
        matrices = [self._pad_matrix(c) for c in ((c_xy, c_yx, c_xx, c_yy) if with_self else (c_xy, c_yx))]
        # Stacked (a copy) only where the steps read them batched; above, the views are read in turn.
        self.batched = self.size <= self.LARGEST_BATCHED
        self.costs = torch.stack(matrices) if self.batched else matrices
        # The weights of the side each row's log-sum-exp runs over: b for f, a for g and f_xx, b for g_yy.
        self.log_weights = self.pad(*((log_b, log_a, log_a, log_b) if with_self else (log_b, log_a)), value=-math.inf)

    def _pad_matrix(self, cost: Tensor) -> Tensor:
        rows, columns = cost.shape[-2], cost.shape[-1]
        return torch.nn.functional.pad(cost, (0, self.size - columns, 0, self.size - rows))

    def pad(self, *vectors: Tensor, value: float = 0.0) -> Tensor:
        return torch.stack([torch.nn.functional.pad(v, (0, self.size - v.shape[-1]), value=value) for v in vectors])

    def unpad(self, potentials: Tensor) -> list[Tensor]:
        """``[f, g]`` or ``[f, g, f_xx, g_yy]`` without the padding."""
        # Even rows (f, f_xx) live on x's N points, odd rows (g, g_yy) on y's M.
        return [p[..., : self.m if k % 2 else self.n] for k, p in enumerate(potentials.unbind(0))]

    def softmin(self, eps: float, partner_potentials: Tensor) -> Tensor:
        """:func:`softmin` of every problem: row k is the c-transform of ``partner_potentials[k]``."""
        h = self.log_weights + partner_potentials / eps
        if self.batched:
            return softmin(eps, self.costs, h)
        return torch.stack([softmin(eps, cost, h_k) for cost, h_k in zip(self.costs, h)])


def sinkhorn_potentials(
    cost_xy: Tensor,
    cost_yx: Tensor,
    cost_xx: Tensor | None,
    cost_yy: Tensor | None,
    eps_list: list[float],
    extra_iterations: int = 0,
) -> DualPotentials:
    r"""Solve the dual (7) of the cross problem and, unless ``cost_xx`` and ``cost_yy`` are None, of both self
    problems by symmetric Sinkhorn.

    Uniform weights :math:`a_i = 1/N`, :math:`b_j = 1/M`. The loop runs without autograd over the
    schedule ``eps_list`` (averaged updates, as geomloss); a last extrapolation at the final eps,
    taken from detached potentials, is differentiable through the cost matrices. By the envelope
    theorem that gives the gradient of the OT value without backpropagating through the loop. So
    ``cost_xy = C(x, y.detach())`` carries the gradient to x and ``cost_yx = C(y, x.detach())`` to y.

    ``extra_iterations`` alternating (not averaged) updates at the final eps follow the schedule: they
    converge geometrically to the same fixed point and tighten the plan's marginals, which the
    averaged updates of eps-scaling leave loose.
    """
    if (cost_xx is None) != (cost_yy is None):
        raise ValueError("sinkhorn_potentials: give both self costs or neither")
    with_self = cost_xx is not None
    n, m = cost_xy.shape[-2], cost_xy.shape[-1]
    log_a = torch.full(cost_xy.shape[:-1], -math.log(n), dtype=cost_xy.dtype, device=cost_xy.device)
    log_b = torch.full(cost_yx.shape[:-1], -math.log(m), dtype=cost_xy.dtype, device=cost_xy.device)
    c_xy, c_yx = cost_xy.detach(), cost_yx.detach()
    c_xx, c_yy = (cost_xx.detach(), cost_yy.detach()) if with_self else (None, None)

    with torch.no_grad():
        problems = _StackedProblems(c_xy, c_yx, c_xx, c_yy, log_a, log_b)
        eps = eps_list[0]
        # The first guess: (f, g[, f_xx, g_yy]), each the soft c-transform of zero potentials.
        potentials = problems.softmin(eps, torch.zeros_like(problems.log_weights))
        for eps in eps_list:
            # f <- T(g), g <- T(f)[, f_xx <- T(f_xx), g_yy <- T(g_yy)], all from the same step, averaged.
            potentials = (potentials + problems.softmin(eps, potentials[problems.partner])) / 2
        f, g, *self_potentials = problems.unpad(potentials)
        for _ in range(extra_iterations):
            f = softmin(eps, c_xy, log_b + g / eps)
            g = softmin(eps, c_yx, log_a + f / eps)
            if with_self:
                f_xx, g_yy = self_potentials
                self_potentials = [(f_xx + softmin(eps, c_xx, log_a + f_xx / eps)) / 2,
                                   (g_yy + softmin(eps, c_yy, log_b + g_yy / eps)) / 2]

    f, g = softmin(eps, cost_xy, log_b + g / eps), softmin(eps, cost_yx, log_a + f / eps)
    if not with_self:
        return DualPotentials(f=f, g=g)
    f_xx, g_yy = self_potentials
    return DualPotentials(f=f, g=g, f_xx=softmin(eps, cost_xx, log_a + f_xx / eps),
                          g_yy=softmin(eps, cost_yy, log_b + g_yy / eps))


def transport_plan(f: Tensor, g: Tensor, cost: Tensor, eps: float) -> Tensor:
    r"""Plan of eq. (8): :math:`\pi_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon)`, shape ``(N, M)``.

    Its marginals are ``a`` and ``b`` up to the Sinkhorn tolerance: the eps-scaling loop spends only
    an iteration or two at the final eps, so rows can be off by tens of percent at small blur. Add
    ``extra_iterations`` where the marginals themselves matter; the code model only uses the
    column-normalized plan, which is exact.
    """
    n, m = cost.shape[-2], cost.shape[-1]
    log_plan = (f.unsqueeze(-1) + g.unsqueeze(-2) - cost) / eps - math.log(n) - math.log(m)
    return log_plan.exp()


@dataclass
class InformativeSinkhorn:
    """Result of one solve: the divergence (a differentiable scalar) and the latent-data plan (detached)."""

    divergence: Tensor
    plan: Tensor
    potentials: DualPotentials


def informative_sinkhorn_divergence(
    x: Tensor,
    y: Tensor,
    pmi: Tensor | None = None,
    reward: float = 0.0,
    blur: float = 0.3,
    scaling: float = 0.8,
    diameter: float | None = None,
    extra_iterations: int = 0,
) -> InformativeSinkhorn:
    r"""Debiased Sinkhorn divergence with the code-informative perturbed cost (7), docs/method.md eq. (10).

    .. math::
        S^Q_\varepsilon(x, y) = \mathrm{OT}_\varepsilon(a, b; C^Q) - \tfrac12 \mathrm{OT}_\varepsilon(a, a; C_{xx})
        - \tfrac12 \mathrm{OT}_\varepsilon(b, b; C_{yy}), \qquad
        C^Q_{ij} = \tfrac12|x_i - y_j|^2 - \lambda\,\mathrm{pmi}_{ij},

    with :math:`\mathrm{pmi}_{ij} = \log Q(c_i \mid y_j) - \log p(c_i)` the code model's pointwise
    mutual information between latent sample i and data point j (treated as a constant here; Q is
    trained separately by the plan-weighted cross-entropy, eq. 9). The self terms keep the plain cost,
    so ``reward = 0`` (or ``pmi=None``) is exactly geomloss's
    ``SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=True)``.

    Args:
        x: generated features :math:`\phi(G(z_i))`, ``(N, D)``.
        y: real features :math:`\phi(y_j)`, ``(M, D)``.
        pmi: ``(N, M)`` pointwise mutual information of codes and data, or None.
        reward: :math:`\lambda`, the cost a pair saves per nat of pmi. What it weighs against is the
            blur's entropy term, :math:`\varepsilon = \text{blur}^2`: above :math:`\varepsilon` the code is
            rewarded more than the blur charges for it (the presets use 0.5-0.72 at blurs 0.15-0.3).
        blur: :math:`\sqrt{\varepsilon}`, the length scale below which transport is smoothed. Large
            blurs merge modes; small blurs make the perturbation :math:`\lambda` negligible against
            the costs.
        scaling: ratio of successive blurs in eps-scaling. Close to 1 is accurate but slow (more
            iterations); 0.7-0.9 is the useful range (0.5 can give slightly negative divergences).
        diameter: upper bound on distances, the first blur of eps-scaling; None measures it.
        extra_iterations: Sinkhorn iterations added at the final eps, to tighten the plan's marginals.
    """
    eps = blur**2
    eps_list = schedule_for(x, y, blur, scaling, diameter)

    cost_xy = squared_euclidean_cost(x, y.detach())
    cost_yx = squared_euclidean_cost(y, x.detach())
    if pmi is not None and reward != 0.0:
        perturbation = reward * pmi.detach()
        cost_xy = cost_xy - perturbation
        cost_yx = cost_yx - perturbation.transpose(-1, -2)
    cost_xx = squared_euclidean_cost(x, x.detach())
    cost_yy = squared_euclidean_cost(y, y.detach())

    potentials = sinkhorn_potentials(cost_xy, cost_yx, cost_xx, cost_yy, eps_list, extra_iterations)
    # <a, f - f_xx> + <b, g - g_yy>: OT(a,b) - OT(a,a)/2 - OT(b,b)/2, since OT(a,a) = 2 <a, f_xx>.
    divergence = (potentials.f - potentials.f_xx).mean(-1) + (potentials.g - potentials.g_yy).mean(-1)
    plan = transport_plan(potentials.f.detach(), potentials.g.detach(), cost_xy.detach(), eps)
    return InformativeSinkhorn(divergence=divergence, plan=plan, potentials=potentials)


def entropic_ot_value(x: Tensor, y: Tensor, blur: float = 0.3, scaling: float = 0.8,
                      diameter: float | None = None) -> Tensor:
    r""":math:`W_\varepsilon(x, y) = \langle a, f\rangle + \langle b, g\rangle`, the entropic OT value of the dual
    (7) with the plain cost, of each problem along the leading axes of ``x`` ``(..., N, D)`` and ``y``
    ``(..., M, D)``. Only the cross problem is solved (half the work of the divergence's solve); blur, scaling
    and diameter as for :func:`informative_sinkhorn_divergence`."""
    eps_list = schedule_for(x, y, blur, scaling, diameter)
    potentials = sinkhorn_potentials(squared_euclidean_cost(x, y.detach()), squared_euclidean_cost(y, x.detach()),
                                     None, None, eps_list)
    return potentials.f.mean(-1) + potentials.g.mean(-1)


def minibatch_energy_distance(
    x: Tensor, y: Tensor, blur: float = 0.3, scaling: float = 0.8, diameter: float | None = None
) -> Tensor:
    r"""OT-GAN's minibatch energy distance (Salimans et al. 2018) with entropic OT values, docs/method.md
    eq. (16):

    .. math::
        \mathcal D^2 = 2\,\mathbb E[W_\varepsilon(X, Y)] - \mathbb E[W_\varepsilon(X, X')]
        - \mathbb E[W_\varepsilon(Y, Y')],

    with X, X' the two halves of ``x``, Y, Y' those of ``y``, the cross expectation the mean over the four
    pairs of halves, and :math:`W_\varepsilon` :func:`entropic_ot_value` (no code perturbation; OT-GAN uses
    the primal transport cost of its plan). A critic that puts every two points far apart raises the cross
    and the within-sample values alike, so not this distance: it pays only for telling x from y. The six
    problems are solved as one batch.

    Args:
        x, y: ``(N, D)`` features of the two samples, N even and the same for both.
        blur, scaling, diameter: as for :func:`informative_sinkhorn_divergence`.
    """
    if x.shape != y.shape or x.shape[0] % 2:
        raise ValueError(f"the energy distance splits each sample in halves: x {tuple(x.shape)} and y "
                         f"{tuple(y.shape)} must have the same even number of points")
    x1, x2 = x.chunk(2)
    y1, y2 = y.chunk(2)
    sources = torch.stack([x1, x1, x2, x2, x1, y1])
    targets = torch.stack([y1, y2, y1, y2, x2, y2])
    values = entropic_ot_value(sources, targets, blur=blur, scaling=scaling, diameter=diameter)
    return 2 * values[:4].mean() - values[4] - values[5]


def plan_code_posterior(plan: Tensor, codes: Tensor, num_values: int) -> Tensor:
    r"""Plan posterior of a categorical code, :math:`P_{kj} / \sum_k P_{kj}` with
    :math:`P_{kj} = \sum_{i: c_i = k} \pi_{ij}` (docs/method.md eqs. (4)-(5)). Shape ``(K, M)``."""
    aggregated = plan.new_zeros(num_values, plan.shape[-1]).index_add_(0, codes, plan)
    return aggregated / aggregated.sum(0, keepdim=True)


def code_mutual_information(plan: Tensor, codes: Tensor, num_values: int) -> Tensor:
    r"""Mutual information of a categorical code and the data under the plan (eq. 4):

    .. math:: I_\pi(c; y) = \mathrm{KL}(P \,|\, p_c \otimes b),\quad P_{kj} = \sum_{i: c_i = k}\pi_{ij},
        \; p_k = \textstyle\sum_j P_{kj},\; b_j = \sum_k P_{kj}.
    """
    joint = plan.new_zeros(num_values, plan.shape[-1]).index_add_(0, codes, plan)
    joint = joint / joint.sum()
    independent = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    terms = torch.where(joint > 0, joint * (joint / independent).log(), torch.zeros_like(joint))
    return terms.sum()


def regularized_objective(plan: Tensor, cost: Tensor, eps: float, lam: float, codes: Tensor, num_values: int) -> Tensor:
    r"""Primal objective (3): :math:`\langle C, \pi\rangle + \varepsilon\,\mathrm{KL}(\pi \,|\, a\otimes b)
    - \lambda\, I_\pi(c; y)` with uniform ``a``, ``b``; ``cost`` is the plain (unperturbed) cost."""
    n, m = plan.shape
    reference = torch.full_like(plan, 1.0 / (n * m))
    kl = torch.where(plan > 0, plan * (plan / reference).log(), torch.zeros_like(plan)).sum() - plan.sum() + 1
    return (cost * plan).sum() + eps * kl - lam * code_mutual_information(plan, codes, num_values)
