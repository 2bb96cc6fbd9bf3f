"""The official 3DShapes file, `3dshapes.h5`, read lazily as a factor grid with h5py.

The file holds two datasets: `images`, `(480000, 64, 64, 3)` uint8 RGB, and `labels`, `(480000, 6)` float64,
the factor values of each image: floor hue, wall hue, object hue (10 values each in [0, 1)), scale (8
values in [0.75, 1.25]), shape (4: cube, cylinder, sphere, capsule) and orientation (15 angles in [-30, 30]).
Factor value `k` of a column is its `k`-th smallest label value, and the grid is inferred from the labels
(so a reduced file of the same layout reads the same way, in any row order).

Only the labels (23 MB) are read on construction; images are read per batch, by row, from a handle that
each process opens for itself (h5py handles must not cross a fork, and cannot be pickled), so
DataLoader workers each read with their own and the 6 GB of images never sit in memory.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from datamodules.errors import MissingDataError
from datamodules.factor_grid import grid_rows, ravel_factors

OFFICIAL_NAME = "3dshapes.h5"
SOURCE = "https://github.com/deepmind/3d-shapes (gs://3d-shapes/3dshapes.h5)"
LAYOUT = ("datasets 'images' (N, 64, 64, 3) uint8 and 'labels' (N, 6) float64, as in the official "
          f"{OFFICIAL_NAME} from {SOURCE}")
NUM_FACTORS = 6


class Shapes3DArchive:
    """Images of the 3dshapes h5 at `path`, looked up by full-grid factor tuple at `resolution`.

    `resolution` must divide the stored image side; blocks of pixels are averaged.

    Attributes:
        sizes: values per factor (10, 10, 10, 8, 4, 15 in the official file).
        values: per factor, its label values in factor-value order (e.g. the 15 orientations in degrees).
    """

    def __init__(self, path: str | Path, resolution: int) -> None:
        self.path = Path(path).expanduser()
        self.resolution = resolution
        if not self.path.is_file():
            raise MissingDataError(f"3dshapes file not found: {self.path} - expected {LAYOUT}; "
                                   f"pass data.path=/path/to/{OFFICIAL_NAME}")
        try:
            with h5py.File(self.path, "r") as file:
                images, labels = (self._dataset(file, key) for key in ("images", "labels"))
                image_shape, image_dtype = images.shape, images.dtype
                label_values = labels[()] if labels.ndim == 2 and labels.shape[1] == NUM_FACTORS else None
                labels_shape = labels.shape
        except OSError as error:
            raise MissingDataError(f"{self.path} is not a readable HDF5 file ({error}): expected {LAYOUT}") from None
        if label_values is None:
            raise MissingDataError(f"{self.path}: labels has shape {labels_shape}, expected {LAYOUT}")
        num_images = len(label_values)
        if (len(image_shape) != 4 or image_shape[0] != num_images or image_shape[1] != image_shape[2]
                or image_shape[3] != 3 or image_dtype != np.uint8):
            raise MissingDataError(f"{self.path}: images is {image_shape} {image_dtype} for {num_images} labels, "
                                   f"expected {LAYOUT}")
        self.image_size = int(image_shape[1])
        if self.image_size % resolution:
            raise ValueError(f"3dshapes resolution {resolution} does not divide the file's image size {self.image_size}")
        columns = [np.unique(label_values[:, k], return_inverse=True) for k in range(NUM_FACTORS)]
        self.values = tuple(torch.from_numpy(values) for values, _ in columns)
        factors = torch.from_numpy(np.stack([classes.reshape(-1) for _, classes in columns], 1).astype(np.int64))
        try:
            self.sizes, self.row_of_index = grid_rows(factors)
        except ValueError as error:
            raise MissingDataError(f"{self.path}: labels {error}; expected {LAYOUT}") from None
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _dataset(self, file: h5py.File, key: str) -> h5py.Dataset:
        if not isinstance(file.get(key), h5py.Dataset):
            raise MissingDataError(f"{self.path} has no dataset '{key}': expected {LAYOUT}")
        return file[key]

    def _images(self) -> h5py.Dataset:
        """The `images` dataset through this process's own handle (opened on first use after a fork)."""
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file["images"]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}

    def __call__(self, factors: torch.Tensor) -> torch.Tensor:
        """Images `(n, 3, resolution, resolution)` in [0, 1] of full-grid factor tuples `(n, 6)`."""
        rows = self.row_of_index[ravel_factors(factors, self.sizes)].numpy()
        # h5py reads a list of rows only in increasing order, each once.
        unique, inverse = np.unique(rows, return_inverse=True)
        stored = torch.from_numpy(self._images()[unique][inverse.reshape(-1)])
        images = stored.permute(0, 3, 1, 2).float() / 255.0
        block = self.image_size // self.resolution
        return F.avg_pool2d(images, block) if block > 1 else images
