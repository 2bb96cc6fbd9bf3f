"""The OT math of lightning_modules/ot.py against geomloss, closed forms and independent solvers
(docs/method.md, eqs. (4)-(10))."""
import math

import numpy as np
import pytest
import torch
from geomloss import SamplesLoss
from scipy.optimize import minimize

from lightning_modules.ot import (
    code_mutual_information,
    plan_code_posterior,
    informative_sinkhorn_divergence,
    entropic_ot_value,
    minibatch_energy_distance,
    regularized_objective,
    squared_euclidean_cost,
)


def matrix_scaling_sinkhorn(cost: np.ndarray, eps: float, iterations: int = 20000) -> np.ndarray:
    """Textbook Sinkhorn (Cuturi 2013) in float64 with uniform marginals: an independent solver."""
    n, m = cost.shape
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    kernel = np.exp(-(cost - cost.min()) / eps)
    u, v = np.ones(n), np.ones(m)
    for _ in range(iterations):
        u = a / (kernel @ v)
        v = b / (kernel.T @ u)
    return u[:, None] * kernel * v[None, :]


def entropic_value(plan: np.ndarray, cost: np.ndarray, eps: float) -> float:
    n, m = plan.shape
    return float((plan * cost).sum() + eps * (plan * np.log(plan * n * m)).sum())


@pytest.mark.parametrize("n,m,d,blur,scaling", [(50, 40, 2, 0.3, 0.8), (64, 64, 16, 0.5, 0.9), (20, 30, 5, 1.0, 0.7)])
def test_plain_case_equals_geomloss_value_and_gradient(n, m, d, blur, scaling):
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=gen, requires_grad=True)
    y = (torch.randn(m, d, generator=gen) + 0.5).requires_grad_()
    reference = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, debias=True)(x, y)
    ref_grads = torch.autograd.grad(reference, [x, y])
    ours = informative_sinkhorn_divergence(x, y, pmi=torch.randn(n, m, generator=gen), reward=0.0,
                                           blur=blur, scaling=scaling)
    grads = torch.autograd.grad(ours.divergence, [x, y])
    assert ours.divergence.item() == pytest.approx(reference.item(), abs=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)


