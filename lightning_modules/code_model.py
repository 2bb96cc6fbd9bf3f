r"""The code model Q(c | y): the encoder that says which code an observation carries.

For the informative OT GAN, Q is the amortized plan posterior of docs/method.md eq. (5), fitted
by the plan-weighted cross-entropy (eq. 9); its log-likelihoods perturb the ground cost (eq. 7). For InfoGAN, Q is
the head on the discriminator trunk that bounds the mutual information. Both use :class:`CodeHead`, so
the two encoders have the same form:

* categorical code k: a softmax over its values;
* continuous codes: a Gaussian :math:`N(\mu(y), s^2)` with fixed ``s`` (:data:`CONTINUOUS_STD`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lightning_modules.latent import LatentBatch, LatentSpec


@dataclass
class CodePosterior:
    """Q(. | y_j) for a batch of M observations."""

    log_probs: list[Tensor]  # per categorical code, (M, K_k) log-probabilities
    means: Tensor  # (M, number of continuous codes)
    std: float

    def _gaussian_log_density(self, residual: Tensor) -> Tensor:
        return (-residual.pow(2) / (2 * self.std**2) - math.log(self.std * math.sqrt(2 * math.pi))).sum(-1)

    def log_likelihood_matrix(self, latent: LatentBatch) -> Tensor:
        r""":math:`\log Q(c_i \mid y_j)` for every latent sample i and observation j, ``(N, M)``."""
        total = self._gaussian_log_density(latent.continuous.unsqueeze(1) - self.means.unsqueeze(0))
        for k, log_probs in enumerate(self.log_probs):
            total = total + log_probs.T[latent.categorical[:, k]]
        return total

    def log_likelihood(self, latent: LatentBatch) -> Tensor:
        r""":math:`\log Q(c_i \mid y_i)` for paired samples (InfoGAN's ``y_i = G(z_i)``), ``(N,)``."""
        total = self._gaussian_log_density(latent.continuous - self.means)
        for k, log_probs in enumerate(self.log_probs):
            total = total + log_probs.gather(1, latent.categorical[:, k : k + 1]).squeeze(1)
        return total

    def assigned_codes(self) -> Tensor:
        """The code each observation is assigned: most likely categorical values, then continuous means."""
        categorical = [log_probs.argmax(1, keepdim=True).float() for log_probs in self.log_probs]
        return torch.cat(categorical + [self.means], dim=1)


def mixed_pmi(pmi: Tensor, prior_mix: float) -> Tensor:
    r"""The pointwise mutual information of the mixture :math:`Q_a = (1 - a) Q + a\, p(c)` from that of Q:

    .. math:: \log \frac{Q_a(c \mid y)}{p(c)} = \log\big(a + (1 - a)\, e^{\mathrm{pmi}}\big)
              \ \ge\ \log a, \qquad \mathrm{pmi} = \log \frac{Q(c \mid y)}{p(c)}.

    Eq. (5) of docs/method.md is a lower bound on :math:`I_\pi(c; y)` for any conditional model, so :math:`Q_a` is as valid a
    perturbation of the cost (eq. 7) as Q (this is eq. 12). Its point: Q's log-likelihoods are unbounded below, and a
    confident but wrong Q makes ``lam * pmi`` a penalty of several units on pairs it deems unlikely -
    measured on digits, down to -8 against costs in [0.7, 1.3] - so the plan follows Q's mistakes
    instead of the cost. ``a`` bounds that penalty by ``lam * log a`` and keeps the reward's sign.
    ``a = 0`` returns ``pmi`` itself.
    """
    if prior_mix == 0:
        return pmi
    return torch.logaddexp(pmi.new_tensor(math.log(prior_mix)), math.log1p(-prior_mix) + pmi)  # broadcast scalar


# s of Q's Gaussian over continuous codes, which are uniform on [-1, 1]. A softer 1.0 was measured on dSprites
# (seed 0: MIG 0.038 against 0.039, FactorVAE 0.49 against 0.59): no better, so it is fixed.
CONTINUOUS_STD = 0.5


class CodeHead(nn.Module):
    """A linear map from features to the parameters of Q(c | y)."""

    def __init__(self, in_dim: int, spec: LatentSpec) -> None:
        super().__init__()
        self.sizes = spec.categorical_sizes
        self.std = CONTINUOUS_STD
        self.linear = nn.Linear(in_dim, sum(self.sizes) + spec.num_continuous)

    def forward(self, features: Tensor) -> CodePosterior:
        params = self.linear(features)
        logits = params[:, : sum(self.sizes)].split(list(self.sizes), dim=1) if self.sizes else ()
        return CodePosterior(
            log_probs=[torch.log_softmax(chunk, dim=1) for chunk in logits],
            means=params[:, sum(self.sizes):],
            std=self.std,
        )


class CodeModel(nn.Module):
    """Q(c | y) as its own network: a trunk (the critic's architecture) and a :class:`CodeHead`."""

    def __init__(self, trunk: nn.Module, spec: LatentSpec) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = CodeHead(trunk.out_dim, spec)

    def forward(self, y: Tensor) -> CodePosterior:
        return self.head(self.trunk(y))
