"""A procedural renderer of the dSprites factor grid: binary images of a square, an ellipse or a heart.

Geometry, in units of the image width (so it is the same at every resolution):

* a shape of `scale` s has half-size `h = HALF_SIZE * s`; the square is `[-h, h]^2`, the ellipse
  has semi-axes `h` and `h / 2` (aspect 2, so its orientation is visible), the heart is the region
  `(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0` scaled to half-width `h` and centred on its bounding box;
* scales are `linspace(0.5, 1, 6)`, orientations `2 pi k / 40` (counter-clockwise, about the
  shape's centre), positions `linspace(0, 1, 32)`;
* position p puts the centre at `MARGIN + p (1 - 2 MARGIN)` (x from the left, y from the top), where
  `MARGIN = sqrt(2) HALF_SIZE` is the largest distance of any shape point from its centre: at every
  position, scale and orientation the whole shape stays inside the frame, and the extreme positions
  touch it, as in dSprites.

Each pixel is the majority vote of `SUPERSAMPLING^2` sample points, which keeps the smallest shapes
recognisable at low resolution (and the most-covered pixel is always on, so no image is empty).
Rendering uses only table look-ups and elementwise arithmetic, so a factor tuple gives bit-identical
pixels alone or in any batch. At orientation 0 the heart points down and the ellipse lies flat.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

SHAPES = ("square", "ellipse", "heart")
NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS = 6, 40, 32
FULL_SIZES = (len(SHAPES), NUM_SCALES, NUM_ORIENTATIONS, NUM_POSITIONS, NUM_POSITIONS)

HALF_SIZE = 0.15
MARGIN = math.sqrt(2.0) * HALF_SIZE
SUPERSAMPLING = 4
ELLIPSE_ASPECT = 2.0

# Heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 = 0 spans x in [-HEART_HALF_WIDTH, HEART_HALF_WIDTH] and
# y in [-1, 1.236]; HEART_CENTRE_Y centres it vertically, and its farthest point is then 1.17 h
# away (< sqrt(2) h, so MARGIN holds for it too).
HEART_HALF_WIDTH = 1.139
HEART_CENTRE_Y = 0.118

# Rotating by these many orientation steps maps the shape onto itself (quarter turn for the square,
# half turn for the ellipse). Reducing the orientation index modulo them makes symmetric
# orientations render identical pixels instead of pixels that differ by float rounding.
SYMMETRY_PERIOD = torch.tensor([NUM_ORIENTATIONS // 4, NUM_ORIENTATIONS // 2, NUM_ORIENTATIONS])

# Whether points (u, v) of the shape's frame, in half-sizes, lie inside the shape.
InsideTest = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Sample points rendered at once (16 MB per float tensor): small enough to stay in memory bounds,
# large enough that the per-operation cost of torch's thread pool is paid rarely.
CHUNK_SAMPLES = 1 << 22


class SpriteRenderer:
    """Renders full-grid factor tuples `(shape, scale, orientation, position_x, position_y)`.

    Args:
        resolution: image side in pixels.
    """

    def __init__(self, resolution: int) -> None:
        self.resolution = resolution
        self.scales = torch.linspace(0.5, 1.0, NUM_SCALES)
        self.positions = torch.linspace(0.0, 1.0, NUM_POSITIONS)
        angles = torch.arange(NUM_ORIENTATIONS, dtype=torch.float64) * (2 * math.pi / NUM_ORIENTATIONS)
        self.cos, self.sin = angles.cos().float(), angles.sin().float()
        # Only a window around the shape is sampled; its side covers the largest shape (in pixels).
        self.window = 2 * math.ceil(MARGIN * resolution) + 2
        subpixel = (torch.arange(SUPERSAMPLING, dtype=torch.float32) + 0.5) / SUPERSAMPLING
        self.sample_offsets = (torch.arange(self.window, dtype=torch.float32)[:, None] + subpixel).reshape(-1)

    def __call__(self, factors: torch.Tensor) -> torch.Tensor:
        """Binary images `(n, 1, resolution, resolution)` (float32, 0 or 1) of `factors` `(n, 5)`."""
        factors = torch.as_tensor(factors, dtype=torch.long).reshape(-1, len(FULL_SIZES))
        images = torch.zeros(len(factors), 1, self.resolution, self.resolution)
        rows_per_chunk = max(1, CHUNK_SAMPLES // len(self.sample_offsets) ** 2)
        # One shape at a time, so every chunk evaluates a single implicit function.
        for shape_id, contains in enumerate((_in_square, _in_ellipse, _in_heart)):
            rows = (factors[:, 0] == shape_id).nonzero().squeeze(1)
            for chunk in rows.split(rows_per_chunk):
                images[chunk, 0] = self._render(factors[chunk], contains)
        return images

    def _render(self, factors: torch.Tensor, contains: InsideTest) -> torch.Tensor:
        shape, scale, orientation, position_x, position_y = factors.unbind(1)
        n, side, window = len(factors), self.resolution, self.window
        centre_x = (MARGIN + self.positions[position_x] * (1 - 2 * MARGIN)) * side
        centre_y = (MARGIN + self.positions[position_y] * (1 - 2 * MARGIN)) * side
        half_size = (HALF_SIZE * side) * self.scales[scale]
        orientation = orientation % SYMMETRY_PERIOD[shape]
        cos, sin = self.cos[orientation], self.sin[orientation]

        # Window origin (integer pixel) and sample coordinates in pixels, relative to the centre;
        # `up` points to the top of the image so that orientation is counter-clockwise.
        origin_x = centre_x.floor().long() - window // 2
        origin_y = centre_y.floor().long() - window // 2
        right = (origin_x[:, None] + self.sample_offsets) - centre_x[:, None]
        up = centre_y[:, None] - (origin_y[:, None] + self.sample_offsets)
        right, up = right[:, None, :], up[:, :, None]
        # Shape frame: undo the rotation, then measure in half-sizes. The per-row coefficients
        # multiply the per-row coordinate vectors, so only the final sums are full-size tensors.
        cos, sin = (cos / half_size)[:, None, None], (sin / half_size)[:, None, None]
        u = cos * right + sin * up
        v = cos * up - sin * right

        samples = contains(u, v).view(n, window, SUPERSAMPLING, window, SUPERSAMPLING)
        votes = samples.sum((2, 4), dtype=torch.int32)
        # Majority vote; the most-covered pixels always count, so that a shape smaller than a pixel
        # (scale 0.5 at 8x8) still leaves a mark instead of an empty image.
        most = votes.amax((1, 2), keepdim=True)
        patch = ((2 * votes >= SUPERSAMPLING**2) | ((votes == most) & (most > 0))).float()

        # Paste each window into a canvas padded by a window on every side, then crop the image.
        canvas = torch.zeros(n, side + 2 * window, side + 2 * window)
        steps = torch.arange(window)
        rows_index = (origin_y + window)[:, None, None] + steps[None, :, None]
        cols_index = (origin_x + window)[:, None, None] + steps[None, None, :]
        canvas[torch.arange(n)[:, None, None], rows_index, cols_index] = patch
        return canvas[:, window : window + side, window : window + side]


def _in_square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1


def _in_ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u * u + (ELLIPSE_ASPECT * ELLIPSE_ASPECT) * (v * v) <= 1


def _in_heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x = u * HEART_HALF_WIDTH
    y = v * HEART_HALF_WIDTH + HEART_CENTRE_Y
    x2, y2 = x * x, y * y
    r = x2 + y2 - 1
    return r * r * r <= x2 * (y2 * y)