def test_minibatch_energy_distance_equals_the_textbook_solvers_entropic_values_on_the_halves():
    """Eq. (16) from six independent float64 solves: 2 mean W(cross halves) - W(x, x') - W(y, y')."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(12, 2, generator=gen, dtype=torch.float64) + 0.7
    blur = 0.6

    def value(a, b):
        cost = squared_euclidean_cost(a, b).numpy()
        return entropic_value(matrix_scaling_sinkhorn(cost, blur**2), cost, blur**2)

    (x1, x2), (y1, y2) = x.chunk(2), y.chunk(2)
    cross = (value(x1, y1) + value(x1, y2) + value(x2, y1) + value(x2, y2)) / 4
    expected = 2 * cross - value(x1, x2) - value(y1, y2)
    # Slow eps-scaling: the solver spends an iteration or two at each eps, so its values are exact to its
    # tolerance only (1e-3 at scaling 0.9, 1e-4 at 0.99 here).
    ours = minibatch_energy_distance(x, y, blur=blur, scaling=0.99).item()
    assert ours == pytest.approx(expected, abs=3e-4) and expected > 1.0
    with pytest.raises(ValueError, match="same even number"):
        minibatch_energy_distance(x[:11], y[:11], blur=blur)


@pytest.mark.parametrize("n,m", [(24, 24), (20, 30)])
def test_cross_only_solve_gives_the_full_solves_cross_value_and_gradient(n, m):
    """Skipping the self problems changes nothing of the cross problem: its updates never read them."""
    gen = torch.Generator().manual_seed(n + m)
    x = torch.randn(3, n, 4, generator=gen, requires_grad=True)
    y = torch.randn(3, m, 4, generator=gen) + 0.5
    full = informative_sinkhorn_divergence(x, y, blur=0.4, scaling=0.8).potentials
    full_value = full.f.mean(-1) + full.g.mean(-1)
    cross_only = entropic_ot_value(x, y, blur=0.4, scaling=0.8)
    assert torch.equal(cross_only, full_value) and (cross_only > 0).all()
    assert torch.equal(torch.autograd.grad(cross_only.sum(), x)[0], torch.autograd.grad(full_value.sum(), x)[0])


def test_divergence_of_a_measure_with_itself_is_zero_and_positive_otherwise():
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    assert informative_sinkhorn_divergence(x, x.clone(), blur=0.3).divergence.item() == pytest.approx(0, abs=1e-6)
    assert informative_sinkhorn_divergence(x, x + 1.0, blur=0.3).divergence.item() > 0.3


def test_plan_marginals_and_brute_force_solution_with_perturbed_cost():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    pmi = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    blur, reward = 0.7, 0.98
    result = informative_sinkhorn_divergence(x, y, pmi, reward, blur=blur, scaling=0.8, extra_iterations=500)
    plan = result.plan.numpy()
    np.testing.assert_allclose(plan.sum(1), np.full(6, 1 / 6), rtol=1e-8)
    np.testing.assert_allclose(plan.sum(0), np.full(5, 1 / 5), rtol=1e-8)
    perturbed = (squared_euclidean_cost(x, y) - reward * pmi).numpy()
    np.testing.assert_allclose(plan, matrix_scaling_sinkhorn(perturbed, blur**2), atol=1e-10)


def test_perturbation_moves_mass_towards_informative_pairs():
    """Eq. (7): a positive pmi makes a pair cheaper, so the plan puts more mass on it."""
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen)
    pmi = torch.zeros(8, 8)
    pmi[0, 3] = 1.0
    plain = informative_sinkhorn_divergence(x, y, pmi, 0.0, blur=0.5, extra_iterations=200).plan
    perturbed = informative_sinkhorn_divergence(x, y, pmi, 1.0, blur=0.5, extra_iterations=200).plan
    assert perturbed[0, 3] > 2 * plain[0, 3]


def _dual_value(f, g, cost, eps):
    """Dual objective (7) with uniform weights."""
    n, m = cost.shape
    kernel_term = (torch.exp((f[:, None] + g[None, :] - cost) / eps) - 1).sum() / (n * m)
    return f.mean() + g.mean() - eps * kernel_term


def _alternate(x, y, codes, k, eps, lam, rounds):
    """Alternating minimization of (4): Q <- plan posterior (eq. 5), then Sinkhorn with the perturbed cost (7)."""
    cost = squared_euclidean_cost(x, y)
    posterior = torch.full((k, y.shape[0]), 1.0 / k, dtype=x.dtype)
    objectives, result, pmi = [], None, None
    for _ in range(rounds):
        pmi = posterior.log()[codes] - math.log(1.0 / k)
        result = informative_sinkhorn_divergence(x, y, pmi, lam, blur=math.sqrt(eps), extra_iterations=400)
        posterior = plan_code_posterior(result.plan, codes, k)
        objectives.append(regularized_objective(result.plan, cost, eps, lam, codes, k).item())
    return result, pmi, objectives


def test_primal_and_dual_forms_agree_and_alternation_never_increases_objective():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(8, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(8, 2, generator=gen, dtype=torch.float64)
    codes = torch.arange(8) % 2
    eps, lam = 0.5, 0.4
    result, pmi, objectives = _alternate(x, y, codes, 2, eps, lam, rounds=30)
    assert all(later <= earlier + 1e-9 for earlier, later in zip(objectives, objectives[1:]))
    assert objectives[-1] < objectives[0] - 1e-3  # the regularization did something
    # Strong duality for the perturbed problem (6)-(7): dual value = primal value at the recovered plan.
    perturbed = squared_euclidean_cost(x, y) - lam * pmi
    f, g = result.potentials.f.detach(), result.potentials.g.detach()
    plan = result.plan
    primal = (perturbed * plan).sum() + eps * (plan * (plan * 64).log()).sum()
    assert _dual_value(f, g, perturbed, eps).item() == pytest.approx(primal.item(), abs=1e-8)
    # At the fixed point (Q = the plan's posterior), the perturbed problem's value is objective (3).
    assert primal.item() == pytest.approx(objectives[-1], abs=1e-6)


def test_regularized_problem_matches_direct_minimization():
    """lam < eps keeps (4) convex: its minimum over plans (scipy, SLSQP) equals the alternating solution."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    codes = torch.tensor([0, 1, 0, 1])
    eps, lam = 0.5, 0.3
    _, _, objectives = _alternate(x, y, codes, 2, eps, lam, rounds=40)
    cost = squared_euclidean_cost(x, y)

    def objective(flat):
        plan = torch.tensor(np.clip(flat, 1e-12, None).reshape(4, 4))
        return regularized_objective(plan, cost, eps, lam, codes, 2).item()

    constraints = [{"type": "eq", "fun": lambda p, i=i: p.reshape(4, 4)[i].sum() - 0.25} for i in range(4)]
    constraints += [{"type": "eq", "fun": lambda p, j=j: p.reshape(4, 4)[:, j].sum() - 0.25} for j in range(3)]
    direct = minimize(objective, np.full(16, 1 / 16), method="SLSQP", bounds=[(1e-12, 1)] * 16,
                      constraints=constraints, options={"ftol": 1e-12, "maxiter": 500})
    assert direct.success
    assert objectives[-1] == pytest.approx(direct.fun, abs=1e-6)


