"""What every GAN of the framework shares: the latent space, the generator, the latent noise stream,
the learning-rate schedule and the encoder interface used by metrics and traversals."""
from __future__ import annotations

from abc import abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from configs.loading import model_config, to_plain
from configs.schema import ModelConfig, OptimizerConfig
from lightning_modules.generator_average import GeneratorAverage
from lightning_modules.latent import LatentBatch, LatentSpec
from lightning_modules.networks import build_generator
from lightning_modules.nonfinite import NonFiniteGuard


@contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Stop gradients from reaching these modules' parameters while another network is updated."""
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def linear_decay(start_fraction: float, total_iterations: int):
    """Learning-rate factor: 1 until ``start_fraction`` of training, then linear to 0 at the end."""
    start = start_fraction * total_iterations

    def factor(iteration: int) -> float:
        if iteration < start or total_iterations <= start:
            return 1.0
        return max(0.0, (total_iterations - iteration) / (total_iterations - start))

    return factor


class LatentGAN(pl.LightningModule):
    """Base of the models: a generator G(z) over a :class:`LatentSpec`, trained by manual optimization.

    Subclasses implement ``train_iteration`` (critic updates then generator updates, all inside one
    call so ``fast_dev_run`` exercises every network), ``encode`` and the optimizers. One training step
    is one *iteration*; Lightning's ``global_step`` counts every optimizer step instead, hence
    :attr:`optimizer_steps_per_iteration`.

    Args:
        model: the ``model.*`` settings, a :class:`ModelConfig` or the plain dict of one (what train.py passes
            and checkpoints store); read as :attr:`cfg`.
        observation_shape: the shape of one observation, ``(2,)`` for points, ``(C, H, W)`` for images.
        seed: the seed of the latent noise stream.
    """

    def __init__(self, model: dict[str, Any] | ModelConfig, observation_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__()
        self.cfg: ModelConfig = model_config(model)
        # The checkpoint keeps the settings as a plain dict - complete, and with no class of this project to
        # unpickle - which load_from_checkpoint passes back to this constructor.
        self.save_hyperparameters({"model": to_plain(OmegaConf.structured(self.cfg)),
                                   "observation_shape": observation_shape, "seed": seed})
        self.nonfinite = NonFiniteGuard(self.cfg.max_consecutive_skips)
        self.automatic_optimization = False
        self.observation_shape = tuple(observation_shape)
        self.latent_spec = LatentSpec.from_config(self.cfg.latent)
        gen = self.cfg.generator
        self.generator = build_generator(
            gen.kind, self.latent_spec.input_dim, self.observation_shape, gen.hidden, gen.layers
        )
        self.generator_average = GeneratorAverage(self.generator, gen.average) if gen.average else None
        self.seed = seed
        self.latent_rng = torch.Generator()

    # ----- one training iteration ------------------------------------------------------------------
    @abstractmethod
    def train_iteration(self, real: Tensor) -> None:
        """Critic updates then generator updates on a batch of real observations."""

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        # The noise of iteration t on rank r is a function of (seed, r, t): ranks draw different latents
        # (seed_everything alone would give them the same stream) and a resumed run draws exactly what
        # an uninterrupted one would have, with no generator state to checkpoint.
        iteration = self.iteration
        entropy = np.random.SeedSequence([self.seed, self.global_rank, iteration]).generate_state(2)
        self.latent_rng.manual_seed(int(entropy[0]) << 32 | int(entropy[1]))
        self.nonfinite.start_iteration()
        self.train_iteration(batch[0])
        if self.generator_average is not None:
            self.generator_average.update(self.generator, iteration)
        self.step_schedules()
        self.nonfinite.end_iteration(self.iteration, self.divergence_hint())
        self.log_train({"train/skipped_steps": float(self.nonfinite.skipped)})

    # ----- latent noise --------------------------------------------------------------------------

    def sample_latent(self, n: int) -> LatentBatch:
        return self.latent_spec.sample(n, self.latent_rng).to(self.device)

    def generate(self, latent: LatentBatch) -> Tensor:
        """G(z) reshaped to observations: the trained generator in training mode; in eval mode (samples for
        metrics and traversals) its moving average where ``model.generator.average`` keeps one."""
        generator = self.generator if self.training or self.generator_average is None else self.generator_average
        return generator(self.latent_spec.generator_input(latent)).view(len(latent), *self.observation_shape)

    # ----- non-finite updates (lightning_modules/nonfinite.py) -------------------------------------
    def guarded_step(self, *optimizers) -> None:
        """Step the optimizers of one backward pass, unless a gradient is NaN or infinite (then the
        update is dropped and the iteration counted in ``train/skipped_steps``)."""
        self.nonfinite.step(*optimizers)

    def divergence_hint(self) -> str:
        """What else, specific to the model, makes training diverge; ends :class:`DivergenceError`'s message."""
        return ""

    def log_train(self, values: dict[str, Any], prog_bar: tuple[str, ...] = ()) -> None:
        """Log training scalars on the iterations Lightning writes them (every ``trainer.log_every_n_steps``)
        and the last: each ``self.log`` call costs bookkeeping comparable to a small model's whole step."""
        trainer = self._trainer
        every = trainer.log_every_n_steps if trainer is not None else 1
        if self.iteration % every == 0 or self.iteration + 1 >= self.total_iterations:
            for key, value in values.items():
                self.log(key, value, prog_bar=key in prog_bar)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(self.nonfinite.state_dict())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.nonfinite.load_state_dict(checkpoint)

    # ----- iterations and schedules --------------------------------------------------------------
    @property
    def optimizer_steps_per_iteration(self) -> int:
        raise NotImplementedError

    @property
    def iteration(self) -> int:
        """Completed training iterations (each ``cfg.n_critic`` critic and ``cfg.n_generator`` generator updates)."""
        return self.global_step // self.optimizer_steps_per_iteration

    @property
    def total_iterations(self) -> int:
        trainer = self._trainer
        if trainer is None or trainer.max_steps is None or trainer.max_steps < 0:
            return 0
        return trainer.max_steps // self.optimizer_steps_per_iteration

    def adam(self, params, optimizer_cfg: OptimizerConfig) -> torch.optim.Adam:
        """Adam with its multi-tensor update (``foreach``): the same arithmetic as the per-parameter loop,
        bit for bit, in a few calls for all parameters. torch picks it by itself only on CUDA; on CPU the
        loop cost about 2 ms of a 19 ms digits iteration (2026-12-02)."""
        return torch.optim.Adam(params, lr=optimizer_cfg.lr, betas=tuple(optimizer_cfg.betas), foreach=True)

    def decay_schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, linear_decay(self.cfg.lr_decay_start, self.total_iterations)
        )

    def step_schedules(self) -> None:
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if scheduler is not None:
                scheduler.step()

    # ----- encoder -------------------------------------------------------------------------------
    @abstractmethod
    def code_posterior(self, x: Tensor):
        """Q(c | x) of the model's encoder, a :class:`~lightning_modules.code_model.CodePosterior`."""

    @torch.no_grad()
    def encode(self, x: Tensor, batch_size: int = 1024) -> Tensor:
        """The code the model assigns to observations, ``(n, num_codes)``: categorical argmax, continuous mean."""
        was_training = self.training
        self.eval()
        codes = [self.code_posterior(chunk.to(self.device)).assigned_codes().cpu() for chunk in x.split(batch_size)]
        self.train(was_training)
        return torch.cat(codes)
