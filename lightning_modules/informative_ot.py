r"""The informative OT GAN (docs/method.md) and, with ``reward = 0``, the plain Sinkhorn GAN.

One training step (one iteration):

1. ``n_critic`` critic updates: the critic phi maximizes the perturbed divergence :math:`S^Q_\varepsilon`
   (docs/method.md eq. 10) between generated and real features, Q held fixed, or with
   ``model.critic.objective=energy_distance`` the minibatch energy distance (eq. 16). Skipped when the cost is
   measured in data space (``model.critic.kind=identity``).
2. ``n_generator`` generator updates, each from one Sinkhorn solve on fresh latents (OT-GAN updates its
   generator several times per critic update so that the critic's cost does not become degenerate),
   and one update of the code model Q from the same solves: G minimizes :math:`S^Q_\varepsilon` (gradient by the
   envelope theorem); Q minimizes the plan-weighted cross-entropy
   :math:`-\sum_{ij} w_{ij} \log Q(c_i \mid y_j)` with :math:`w_{ij} = b_j \pi_{ij} / \sum_i \pi_{ij}`,
   the column-normalized plan (detached), averaged over the solves - the max over Q of eq. (5), i.e. eq. (9), which is
   exact for the plan's posterior even where the plan's rows have not converged.

With ``model.simultaneous_updates`` (a learned critic, one update of each) an iteration is instead one
solve whose backward serves all three networks: G and Q descend, the critic ascends the same divergence.

``reward = 0`` runs this same code: the perturbation is multiplied by zero, Q is still fitted (so the
baseline has the same encoder for metrics) and the random numbers drawn are the same.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor

from configs.schema import ModelConfig, transforms_images
from lightning_modules.augmentation import random_affine
from lightning_modules.base import LatentGAN, frozen
from lightning_modules.code_model import CodeModel, CodePosterior, mixed_pmi
from lightning_modules.distributed import gather_columns, gather_with_local_grad, world_size
from lightning_modules.latent import LatentBatch
from lightning_modules.networks import FeatureCritic, build_trunk, spectrally_normalized
from lightning_modules.ot import InformativeSinkhorn, informative_sinkhorn_divergence, minibatch_energy_distance


class Optimizers(NamedTuple):
    """The model's optimizers by network, in the order ``configure_optimizers`` gives them to Lightning (and
    checkpoints store their states in); no critic's with the cost in data space."""

    generator: torch.optim.Optimizer
    code_model: torch.optim.Optimizer
    critic: torch.optim.Optimizer | None = None


class RealPosteriors(NamedTuple):
    """Q on the real batch, twice: the posterior whose pmi perturbs the cost, and the one fitted to the plan
    (the same object unless ``model.code_model.augment`` fits Q on transformed copies)."""

    cost: CodePosterior
    fitted: CodePosterior


