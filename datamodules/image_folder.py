"""Any folder of PNG and JPEG images, without factors or labels: the data a researcher brings."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch.utils.data import Dataset

from datamodules.base import FactorDataModule, dataset_section, loader_arguments
from datamodules.errors import MissingDataError
from datamodules.image_files import IMAGE_SUFFIXES, ImageFileDataset, find_images, readable_images

log = logging.getLogger(__name__)

RESOLUTIONS = (8, 16, 32, 64)
EXPECTED = f"a folder with images ({', '.join(IMAGE_SUFFIXES)}, in subfolders too)"


class ImageFolderDataModule(FactorDataModule):
    """Every PNG and JPEG under ``path``, center-cropped to a square and resized to ``resolution``.

    Args:
        path: the folder (searched recursively). Nothing else is read: no labels, no splits.
        resolution: image side, a power of two in 8..64.
        grayscale: one gray channel instead of RGB.
        batch_size, num_workers, seed: of the training loader.

    The data has no factors (``factor_names == ()``): metrics that need ground truth do not apply, and
    ``sample`` draws images uniformly. Files are listed and their headers checked on construction; pixels
    are decoded when a batch needs them. Unreadable files are skipped with one warning that counts them.
    """

    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    def __init__(self, path: str | None = None, resolution: int = 64, grayscale: bool = False,
                 batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if resolution not in RESOLUTIONS:
            raise ValueError(f"image_folder resolution must be one of {RESOLUTIONS}, got {resolution}")
        if path is None:
            raise MissingDataError(f"image_folder needs {EXPECTED}: set data.path=/folder")
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise MissingDataError(f"image folder not found: {self.path} - expected {EXPECTED}; set data.path=/folder")
        found = find_images(self.path)
        paths, skipped = readable_images(found)
        self.skipped = skipped
        if skipped:
            log.warning(f"image_folder: skipped {len(skipped)} of {len(found)} files under {self.path} that are "
                        f"not readable images (first: {skipped[0][0]}: {skipped[0][1]})")
        if not paths:
            raise MissingDataError(f"no readable image under {self.path} ({len(found)} image files found, "
                                   f"{len(skipped)} unreadable): expected {EXPECTED}; set data.path=/folder")
        self.observation_shape = (1 if grayscale else 3, resolution, resolution)
        self.dataset = ImageFileDataset(paths, resolution, grayscale)

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> ImageFolderDataModule:
        return cls(path=data.path, **dataset_section(data, "image_folder"), **loader_arguments(data, seed))

    def sample_factors(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.zeros(n, 0, dtype=torch.long)

    def observations_from_factors(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """With no factors, every image is an observation of the empty tuple: ``len(factors)`` images drawn
        uniformly with ``generator``."""
        index = torch.randint(len(self.dataset), (len(factors),), generator=generator)
        return torch.stack([self.dataset.image(int(i)) for i in index])

    def train_dataset(self) -> Dataset:
        return self.dataset
