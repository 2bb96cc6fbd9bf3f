"""3DShapes: RGB renders of a 3D scene from six independent factors, read from the official file."""
from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from datamodules.base import dataset_section, loader_arguments
from datamodules.errors import MissingDataError
from datamodules.factor_grid import FactorGrid
from datamodules.grid_data import GridDataModule
from datamodules.shapes3d_archive import LAYOUT, OFFICIAL_NAME, Shapes3DArchive

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
RESOLUTIONS = (8, 16, 32, 64)


class Shapes3DDataModule(GridDataModule):
    """3DShapes (Burgess and Kim, 2018): every combination of floor, wall and object hue (10 each), scale (8),
    shape (4) and orientation (15), one 64 x 64 RGB image each - 480,000 images.

    Args:
        path: the official `3dshapes.h5` (never downloaded; see `datamodules.shapes3d_archive`).
        resolution: image side, a power of two in 8..64; 64 is the file's, smaller sides average blocks.
        floor_hue, wall_hue, object_hue, scale, shape, orientation: indices into each factor's values to
            keep (`None` keeps all), as for dSprites: `factor_sizes` counts the kept values.
        batch_size, num_workers, seed: of the training loader.

    Images are `(3, resolution, resolution)` in [0, 1], read per batch from the file.
    """

    factor_names = FACTOR_NAMES

    def __init__(
        self,
        path: str | None = None,
        resolution: int = 64,
        floor_hue: Sequence[int] | None = None,
        wall_hue: Sequence[int] | None = None,
        object_hue: Sequence[int] | None = None,
        scale: Sequence[int] | None = None,
        shape: Sequence[int] | None = None,
        orientation: Sequence[int] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if resolution not in RESOLUTIONS:
            raise ValueError(f"3dshapes resolution must be one of {RESOLUTIONS}, got {resolution}")
        if path is None:
            raise MissingDataError(f"3dshapes needs the official file: {LAYOUT}; pass data.path=/path/to/{OFFICIAL_NAME}")
        self.archive = self.observe = Shapes3DArchive(path, resolution)
        self.observation_shape = (3, resolution, resolution)
        subsets = (floor_hue, wall_hue, object_hue, scale, shape, orientation)
        self.grid = FactorGrid(FACTOR_NAMES, self.archive.sizes, subsets)

    @classmethod
    def from_config(cls, data: DictConfig, seed: int) -> Shapes3DDataModule:
        return cls(path=data.path, **dataset_section(data, "shapes3d"), **loader_arguments(data, seed))
