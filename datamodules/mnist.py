"""MNIST training digits, read from the standard IDX files in a local folder (never downloaded)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from datamodules.base import loader_arguments
from datamodules.errors import MissingDataError
from datamodules.idx import read_idx_ubyte
from datamodules.labelled_images import LabelledImageDataModule

IMAGES_FILE = "train-images-idx3-ubyte"
LABELS_FILE = "train-labels-idx1-ubyte"
SOURCE = "http://yann.lecun.com/exdb/mnist/"
MNIST_SIDE = 28
# Padding 28 -> 32 gives convolution nets a power of two (32 -> 16 -> 8 -> 4) with the digit intact.
PADDED_SIDE = 32


def find_idx_file(folder: Path, name: str) -> Path:
    """`folder/name` or `folder/name.gz`, whichever exists; a MissingDataError says how to get it."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise MissingDataError(
        f"MNIST file {name} (or {name}.gz) not found in {folder}: get the MNIST files from {SOURCE} "
        f"(or any mirror) into that folder and set data.path=/folder"
    )


class MNISTDataModule(LabelledImageDataModule):
    """The 60,000 MNIST training digits; one factor, `digit` (10 values).

    Args:
        path: folder holding `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, each plain or
            `.gz` (as distributed). Required: nothing is downloaded.
        batch_size, num_workers, seed: of the training loader.

    Images are `(1, 32, 32)` in [0, 1]: the 28x28 digits with 2 black pixels of padding per side.
    The files are located on construction (so a wrong path fails at once) and read on first use.
    """

    factor_names = ("digit",)
    factor_sizes = (10,)
    observation_shape = (1, PADDED_SIDE, PADDED_SIDE)

    def __init__(self, path: str | None = None, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if path is None:
            raise MissingDataError(
                f"MNIST needs a local copy: put {IMAGES_FILE} and {LABELS_FILE} (plain or .gz) from {SOURCE} "
                "(or any mirror) in a folder and set data.path=/folder"
            )
        self.path = Path(path).expanduser()
        self.images_file = find_idx_file(self.path, IMAGES_FILE)
        self.labels_file = find_idx_file(self.path, LABELS_FILE)

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> MNISTDataModule:
        return cls(path=data.path, **loader_arguments(data, seed))

    def load_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        images = read_idx_ubyte(self.images_file, ndim=3)
        labels = read_idx_ubyte(self.labels_file, ndim=1)
        if images.shape[1:] != (MNIST_SIDE, MNIST_SIDE) or len(images) != len(labels) or labels.max() > 9:
            raise MissingDataError(
                f"{self.images_file} and {self.labels_file} are not MNIST: expected N images of "
                f"{MNIST_SIDE}x{MNIST_SIDE} and N labels 0..9, got {images.shape} and {labels.shape}"
            )
        padding = (PADDED_SIDE - MNIST_SIDE) // 2
        images = torch.from_numpy(images.copy()).unsqueeze(1).float() / 255.0
        images = F.pad(images, (padding, padding, padding, padding))
        return images, torch.from_numpy(labels.astype("int64"))
