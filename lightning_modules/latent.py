r"""The latent space z = (c, n): informative codes c and noise n (docs/method.md, "Objects").

One object, :class:`LatentSpec`, owns the layout of the latent vector, so sampling, the generator's
input encoding, the code model's targets and the traversal grids cannot disagree about it.

* categorical codes: code k takes ``sizes[k]`` values, uniform prior, one-hot encoded;
* continuous codes: uniform on [-1, 1];
* noise: standard Gaussian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class LatentBatch:
    """A batch of latent samples ``z_i = (c_i, n_i)``."""

    categorical: Tensor  # (N, number of categorical codes), long
    continuous: Tensor  # (N, number of continuous codes), float in [-1, 1]
    noise: Tensor  # (N, noise dimensions), float

    def __len__(self) -> int:
        return self.noise.shape[0]

    def to(self, device: torch.device) -> "LatentBatch":
        return LatentBatch(self.categorical.to(device), self.continuous.to(device), self.noise.to(device))

    def codes(self) -> Tensor:
        """The informative code as one float row per sample: categorical indices, then continuous values."""
        return torch.cat([self.categorical.float(), self.continuous], dim=1)


class LatentSpec:
    """Layout of the latent vector, its prior and its traversal grid."""

    def __init__(self, categorical: list[int], continuous: int, noise: int) -> None:
        if any(k < 2 for k in categorical):
            raise ValueError(f"model.latent.categorical: every code needs at least 2 values, got {list(categorical)}")
        if continuous < 0 or noise < 0:
            raise ValueError("model.latent.continuous and model.latent.noise must be >= 0")
        if not categorical and continuous == 0:
            raise ValueError("model.latent: an informative GAN needs at least one categorical or continuous code")
        self.categorical_sizes = tuple(int(k) for k in categorical)
        self.num_continuous = int(continuous)
        self.num_noise = int(noise)

    @classmethod
    def from_config(cls, latent) -> "LatentSpec":
        """The layout that ``model.latent`` (its ``categorical``, ``continuous`` and ``noise`` keys) describes."""
        return cls(latent.categorical, latent.continuous, latent.noise)

    @property
    def num_codes(self) -> int:
        """Code dimensions as metrics see them: one per categorical code, one per continuous code."""
        return len(self.categorical_sizes) + self.num_continuous

    @property
    def input_dim(self) -> int:
        """Width of the generator's input: one-hot codes, continuous codes, noise."""
        return sum(self.categorical_sizes) + self.num_continuous + self.num_noise

    @property
    def code_names(self) -> list[str]:
        return [f"cat{k}" for k in range(len(self.categorical_sizes))] + [
            f"cont{k}" for k in range(self.num_continuous)
        ]

    def log_prior(self, latent: LatentBatch) -> Tensor:
        r""":math:`\log p(c_i)` of each sample's code, ``(N,)``: uniform categorical and uniform on [-1, 1]."""
        value = -sum(math.log(k) for k in self.categorical_sizes) - self.num_continuous * math.log(2.0)
        return torch.full((len(latent),), value, device=latent.noise.device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> LatentBatch:
        """``n`` draws from the prior. Sampled on the CPU from ``generator`` so runs reproduce on any device."""
        categorical = torch.stack(
            [torch.randint(k, (n,), generator=generator) for k in self.categorical_sizes], dim=1
        ) if self.categorical_sizes else torch.zeros(n, 0, dtype=torch.long)
        continuous = torch.rand(n, self.num_continuous, generator=generator) * 2 - 1
        noise = torch.randn(n, self.num_noise, generator=generator)
        return LatentBatch(categorical, continuous, noise)

    def generator_input(self, latent: LatentBatch) -> Tensor:
        """The generator's input vector ``(N, input_dim)``."""
        one_hots = [F.one_hot(latent.categorical[:, k], size).float() for k, size in enumerate(self.categorical_sizes)]
        return torch.cat(one_hots + [latent.continuous, latent.noise], dim=1)

    def traversal(self, code: int, num_seeds: int, num_steps: int, value_range: float,
                  generator: torch.Generator | None = None) -> tuple[LatentBatch, list[float]]:
        """A grid that varies one code dimension and keeps everything else fixed.

        Rows are ``num_seeds`` fixed draws of the other latents; columns sweep code ``code`` (numbered as
        in :attr:`code_names`) over every value (categorical) or ``num_steps`` values in
        ``[-value_range, value_range]`` (continuous). Returns the batch in row-major order and the
        column values.
        """
        if not 0 <= code < self.num_codes:
            raise IndexError(f"code {code} out of range: the latent has {self.num_codes} codes")
        base = self.sample(num_seeds, generator)
        n_cat = len(self.categorical_sizes)
        if code < n_cat:
            values = list(range(self.categorical_sizes[code]))
        else:
            values = torch.linspace(-value_range, value_range, num_steps).tolist()
        columns = len(values)
        grid = LatentBatch(
            base.categorical.repeat_interleave(columns, 0).clone(),
            base.continuous.repeat_interleave(columns, 0).clone(),
            base.noise.repeat_interleave(columns, 0),
        )
        column_values = torch.tensor(values).repeat(num_seeds)
        if code < n_cat:
            grid.categorical[:, code] = column_values.long()
        else:
            grid.continuous[:, code - n_cat] = column_values.float()
        return grid, [float(v) for v in values]