class InformativeOTGAN(LatentGAN):
    """Each iteration is either alternating updates (:meth:`critic_updates` then :meth:`generator_updates`)
    or, with ``model.simultaneous_updates``, one :meth:`simultaneous_update` of the three networks."""

    def __init__(self, model: dict[str, Any] | ModelConfig, observation_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__(model, observation_shape, seed)
        critic = self.cfg.critic
        if critic.kind == "identity":
            self.critic = None
            # Q still needs a network of its own: convolutional for images, an MLP for points.
            trunk_kind = "conv" if len(self.observation_shape) == 3 else "mlp"
        else:
            self.critic = FeatureCritic(
                build_trunk(critic.kind, self.observation_shape, critic.hidden, critic.layers), critic.features
            )
            if critic.spectral_norm:
                self.critic = spectrally_normalized(self.critic)
            trunk_kind = critic.kind
        q = self.cfg.code_model
        self.code_model = CodeModel(build_trunk(trunk_kind, self.observation_shape, q.hidden, q.layers), self.latent_spec)

    def divergence_hint(self) -> str:
        return f" or a blur too small for the data (model.ot.blur={self.cfg.ot.blur})"

    @property
    def optimizer_steps_per_iteration(self) -> int:
        critic_steps = self.cfg.n_critic if self.critic is not None else 0
        return self.cfg.n_generator + 1 + critic_steps  # G's, Q's, the critic's

    def configure_optimizers(self):
        optimizers = Optimizers(
            generator=self.adam(self.generator.parameters(), self.cfg.generator.optimizer),
            code_model=self.adam(self.code_model.parameters(), self.cfg.code_model.optimizer),
            critic=self.adam(self.critic.parameters(), self.cfg.critic.optimizer) if self.critic is not None else None,
        )
        # The generator's and the critic's learning rates decay (model.lr_decay_start); Q's does not.
        decaying = [o for o in (optimizers.generator, optimizers.critic) if o is not None]
        return [o for o in optimizers if o is not None], [self.decay_schedule(o) for o in decaying]

    def named_optimizers(self) -> Optimizers:
        """Lightning's optimizers (a list in the order of :meth:`configure_optimizers`) by network."""
        return Optimizers(*self.optimizers())

    # ----- the loss ------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """phi(x): critic features on the unit sphere, or the flattened data when the cost is in data space."""
        return x.flatten(1) if self.critic is None else self.critic(x)

    @property
    def gathers_global_batch(self) -> bool:
        """Whether the OT problem is solved on the batch of all ranks (see lightning_modules/distributed.py)."""
        return self.cfg.ot.global_batch and world_size() > 1

    @property
    def loss_scale(self) -> int:
        """On the global batch every rank backpropagates the one global loss into its own samples and DDP
        averages over ranks: scaling by W makes that the global loss's gradient."""
        return world_size() if self.gathers_global_batch else 1

    def divergence(self, x: Tensor, y: Tensor, pmi: Tensor) -> InformativeSinkhorn:
        """The perturbed Sinkhorn divergence of eq. (10) between generated and real features."""
        ot = self.cfg.ot
        return informative_sinkhorn_divergence(
            x, y, pmi=pmi, reward=self.cfg.reward, blur=ot.blur, scaling=ot.scaling, diameter=ot.diameter
        )

    def solve(self, x: Tensor, y: Tensor, latent: LatentBatch,
              posteriors: RealPosteriors) -> tuple[InformativeSinkhorn, Tensor]:
        r"""One Sinkhorn solve of eq. (10) between this rank's generated features ``x`` and real features ``y``,
        on this rank's batch or on the global batch.

        Returns the solve and :math:`\log Q(c_i \mid y_j)` of the fitted posterior for every latent sample i
        (of all ranks) and this rank's observations j, with gradient to Q. The cost posterior's detached
        value minus :math:`\log p(c_i)` is the pmi that perturbs the cost, that of Q mixed with the prior by
        ``model.code_model.prior_mix``.
        """
        if self.gathers_global_batch:
            x, y = gather_with_local_grad(x), gather_with_local_grad(y)
            latent = LatentBatch(*(gather_with_local_grad(t) for t in (latent.categorical, latent.continuous, latent.noise)))
        log_q = posteriors.cost.log_likelihood_matrix(latent)
        fitted_log_q = log_q if posteriors.fitted is posteriors.cost else posteriors.fitted.log_likelihood_matrix(latent)
        pmi = mixed_pmi(log_q.detach() - self.latent_spec.log_prior(latent).unsqueeze(1), self.cfg.code_model.prior_mix)
        if self.gathers_global_batch:
            pmi = gather_columns(pmi)
        return self.divergence(x, y, pmi), fitted_log_q

    def plan_weighted_cross_entropy(self, log_q: Tensor, plan: Tensor) -> Tensor:
        r"""Eq. (9), eq. (5) as a loss for Q: :math:`-\sum_{ij} w_{ij} \log Q(c_i \mid y_j)` with w the column-normalized
        plan divided by M, summed over this rank's observations j (the columns of ``log_q``)."""
        weights = plan / plan.sum(0, keepdim=True).clamp_min(torch.finfo(plan.dtype).tiny) / plan.shape[1]
        local = log_q.shape[1]
        first = dist.get_rank() * local if self.gathers_global_batch else 0
        return -(weights[:, first : first + local].detach() * log_q).sum()

    # ----- training ------------------------------------------------------------------------------
    def train_iteration(self, real: Tensor) -> None:
        optimizers = self.named_optimizers()
        if self.cfg.simultaneous_updates:
            self.simultaneous_update(real, optimizers)
        else:
            # Q is stepped only at the end of the iteration, so one forward of Q on the real batch serves the
            # critic's solves (which read it detached, as the pmi) and Q's own loss.
            posteriors = self.training_posterior(real)
            if self.critic is not None:
                self.critic_updates(real, posteriors, optimizers.critic)
            self.generator_updates(real, posteriors, optimizers)

    def critic_updates(self, real: Tensor, posteriors: RealPosteriors, optimizer: torch.optim.Optimizer) -> None:
        """``n_critic`` ascents of the critic on its objective (``model.critic.objective``: the divergence, or
        :meth:`critic_energy_distance`), each on fresh latents (G's samples detached)."""
        energy_distance = self.cfg.critic.objective == "energy_distance"
        for _ in range(self.cfg.n_critic):
            latent = self.sample_latent(real.shape[0])
            with torch.no_grad():
                fake = self.generate(latent)
            fake_features, real_features = self.features(fake), self.features(real)
            if energy_distance:
                objective = self.critic_energy_distance(fake_features, real_features)
            else:
                objective = self.solve(fake_features, real_features, latent, posteriors)[0].divergence
            optimizer.zero_grad()
            self.manual_backward(-self.loss_scale * objective)
            self.guarded_step(optimizer)
        name = "train/critic_energy_distance" if energy_distance else "train/critic_divergence"
        self.log_train({name: objective.detach()})

    def critic_energy_distance(self, x: Tensor, y: Tensor) -> Tensor:
        """The minibatch energy distance (docs/method.md eq. 16) between this rank's generated features ``x``
        and real features ``y``, on this rank's batch or on the global batch, as :meth:`solve`."""
        if self.gathers_global_batch:
            x, y = gather_with_local_grad(x), gather_with_local_grad(y)
        ot = self.cfg.ot
        return minibatch_energy_distance(x, y, blur=ot.blur, scaling=ot.scaling, diameter=ot.diameter)

    def generator_updates(self, real: Tensor, posteriors: RealPosteriors, optimizers: Optimizers) -> None:
        """``n_generator`` descents of the generator on the divergence, each on fresh latents, the critic
        fixed; Q's plan-weighted cross-entropy, averaged over their plans, is stepped once with the last.

        The critic is fixed and the real batch the same: one forward of the critic on it serves every
        update. With n_generator = 1 this is one backward for G and Q, as they touch disjoint parameters
        (the divergence does not reach Q, pmi being detached, nor the cross-entropy G)."""
        scale = self.loss_scale
        with torch.no_grad():
            real_features = self.features(real)
        code_loss = 0.0
        n_generator = self.cfg.n_generator
        for update in range(n_generator):
            latent = self.sample_latent(real.shape[0])
            with frozen(self.critic):
                fake = self.generate(latent)
                result, log_q = self.solve(self.features(fake), real_features, latent, posteriors)
            code_loss = code_loss + self.plan_weighted_cross_entropy(log_q, result.plan) / n_generator
            last = update == n_generator - 1
            optimizers.generator.zero_grad()
            if last:
                optimizers.code_model.zero_grad()
            self.manual_backward(scale * (result.divergence + code_loss) if last else scale * result.divergence)
            self.guarded_step(optimizers.generator, *([optimizers.code_model] if last else []))

        self.log_train({"train/divergence": result.divergence.detach(), "train/code_nll": code_loss.detach()},
                       prog_bar=("train/divergence", "train/code_nll"))

    def simultaneous_update(self, real: Tensor, optimizers: Optimizers) -> None:
        r"""One solve for the three networks (``model.simultaneous_updates``): G and Q descend, the critic
        ascends :math:`S^Q_\varepsilon`. The alternating iteration's critic update and generator update
        each need a generator forward, a critic forward and backward and a solve; here one of each serves
        both, and the critic's gradient is the generator's negated (the divergence's gradient in phi is
        the same whether G's samples are detached or not). The critic's features of the real batch
        carry its gradient as in the critic update."""
        latent = self.sample_latent(real.shape[0])
        fake = self.generate(latent)
        fake_features, real_features = self.critic.features_of_both(fake, real)
        posteriors = self.training_posterior(real)
        result, log_q = self.solve(fake_features, real_features, latent, posteriors)
        code_loss = self.plan_weighted_cross_entropy(log_q, result.plan)
        for optimizer in (optimizers.critic, optimizers.generator, optimizers.code_model):
            optimizer.zero_grad()
        self.manual_backward(self.loss_scale * (result.divergence + code_loss))
        for p in self.critic.parameters():
            if p.grad is not None:
                p.grad.neg_()
        self.guarded_step(optimizers.critic, optimizers.generator, optimizers.code_model)
        divergence = result.divergence.detach()
        self.log_train({"train/critic_divergence": divergence, "train/divergence": divergence,
                        "train/code_nll": code_loss.detach()}, prog_bar=("train/divergence", "train/code_nll"))

    def code_posterior(self, x: Tensor) -> CodePosterior:
        return self.code_model(x)

    def training_posterior(self, real: Tensor) -> RealPosteriors:
        """Q on the real batch as training reads it (docs/method.md eq. 14). With ``model.code_model.augment``
        Q's categorical codes, and its last ``invariant_continuous`` continuous codes, are fitted on a randomly
        transformed copy of each image (lightning_modules/augmentation.py), its other continuous codes on the
        image itself, while the cost is perturbed by Q on the image itself: the plan's labels come from the
        images, Q learns to give them to the copies. One forward of Q on both."""
        augment = self.cfg.code_model.augment
        invariant = augment.invariant_continuous
        if not transforms_images(augment) or not (self.latent_spec.categorical_sizes or invariant):
            posterior = self.code_model(real)
            return RealPosteriors(posterior, posterior)
        copies = random_affine(real, augment.rotation_degrees, augment.scale, augment.translation, self.latent_rng)
        both = self.code_model(torch.cat([real, copies]))
        m, variant = real.shape[0], self.latent_spec.num_continuous - invariant
        means = both.means[:m]
        cost = CodePosterior([log_probs[:m] for log_probs in both.log_probs], means, both.std)
        fitted_means = torch.cat([means[:, :variant], both.means[m:, variant:]], dim=1)
        fitted = CodePosterior([log_probs[m:] for log_probs in both.log_probs], fitted_means, both.std)
        return RealPosteriors(cost, fitted)
