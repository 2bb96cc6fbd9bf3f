"""scikit-learn's handwritten digits: 1797 8x8 images shipped with scikit-learn (nothing to download)."""
from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from datamodules.labelled_images import LabelledImageDataModule

# load_digits stores 4x4-block counts of set pixels, 0..16.
MAX_GRAY = 16.0


class DigitsDataModule(LabelledImageDataModule):
    """The UCI optical digits as bundled with scikit-learn (`sklearn.datasets.load_digits`).

    Images `(1, 8, 8)` in [0, 1]; one factor, `digit` (10 values). Small enough to train on in
    seconds, which makes it the image dataset for smoke tests.
    """

    factor_names = ("digit",)
    factor_sizes = (10,)
    observation_shape = (1, 8, 8)

    def load_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / MAX_GRAY
        return images, torch.as_tensor(digits.target, dtype=torch.long)
