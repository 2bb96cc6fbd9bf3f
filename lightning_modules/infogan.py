r"""InfoGAN (Chen et al. 2016), the baseline, on the framework's networks (docs/method.md, "The baseline").

The discriminator is the critic's trunk with two heads: a real/fake logit and the code head Q (the same
:class:`~lightning_modules.code_model.CodeHead` the informative OT GAN uses). Losses:

.. math::
    L_D = -\mathbb{E}\log D(y) - \mathbb{E}\log(1 - D(G(z))) + \lambda L_I, \qquad
    L_G = -\mathbb{E}\log D(G(z)) + \lambda L_I, \qquad
    L_I = -\mathbb{E}_{c, n} \log Q(c \mid G(c, n)),

the non-saturating GAN loss plus the variational lower bound on I(c; G(c, n)): cross-entropy for
categorical codes, Gaussian negative log-likelihood (fixed std) for continuous ones. With
``model.critic.kind=identity`` (a data-space cost for the OT models) the discriminator is an MLP. The
OT models' critic options apply here too, so comparisons stay fair: ``model.critic.spectral_norm``
normalizes the trunk and the real/fake head (not Q's head, as the OT models' Q is not normalized), and
each iteration makes ``n_critic`` discriminator and ``n_generator`` generator updates.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from configs.schema import ModelConfig
from lightning_modules.base import LatentGAN, frozen
from lightning_modules.code_model import CodeHead, CodePosterior
from lightning_modules.networks import build_trunk, spectrally_normalized


class Optimizers(NamedTuple):
    """InfoGAN's optimizers by network, in the order ``configure_optimizers`` gives them to Lightning."""

    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer  # the trunk, the real/fake head and Q's head


class InfoGAN(LatentGAN):
    def __init__(self, model: dict[str, Any] | ModelConfig, observation_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__(model, observation_shape, seed)
        critic = self.cfg.critic
        kind = "mlp" if critic.kind == "identity" else critic.kind
        self.trunk = build_trunk(kind, self.observation_shape, critic.hidden, critic.layers)
        self.real_fake_head = nn.Linear(self.trunk.out_dim, 1)
        if critic.spectral_norm:
            self.trunk = spectrally_normalized(self.trunk)
            self.real_fake_head = spectrally_normalized(self.real_fake_head)
        self.code_head = CodeHead(self.trunk.out_dim, self.latent_spec)

    @property
    def optimizer_steps_per_iteration(self) -> int:
        return self.cfg.n_generator + self.cfg.n_critic

    def discriminator_parameters(self):
        return [*self.trunk.parameters(), *self.real_fake_head.parameters(), *self.code_head.parameters()]

    def configure_optimizers(self):
        optimizers = Optimizers(
            generator=self.adam(self.generator.parameters(), self.cfg.generator.optimizer),
            discriminator=self.adam(self.discriminator_parameters(), self.cfg.critic.optimizer),
        )
        return list(optimizers), [self.decay_schedule(o) for o in optimizers]

    def named_optimizers(self) -> Optimizers:
        """Lightning's optimizers (a list in the order of :meth:`configure_optimizers`) by network."""
        return Optimizers(*self.optimizers())

    def train_iteration(self, real: Tensor) -> None:
        optimizers = self.named_optimizers()

        for _ in range(self.cfg.n_critic):
            latent = self.sample_latent(real.shape[0])
            fake = self.generate(latent).detach()
            h_real, h_fake = self.trunk(real), self.trunk(fake)
            gan_loss = F.softplus(-self.real_fake_head(h_real)).mean() + F.softplus(self.real_fake_head(h_fake)).mean()
            info_loss = -self.code_head(h_fake).log_likelihood(latent).mean()
            optimizers.discriminator.zero_grad()
            self.manual_backward(gan_loss + self.cfg.infogan_lambda * info_loss)
            self.guarded_step(optimizers.discriminator)

        for _ in range(self.cfg.n_generator):
            latent = self.sample_latent(real.shape[0])
            with frozen(self.trunk, self.real_fake_head, self.code_head):
                h_fake = self.trunk(self.generate(latent))
                generator_loss = F.softplus(-self.real_fake_head(h_fake)).mean()
                info_loss = -self.code_head(h_fake).log_likelihood(latent).mean()
            optimizers.generator.zero_grad()
            self.manual_backward(generator_loss + self.cfg.infogan_lambda * info_loss)
            self.guarded_step(optimizers.generator)

        self.log_train({"train/discriminator_loss": gan_loss.detach(), "train/generator_loss": generator_loss.detach(),
                        "train/code_nll": info_loss.detach()}, prog_bar=("train/generator_loss", "train/code_nll"))

    def code_posterior(self, x: Tensor) -> CodePosterior:
        return self.code_head(self.trunk(x))
