r"""The informative OT GAN (PAPER.md section 5) and, with ``info_weight = 0``, the plain Sinkhorn GAN.

One training step (one iteration):

1. ``n_critic`` critic updates: the critic phi maximizes the perturbed divergence :math:`S^Q_\varepsilon`
   (eq. 6) between generated and real features, Q held fixed. Skipped when the cost is measured in
   data space (``model.critic.kind=identity``).
2. Generator and code model, from one Sinkhorn solve: G minimizes :math:`S^Q_\varepsilon` (gradient by the
   envelope theorem); Q minimizes the plan-weighted cross-entropy
   :math:`-\sum_{ij} w_{ij} \log Q(c_i \mid y_j)` with :math:`w_{ij} = b_j \pi_{ij} / \sum_i \pi_{ij}`,
   the column-normalized plan (detached) - the max over Q of eq. (5), which is exact for the plan's
   posterior even where the plan's rows have not converged.

``info_weight = 0`` runs this same code: the perturbation is multiplied by zero, Q is still fitted (so the
baseline has the same encoder for metrics) and the random numbers drawn are the same.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lightning_modules.base import LatentGAN, frozen
from lightning_modules.code_model import CodeModel, CodePosterior
from lightning_modules.latent import LatentBatch
from lightning_modules.networks import FeatureCritic, build_trunk
from lightning_modules.ot import InformativeSinkhorn, informative_sinkhorn_divergence


class InformativeOTGAN(LatentGAN):
    def __init__(self, model: dict[str, Any], observation_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__(model, observation_shape, seed)
        critic = model["critic"]
        if critic["kind"] == "identity":
            self.critic = None
            trunk_kind = "mlp"
        else:
            self.critic = FeatureCritic(
                build_trunk(critic["kind"], self.observation_shape, critic["hidden"], critic["layers"]),
                critic["features"],
            )
            trunk_kind = critic["kind"]
        q = model["code_model"]
        self.code_model = CodeModel(
            build_trunk(trunk_kind, self.observation_shape, q["hidden"], q["layers"]),
            self.latent_spec,
            q["continuous_std"],
        )
        self.info_weight = float(model["info_weight"])
        self.ot = model["ot"]
        self.n_critic = int(model["n_critic"])

    @property
    def optimizer_steps_per_iteration(self) -> int:
        return 2 + (self.n_critic if self.critic is not None else 0)

    def configure_optimizers(self):
        optimizers = [
            self.adam(self.generator.parameters(), self.cfg["generator"]["optimizer"]),
            self.adam(self.code_model.parameters(), self.cfg["code_model"]["optimizer"]),
        ]
        if self.critic is not None:
            optimizers.append(self.adam(self.critic.parameters(), self.cfg["critic"]["optimizer"]))
        schedules = [self.decay_schedule(optimizers[0])] + [self.decay_schedule(o) for o in optimizers[2:]]
        return optimizers, schedules

    # ----- the loss ------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """phi(x): critic features on the unit sphere, or the flattened data when the cost is in data space."""
        return x.flatten(1) if self.critic is None else self.critic(x)

    def divergence(self, fake: Tensor, real: Tensor, pmi: Tensor) -> InformativeSinkhorn:
        """The perturbed Sinkhorn divergence of eq. (6) between generated and real samples."""
        return informative_sinkhorn_divergence(
            self.features(fake),
            self.features(real),
            pmi=pmi,
            info_weight=self.info_weight,
            blur=self.ot["blur"],
            scaling=self.ot["scaling"],
            diameter=self.ot["diameter"],
            extra_iterations=self.ot["extra_iterations"],
        )

    def pointwise_information(self, posterior: CodePosterior, latent: LatentBatch) -> tuple[Tensor, Tensor]:
        r""":math:`\log Q(c_i \mid y_j)` (with gradient to Q) and the pmi :math:`\log Q(c_i|y_j) - \log p(c_i)` (detached)."""
        log_q = posterior.log_likelihood_matrix(latent)
        return log_q, log_q.detach() - self.latent_spec.log_prior(latent).unsqueeze(1)

    @staticmethod
    def plan_weighted_cross_entropy(log_q: Tensor, plan: Tensor) -> Tensor:
        r"""Eq. (5) as a loss for Q: :math:`-\sum_{ij} w_{ij} \log Q(c_i \mid y_j)`, w the column-normalized plan / M."""
        weights = plan / plan.sum(0, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny) / plan.shape[1]
        return -(weights.detach() * log_q).sum()

    # ----- training ------------------------------------------------------------------------------
    def train_iteration(self, real: Tensor) -> None:
        optimizers = self.optimizers()
        opt_generator, opt_code = optimizers[0], optimizers[1]

        if self.critic is not None:
            opt_critic = optimizers[2]
            for _ in range(self.n_critic):
                latent = self.sample_latent(real.shape[0])
                with torch.no_grad():
                    fake = self.generate(latent)
                    _, pmi = self.pointwise_information(self.code_model(real), latent)
                critic_loss = -self.divergence(fake, real, pmi).divergence
                opt_critic.zero_grad()
                self.manual_backward(critic_loss)
                self.guarded_step(opt_critic)
            self.log("train/critic_divergence", -critic_loss.detach(), prog_bar=False)

        latent = self.sample_latent(real.shape[0])
        log_q, pmi = self.pointwise_information(self.code_model(real), latent)
        with frozen(self.critic):
            result = self.divergence(self.generate(latent), real, pmi)
        code_loss = self.plan_weighted_cross_entropy(log_q, result.plan)
        # One backward for both: the divergence does not reach Q (pmi is detached) and the
        # cross-entropy does not reach G, so each optimizer sees only its own loss.
        opt_generator.zero_grad()
        opt_code.zero_grad()
        self.manual_backward(result.divergence + code_loss)
        self.guarded_step(opt_generator, opt_code)

        self.log("train/divergence", result.divergence.detach(), prog_bar=True)
        self.log("train/code_nll", code_loss.detach(), prog_bar=True)

    def code_posterior(self, x: Tensor) -> CodePosterior:
        return self.code_model(x)
