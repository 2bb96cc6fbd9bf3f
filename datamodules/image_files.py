"""Image files on disk: found under a folder, checked, and decoded one at a time with Pillow.

A folder a researcher brings may hold a few broken files (a truncated download, a text file named
``.jpg``). They must not stop a run hours in: files whose header Pillow cannot read are left out when the
folder is listed, and an image that fails later, while its pixels are decoded, is replaced by the next
readable one. Both are counted and reported once.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from datamodules.errors import MissingDataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# What a broken file raises in Pillow: unknown format, truncated data, bad header values.
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


def find_images(folder: Path) -> list[Path]:
    """Every PNG and JPEG under ``folder`` (recursively, suffix case ignored), in sorted path order."""
    found = [Path(root) / name for root, _, names in os.walk(folder, followlinks=True) for name in names
             if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def readable_images(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``(readable, skipped)``: the files whose header Pillow reads (a few bytes each, no decoding), and the
    others with the reason."""
    readable, skipped = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - the header is parsed on open; size proves it was
            readable.append(path)
        except DECODE_ERRORS as error:
            skipped.append((path, f"{type(error).__name__}: {str(error).strip()[:120]}"))
    return readable, skipped


def load_image(path: Path, resolution: int, grayscale: bool) -> torch.Tensor:
    """The image at ``path`` as ``(C, resolution, resolution)`` float32 in [0, 1] (C = 1 gray, 3 RGB).

    The largest centred square is cropped, then resized: by area averaging when it shrinks (as dSprites and
    3DShapes are reduced), bicubic when it grows. A square image of side ``resolution`` keeps its pixels.
    """
    with Image.open(path) as image:
        image = image.convert("L" if grayscale else "RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        method = Image.Resampling.BOX if side > resolution else Image.Resampling.BICUBIC
        image = image.resize((resolution, resolution), method)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    pixels = pixels.unsqueeze(0) if grayscale else pixels.permute(2, 0, 1)
    return pixels.float() / 255.0


class ImageFileDataset(Dataset):
    """Items ``(image, factors)`` of image files decoded on access; ``factors`` is empty (no factor known).

    An image that fails to decode is replaced by the next one in the list that does (so a batch keeps its
    size); ``failed`` holds the indices that failed in this process, and the first failure is logged.
    """

    def __init__(self, paths: Sequence[Path], resolution: int, grayscale: bool) -> None:
        self.paths = list(paths)
        self.resolution = resolution
        self.grayscale = grayscale
        self.failed: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> torch.Tensor:
        """The image of ``index``, or of the next decodable file."""
        for step in range(len(self.paths)):
            candidate = (index + step) % len(self.paths)
            if candidate in self.failed:
                continue
            try:
                return load_image(self.paths[candidate], self.resolution, self.grayscale)
            except DECODE_ERRORS as error:
                if not self.failed:
                    log.warning(f"image_folder: {self.paths[candidate]} could not be decoded "
                                f"({type(error).__name__}: {str(error).strip()[:120]}); it and any other such image "
                                "are replaced by the next readable one")
                self.failed.add(candidate)
        folder = os.path.commonpath([str(p) for p in self.paths])
        raise MissingDataError(f"none of the {len(self.paths)} images under {folder} could be decoded")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(index), torch.zeros(0, dtype=torch.long)
