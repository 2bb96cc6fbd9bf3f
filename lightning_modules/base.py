"""What every GAN of the framework shares: the latent space, the generator, the latent noise stream,
the learning-rate schedule and the encoder interface used by metrics and traversals."""
from __future__ import annotations

from abc import abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from lightning_modules.latent import LatentBatch, LatentSpec
from lightning_modules.networks import build_generator


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

    Subclasses implement ``training_step`` (critic updates then one generator update, all inside one
    call so ``fast_dev_run`` exercises every network), ``encode`` and the optimizers. One training step
    is one *iteration*; Lightning's ``global_step`` counts every optimizer step instead, hence
    :attr:`optimizer_steps_per_iteration`.
    """

    def __init__(self, model: dict[str, Any], observation_shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.cfg = model
        self.observation_shape = tuple(observation_shape)
        latent = model["latent"]
        self.latent_spec = LatentSpec(latent["categorical"], latent["continuous"], latent["noise"])
        gen = model["generator"]
        self.generator = build_generator(
            gen["kind"], self.latent_spec.input_dim, self.observation_shape, gen["hidden"], gen["layers"]
        )
        self.seed = seed
        self.latent_rng = torch.Generator()
        self.latent_rng.manual_seed(seed)

    # ----- latent noise --------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        # seed_everything gives every rank the same stream: offset by rank so ranks draw different latents.
        self.latent_rng.manual_seed(self.seed + 7919 * self.global_rank)

    def sample_latent(self, n: int) -> LatentBatch:
        return self.latent_spec.sample(n, self.latent_rng).to(self.device)

    def generate(self, latent: LatentBatch) -> Tensor:
        """G(z) reshaped to observations."""
        return self.generator(self.latent_spec.encode(latent)).view(len(latent), *self.observation_shape)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["latent_rng_state"] = self.latent_rng.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "latent_rng_state" in checkpoint:
            self._restored_rng_state = checkpoint["latent_rng_state"]

    def on_fit_start(self) -> None:
        state = getattr(self, "_restored_rng_state", None)
        if state is not None:  # setup() ran after the checkpoint was read; the saved stream wins
            self.latent_rng.set_state(state)

    # ----- iterations and schedules --------------------------------------------------------------
    @property
    def optimizer_steps_per_iteration(self) -> int:
        raise NotImplementedError

    @property
    def iteration(self) -> int:
        """Completed training iterations (generator updates)."""
        return self.global_step // self.optimizer_steps_per_iteration

    @property
    def total_iterations(self) -> int:
        trainer = self._trainer
        if trainer is None or trainer.max_steps is None or trainer.max_steps < 0:
            return 0
        return trainer.max_steps // self.optimizer_steps_per_iteration

    def adam(self, params, optimizer_cfg: dict[str, Any]) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=optimizer_cfg["lr"], betas=tuple(optimizer_cfg["betas"]))

    def decay_schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, linear_decay(self.cfg["lr_decay_start"], self.total_iterations)
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
        codes = [self.code_posterior(chunk.to(self.device)).encode().cpu() for chunk in x.split(batch_size)]
        self.train(was_training)
        return torch.cat(codes)
