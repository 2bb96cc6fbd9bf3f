r"""Sample quality and code purity on 2D Gaussian mixtures.

Every generated sample is assigned to its nearest mode :math:`m(x) = \arg\min_k |x - \mu_k|`.

* ``high_quality_frac``: share of samples within 3 standard deviations of their mode,
  :math:`|x - \mu_{m(x)}| \le 3\sigma`.
* ``modes_captured``: modes that receive at least ``min_share`` of a fair share of high-quality samples,
  i.e. at least :math:`\text{min\_share} \cdot n / K` of them (default 0.1: 40 of 10,000 samples on 25 modes).
* ``code_purity``: for each value of the categorical code, the share of its samples that fall on its
  most frequent mode, averaged over samples, :math:`\frac1n \sum_c \max_k n_{ck}`. 1 means every code
  value generates a single mode; chance level is about the largest mode share.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class MixtureQuality(Metric):
    """Accumulates nearest-mode assignments of generated samples and their code values.

    Example:
        >>> modes = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
        >>> metric = MixtureQuality(modes, std=0.1, num_code_values=2)
        >>> samples = torch.tensor([[0.0, 0.05], [4.0, 0.0], [4.1, 0.0], [3.0, 2.0]])
        >>> metric.update(samples, torch.tensor([0, 1, 1, 1]))
        >>> {k: round(float(v), 3) for k, v in metric.compute().items()}
        {'modes_captured': 2.0, 'high_quality_frac': 0.75, 'code_purity': 1.0}
    """

    higher_is_better = True
    is_differentiable = False
    full_state_update = False

    def __init__(self, modes: Tensor, std: float, num_code_values: int, min_share: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.register_buffer("modes", torch.as_tensor(modes, dtype=torch.float32))
        self.std = float(std)
        self.min_share = float(min_share)
        k = self.modes.shape[0]
        self.add_state("assignments", torch.zeros(num_code_values, k, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("high_quality", torch.zeros(k, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: Tensor, codes: Tensor) -> None:
        """``samples`` ``(n, 2)`` generated points, ``codes`` ``(n,)`` their categorical code values."""
        if samples.shape[0] != codes.shape[0]:
            raise ValueError(f"got {samples.shape[0]} samples but {codes.shape[0]} code values")
        if not torch.isfinite(samples).all():
            raise ValueError("generated samples contain NaN or inf")
        distances = torch.cdist(samples.float(), self.modes)
        nearest_distance, nearest = distances.min(dim=1)
        self.assignments.index_put_((codes.long(), nearest), torch.ones_like(nearest), accumulate=True)
        good = nearest_distance <= 3 * self.std
        self.high_quality += torch.bincount(nearest[good], minlength=self.modes.shape[0])

    def compute(self) -> dict[str, Tensor]:
        n = self.assignments.sum().clamp_min(1)
        fair_share = n / self.modes.shape[0]
        return {
            "modes_captured": (self.high_quality >= self.min_share * fair_share).sum().float(),
            "high_quality_frac": self.high_quality.sum() / n,
            "code_purity": self.assignments.max(dim=1).values.sum() / n,
        }


def mixture_quality(samples: Tensor, codes: Tensor, modes: Tensor, std: float, num_code_values: int,
                    min_share: float = 0.1) -> dict[str, float]:
    """Functional form of :class:`MixtureQuality` for one batch of samples (local: no cross-rank sync,
    so rank 0 can call it alone under DDP)."""
    metric = MixtureQuality(modes, std, num_code_values, min_share, sync_on_compute=False)
    metric.update(samples, codes)
    return {name: float(value) for name, value in metric.compute().items()}
