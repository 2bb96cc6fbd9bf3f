"""Latent traversal grids of images: what one code dimension does to generated images.

Rows are fixed draws of all other latents (the same draws for every code and at every iteration, so
grids are comparable over training); columns sweep one code - every value of a categorical code, evenly
spaced values in ``[-range, range]`` for a continuous one (whose prior is uniform on [-1, 1], so the
outer columns extrapolate). A disentangled code changes one property of the image along each row.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from callbacks.eval_mode import eval_mode, model_device

CELL_PIXELS = 64  # images are enlarged by an integer factor to at least this many pixels a side
GAP_PIXELS = 2  # between images, in the gap colour
GAP_COLOUR = (0.12, 0.47, 0.71)  # matplotlib's tab:blue, distinct from any gray image content
DPI = 100
# Pixel margins around the grid: row labels on the left; title, code name and column values on top.
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 78, 12
MIN_WIDTH = 400  # room for the title when a code has few values


def traversal_images(model, code: int, num_seeds: int = 4, num_steps: int = 9, value_range: float = 2.0,
                     seed: int = 0) -> tuple[Tensor, list[float]]:
    """Generated images of a traversal of code dimension ``code`` (numbered as in ``latent_spec.code_names``).

    Returns a CPU tensor ``(num_seeds, columns, C, H, W)`` and the code value of each column.
    ``model`` needs ``latent_spec`` and ``generate(latent)``; it is evaluated in eval mode.
    """
    latent, values = model.latent_spec.traversal(code, num_seeds, num_steps, value_range,
                                                 torch.Generator().manual_seed(seed))
    with eval_mode(model):
        images = model.generate(latent.to(model_device(model))).float().cpu()
    return images.view(num_seeds, len(values), *images.shape[1:]), values


def mosaic(images: Tensor) -> np.ndarray:
    """``(rows, columns, C, H, W)`` images in [0, 1] (1 channel: gray, 3: RGB) tiled into one RGB array
    ``(height, width, 3)``, each image enlarged to about :data:`CELL_PIXELS` and separated by
    :data:`GAP_PIXELS` of :data:`GAP_COLOUR`."""
    rows, columns, channels, height, width = images.shape
    if channels not in (1, 3):
        raise ValueError(f"traversal grids show gray or RGB images, got {channels} channels")
    scale = max(1, math.ceil(CELL_PIXELS / max(height, width)))
    cells = images.clamp(0, 1).expand(-1, -1, 3, -1, -1)
    cells = cells.repeat_interleave(scale, dim=3).repeat_interleave(scale, dim=4)
    cell_h, cell_w = height * scale, width * scale
    canvas = torch.tensor(GAP_COLOUR).view(3, 1, 1).repeat(
        1, rows * (cell_h + GAP_PIXELS) - GAP_PIXELS, columns * (cell_w + GAP_PIXELS) - GAP_PIXELS)
    for r in range(rows):
        for c in range(columns):
            top, left = r * (cell_h + GAP_PIXELS), c * (cell_w + GAP_PIXELS)
            canvas[:, top:top + cell_h, left:left + cell_w] = cells[r, c]
    return canvas.permute(1, 2, 0).numpy()


def format_value(value: float, categorical: bool) -> str:
    return str(int(value)) if categorical else f"{value:.2g}"


def plot_traversal_grid(images: Tensor, values: list[float], code_name: str, categorical: bool,
                        title: str = "") -> Figure:
    """The grid as a labelled figure: column labels are the code values, row labels the latent draws.

    The grid is drawn pixel for pixel (no resampling) at a fixed position, so the figure's size in
    pixels depends only on the grid's shape and frames of one code are comparable over a run.
    """
    rows, columns = images.shape[:2]
    array = mosaic(images)
    grid_h, grid_w = array.shape[:2]
    width, height = max(MIN_WIDTH, LEFT + grid_w + RIGHT), TOP + grid_h + BOTTOM
    left = LEFT + (width - LEFT - grid_w - RIGHT) // 2  # a narrow grid is centred
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = figure.add_axes((left / width, BOTTOM / height, grid_w / width, grid_h / height))
    axes.imshow(array, interpolation="nearest", aspect="auto")
    cell_w = (grid_w + GAP_PIXELS) / columns
    cell_h = (grid_h + GAP_PIXELS) / rows
    axes.set_xticks([(c + 0.5) * cell_w - GAP_PIXELS / 2 - 0.5 for c in range(columns)],
                    [format_value(v, categorical) for v in values], fontsize=8)
    axes.set_yticks([(r + 0.5) * cell_h - GAP_PIXELS / 2 - 0.5 for r in range(rows)],
                    [f"z{r + 1}" for r in range(rows)], fontsize=8)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    kind = f"categorical, {len(values)} values" if categorical else "continuous, prior U[-1, 1]"
    axes.set_xlabel(f"{code_name} ({kind})", fontsize=9)
    axes.set_ylabel("other latents", fontsize=9)
    axes.tick_params(length=0, pad=2)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        figure.suptitle(title, x=0.5, y=1 - 6 / height, va="top", fontsize=10)
    return figure