def test_plan_weighted_cross_entropy_at_plan_posterior_recovers_mutual_information():
    """Eq. (5): -sum pi log Q*(c_i|y_j) at Q* = P/b equals H(c) - I_pi(c; y), and any other Q is worse."""
    gen = torch.Generator().manual_seed(5)
    plan = torch.rand(12, 7, generator=gen, dtype=torch.float64)
    plan /= plan.sum()
    codes = torch.randint(3, (12,), generator=gen)
    posterior = plan_code_posterior(plan, codes, 3)
    cross_entropy = -(plan * posterior.log()[codes]).sum()
    code_marginal = torch.zeros(3, dtype=torch.float64).index_add_(0, codes, plan.sum(1))
    entropy = -(code_marginal * code_marginal.log()).sum()
    mutual_information = code_mutual_information(plan, codes, 3)
    assert cross_entropy.item() == pytest.approx((entropy - mutual_information).item(), abs=1e-12)
    assert 0 < mutual_information.item() < entropy.item()
    other = torch.softmax(torch.randn(3, 7, generator=gen, dtype=torch.float64), 0)
    assert -(plan * other.log()[codes]).sum() > cross_entropy


def test_mutual_information_closed_forms():
    independent = torch.full((4, 4), 1 / 16, dtype=torch.float64)
    assert code_mutual_information(independent, torch.tensor([0, 0, 1, 1]), 2).item() == pytest.approx(0, abs=1e-12)
    diagonal = torch.eye(4, dtype=torch.float64) / 4
    assert code_mutual_information(diagonal, torch.tensor([0, 1, 2, 3]), 4).item() == pytest.approx(math.log(4))


@pytest.mark.parametrize("n, m", [(64, 64), (64, 40), (30, 50)])
def test_batched_and_one_at_a_time_sinkhorn_steps_give_the_same_bits(n, m, monkeypatch):
    """The four problems of a step are batched (padded when N != M) up to LARGEST_BATCHED points and
    transformed one at a time above: both must be the same arithmetic, so the same value, plan and gradient."""
    import lightning_modules.ot as ot

    generator = torch.Generator().manual_seed(n * m)
    x = torch.nn.functional.normalize(torch.randn(n, 16, generator=generator), dim=1)
    y = torch.nn.functional.normalize(torch.randn(m, 16, generator=generator), dim=1)
    pmi = torch.randn(n, m, generator=generator)

    def solve():
        leaf = x.clone().requires_grad_()
        result = ot.informative_sinkhorn_divergence(leaf, y, pmi, reward=0.32, blur=0.2, scaling=0.8)
        result.divergence.backward()
        return result.divergence.detach(), result.plan, leaf.grad

    batched = solve()
    monkeypatch.setattr(ot._StackedProblems, "LARGEST_BATCHED", 0)
    one_at_a_time = solve()
    for a, b in zip(batched, one_at_a_time):
        assert torch.equal(a, b)
    assert batched[0] > 0 and batched[1].sum() == pytest.approx(1.0, abs=0.05)  # loose marginals: see transport_plan
