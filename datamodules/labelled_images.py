"""Image datasets whose only factor is the class label (the digit of MNIST or scikit-learn digits)."""
from __future__ import annotations

from abc import abstractmethod

import torch
from torch.utils.data import Dataset, TensorDataset

from datamodules.base import FactorDataModule


class LabelledImageDataModule(FactorDataModule):
    """A fixed set of images with one label each; the label is the only factor.

    Subclasses set `factor_names`, `factor_sizes`, `observation_shape` and implement `load_images`;
    the images are loaded on first use and cached. Factors follow the data's label frequencies, and
    an observation of label `y` is one of the images labelled `y`, drawn uniformly.
    """

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None

    @abstractmethod
    def load_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images `(N, *observation_shape)` float32 in [0, 1] and their labels `(N,)` long."""

    @property
    def images(self) -> torch.Tensor:
        return self._loaded()[0]

    @property
    def labels(self) -> torch.Tensor:
        return self._loaded()[1]

    def _loaded(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._data is None:
            images, labels = self.load_images()
            # Images grouped by label: those of label y are order[start[y] : start[y] + count[y]].
            self._order = torch.argsort(labels, stable=True)
            self._count = torch.bincount(labels, minlength=self.factor_sizes[0])
            self._start = torch.cumsum(self._count, 0) - self._count
            self._data = images, labels
        return self._data

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        labels = self.labels
        return labels[torch.randint(len(labels), (n,), generator=generator)].unsqueeze(1)

    def observations_from_factors(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = self.images
        label = factors[:, 0]
        if (self._count[label] == 0).any():
            raise ValueError("observations_from_factors: a requested label has no image in the data")
        offset = (torch.rand(len(label), generator=generator) * self._count[label]).long()
        # rand < 1, but rand * count can round up to count in float32.
        offset = torch.minimum(offset, self._count[label] - 1)
        return images[self._order[self._start[label] + offset]]

    def train_dataset(self) -> Dataset:
        return TensorDataset(self.images, self.labels.unsqueeze(1))
