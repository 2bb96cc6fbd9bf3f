"""dSprites: 2D shapes from five independent factors, rendered procedurally or read from the official file."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from datamodules.base import dataset_section, loader_arguments
from datamodules.dsprites_archive import DSpritesArchive
from datamodules.factor_grid import FactorGrid
from datamodules.grid_data import GridDataModule
from datamodules.sprites import FULL_SIZES, SpriteRenderer

FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
RESOLUTIONS = (8, 16, 32, 64)


class DSpritesDataModule(GridDataModule):
    """dSprites (Matthey et al., 2017): every combination of shape (square, ellipse, heart), 6 scales,
    40 orientations and 32 x 32 positions, one binary image each - 737,280 images on the full grid.

    Args:
        path: the official `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`. `None` renders the
            same factor grid procedurally (see `datamodules.sprites` for the geometry), which needs
            no file; the two look alike but are not pixel-identical.
        resolution: image side, a power of two in 8..64. The file's 64x64 images are average-pooled
            (gray edges); procedural images are rendered at this size and stay binary.
        shape, scale, orientation, position_x, position_y: indices into the full grid of each
            factor to keep (`None` keeps all). Factor value `k` is the `k`-th listed index, and
            `factor_sizes` counts the kept values, e.g. `orientation=[0, 10, 20, 30]` gives a
            4-valued orientation factor.
        batch_size, num_workers, seed: of the training loader (the seed fixes its shuffling).

    The training set enumerates the (sub)grid; images are rendered or looked up per batch, never
    materialized for the whole grid.
    """

    factor_names = FACTOR_NAMES
    one_object_per_image = True

    def __init__(
        self,
        path: str | None = None,
        resolution: int = 32,
        shape: Sequence[int] | None = None,
        scale: Sequence[int] | None = None,
        orientation: Sequence[int] | None = None,
        position_x: Sequence[int] | None = None,
        position_y: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if resolution not in RESOLUTIONS:
            raise ValueError(f"dSprites resolution must be one of {RESOLUTIONS}, got {resolution}")
        self.path = path
        self.resolution = resolution
        self.observation_shape = (1, resolution, resolution)
        if path is None:
            self.observe = SpriteRenderer(resolution)
            full_sizes = FULL_SIZES
        else:
            archive = DSpritesArchive(Path(path), resolution)
            self.observe = archive
            full_sizes = archive.sizes
        subsets = (shape, scale, orientation, position_x, position_y)
        self.grid = FactorGrid(FACTOR_NAMES, full_sizes, subsets)

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> DSpritesDataModule:
        return cls(path=data.path, **dataset_section(data, "dsprites"), **loader_arguments(data, seed))
