"""The official dSprites file, `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`, read as a factor grid.

The archive holds `imgs` (one 64x64 0/1 image per factor tuple), `latents_classes` (the tuple's
class indices: colour, shape, scale, orientation, position x, position y) and `latents_values`.
The grid is inferred from `latents_classes` (number of classes = max + 1 per column) instead of
being hard-coded, so a reduced archive of the same layout reads the same way.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from datamodules.errors import MissingDataError
from datamodules.factor_grid import grid_rows, ravel_factors

OFFICIAL_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SOURCE = "https://github.com/deepmind/dsprites-dataset"
REQUIRED_KEYS = ("imgs", "latents_classes", "latents_values")
# Column 0 of `latents_classes` is the colour, a single value in dSprites: not a factor.
FACTOR_COLUMNS = slice(1, 6)


class DSpritesArchive:
    """Images of the dSprites npz at `path`, looked up by full-grid factor tuple at `resolution`.

    The factor classes are read (and checked to enumerate a complete grid) on construction; the
    images (2.9 GB for the official file) only when first looked up, then kept in memory.
    `resolution` must divide the stored image size; blocks of pixels are averaged (gray edges).
    """

    def __init__(self, path: str | Path, resolution: int) -> None:
        self.path = Path(path).expanduser()
        self.resolution = resolution
        if not self.path.is_file():
            raise MissingDataError(
                f"dSprites file not found: {self.path} - it is the official dSprites npz "
                f"({OFFICIAL_NAME}) from {SOURCE}; pass data.path=/path/to/{OFFICIAL_NAME}, "
                "or drop data.path for the procedural dSprites"
            )
        self._archive = self._open()
        classes = self._archive["latents_classes"]
        if classes.ndim != 2 or classes.shape[1] != 6:
            raise MissingDataError(
                f"{self.path}: latents_classes has shape {classes.shape}, expected (N, 6) as in {OFFICIAL_NAME}"
            )
        factors = torch.from_numpy(classes[:, FACTOR_COLUMNS].astype(np.int64))
        try:
            # The official file is already in grid order, but this costs one pass and accepts any order
            # while catching missing or repeated tuples.
            self.sizes, self.row_of_index = grid_rows(factors)
        except ValueError as error:
            raise MissingDataError(f"{self.path}: latents_classes {error}") from None
        self.image_shape = self._stored_shape("imgs")
        num_images, height, width = (self.image_shape + (0, 0, 0))[:3]
        if len(self.image_shape) != 3 or num_images != len(factors) or height != width:
            raise MissingDataError(
                f"{self.path}: imgs has shape {self.image_shape}, expected ({len(factors)}, H, H) like latents_classes"
            )
        self.image_size = self.image_shape[-1]
        if self.image_size % resolution:
            raise ValueError(
                f"dSprites resolution {resolution} does not divide the file's image size {self.image_size}"
            )
        self._images: torch.Tensor | None = None
        self._peak = 1.0

    def _open(self) -> np.lib.npyio.NpzFile:
        try:
            archive = np.load(self.path)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise MissingDataError(f"{self.path} is not a readable npz file ({error})") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise MissingDataError(f"{self.path} is a single array, expected the npz archive {OFFICIAL_NAME}")
        for key in REQUIRED_KEYS:
            if key not in archive.files:
                raise MissingDataError(
                    f"{self.path} has no key '{key}': expected the official dSprites npz {OFFICIAL_NAME} from {SOURCE}"
                )
        return archive

    def _stored_shape(self, key: str) -> tuple[int, ...]:
        # Reads only the .npy header inside the zip, so the shape is known before the images load.
        with self._archive.zip.open(f"{key}.npy") as stored:
            if np.lib.format.read_magic(stored) == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(stored)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(stored)
        return tuple(int(dim) for dim in shape)

    def __getstate__(self) -> dict:
        # DataLoader workers may receive a pickled copy; an open zip handle cannot travel.
        return {**self.__dict__, "_archive": None}

    @property
    def images(self) -> torch.Tensor:
        """All images `(N, H, H)` as stored (uint8 in the official file), loaded on first use."""
        if self._images is None:
            if self._archive is None:
                self._archive = self._open()
            images = self._archive["imgs"]
            # dSprites stores 0/1; a 0..255 variant is rescaled to [0, 1] as well.
            self._peak = 255.0 if images.max() > 1 else 1.0
            self._images = torch.from_numpy(images)
        return self._images

    def __call__(self, factors: torch.Tensor) -> torch.Tensor:
        """Images `(n, 1, resolution, resolution)` in [0, 1] of full-grid factor tuples `(n, 5)`."""
        rows = self.row_of_index[ravel_factors(factors, self.sizes)]
        images = self.images[rows].unsqueeze(1).float()
        images = images / self._peak
        block = self.image_size // self.resolution
        return F.avg_pool2d(images, block) if block > 1 else images
