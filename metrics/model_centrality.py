r"""ModelCentrality: pick, without labels, the most disentangled of several trained models.

Lin, Thekumparampil, Fanti and Oh (2020), "InfoGAN-CR and ModelCentrality": a GAN is its own ground-truth
simulator, because its generator draws samples with known codes. Model i's generator, with its codes as
the factors, is scored against model j's encoder by a supervised disentanglement score, which gives a
similarity

.. math:: S_{ij} = \tfrac12 \big(\mathrm{MIG}(G_i, Q_j) + \mathrm{MIG}(G_j, Q_i)\big),

and the chosen model is the medoid, the one of highest centrality :math:`\frac{1}{n - 1}\sum_{j \ne i} S_{ij}`
(docs/method.md eq. 15). Two models that disentangle the same factors agree up to a permutation of their
codes, which MIG ignores, while models that entangle them do so each in its own way; so on a collection
where most runs find the factors, the medoid is one of them.

Lin et al. score with the FactorVAE score; this module uses MIG (:func:`metrics.mig.mutual_info_gap`),
measured better here. On the dSprites preset's eight seeds at 1500 iterations (2026-12-06), the FactorVAE
score's majority vote reads a code turned by less than 45 degrees as the axis it is nearest, so it rated
the seeds whose two continuous codes hold a rotated basis of the position as similar to the others as
the seeds whose codes follow the axes, and ranked one of them above one or two aligned seeds; MIG counts
the mixing, ranked the five aligned seeds above the three rotated ones, and costs a quarter of the time.

Written here because no maintained library implements it; disentanglement_lib, which defines the scores,
has no model selection.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch
from torch import Tensor

from lightning_modules.latent import LatentBatch, LatentSpec
from metrics.ground_truth import encode_observations, sample_observations
from metrics.mig import mutual_info_gap

#: Values a continuous code's factor takes: the centres of equal bins of [-1, 1], the code's support.
CONTINUOUS_BINS = 10


class GenerativeModel(Protocol):
    """What ModelCentrality reads from a model: its latent layout, its generator and its encoder (a trained
    LightningModule in eval mode, whose ``generate`` then uses the generator its evaluations sample from)."""

    latent_spec: LatentSpec

    def generate(self, latent: LatentBatch) -> Tensor: ...

    def encode(self, x: Tensor) -> Tensor: ...


class GeneratedFactors:
    r"""A model's generator as ground-truth data: each code is a factor, the noise is not.

    A categorical code of K values is a factor of size K; a continuous code is a factor of
    ``bins`` values, value b generating at the centre :math:`-1 + (2b + 1) / \mathrm{bins}` of its bin.
    """

    def __init__(self, model: GenerativeModel, bins: int = CONTINUOUS_BINS) -> None:
        spec = model.latent_spec
        self.model, self.spec, self.bins = model, spec, bins
        self.factor_names = spec.code_names
        self.factor_sizes = list(spec.categorical_sizes) + [bins] * spec.num_continuous

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.stack([torch.randint(size, (n,), generator=generator) for size in self.factor_sizes], dim=1)

    @torch.no_grad()
    def observations_from_factors(self, factors: Tensor, generator: torch.Generator) -> Tensor:
        latent = self.spec.sample(len(factors), generator)
        num_categorical = len(self.spec.categorical_sizes)
        latent.categorical = factors[:, :num_categorical].long()
        latent.continuous = -1 + (2 * factors[:, num_categorical:].float() + 1) / self.bins
        return self.model.generate(latent).cpu()


def similarity_matrix(models: Sequence[GenerativeModel], num_points: int = 5000, seed: int = 0) -> Tensor:
    r"""``S[i, j]`` = MIG of model j's encoder on ``num_points`` samples of model i's generator (not
    symmetrized), ``(n, n)``; the diagonal (a model against itself, which centrality leaves out) is not
    computed and holds NaN. Each model's samples are drawn once, from ``seed``, and read by every other.
    """
    if len(models) < 2:
        raise ValueError(f"ModelCentrality compares models with each other: pass at least 2, got {len(models)}.")
    scores = torch.full((len(models), len(models)), float("nan"))
    for i, source in enumerate(models):
        factors, chunks = sample_observations(GeneratedFactors(source), num_points, torch.Generator().manual_seed(seed))
        observations = torch.cat(list(chunks))  # drawn once, read by every other model
        for j, reader in enumerate(models):
            if i != j:
                scores[i, j] = mutual_info_gap(encode_observations(reader.encode, observations), factors)
    return scores


def centrality(scores: Tensor) -> Tensor:
    r"""Each model's mean symmetrized similarity to the others, :math:`\frac{1}{n-1}\sum_{j \ne i} S_{ij}`, ``(n,)``."""
    symmetric = (scores + scores.T) / 2
    off_diagonal = ~torch.eye(len(scores), dtype=torch.bool)
    return torch.where(off_diagonal, symmetric, 0.0).sum(1) / (len(scores) - 1)
