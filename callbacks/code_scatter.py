"""What a code does on 2D data: generated points coloured by their code value, over the real data.

On a Gaussian mixture an informative categorical code gives each mode its own colour (each value's
number is written at the median of its points); a collapsed or uninformative code mixes colours
within modes. Continuous codes are shown on a diverging colour scale.
"""
from __future__ import annotations

import math

import matplotlib
import matplotlib.patheffects as path_effects
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from callbacks.eval_mode import eval_mode, model_device

DPI = 100
CONTINUOUS_CMAP = "coolwarm"


def code_palette(num_values: int) -> np.ndarray:
    """``(num_values, 4)`` RGBA colours, as distinct as possible and none of them gray (the real data's
    colour): tab10 up to 10 values; then tab20's dark and light halves without their grays and two
    shades of each tab20b hue (28 colours); beyond that evenly spaced hues."""
    if num_values <= 10:
        return matplotlib.colormaps["tab10"](np.arange(num_values))
    tab20 = matplotlib.colormaps["tab20"](np.delete(np.arange(20), [14, 15]))
    tab20b = matplotlib.colormaps["tab20b"](np.r_[0:20:4, 2:20:4])
    colours = np.concatenate([tab20[0::2], tab20[1::2], tab20b])
    if num_values <= len(colours):
        return colours[:num_values]
    return matplotlib.colormaps["hsv"](np.arange(num_values) / num_values)


def code_scatter_samples(model, code: int, num_points: int = 2000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``num_points`` generated points ``(n, 2)`` from fixed prior draws, and the value of code ``code``
    (numbered as in ``latent_spec.code_names``) of each, ``(n,)``, both on the CPU."""
    latent = model.latent_spec.sample(num_points, torch.Generator().manual_seed(seed))
    with eval_mode(model):
        points = model.generate(latent.to(model_device(model))).float().cpu()
    return points, latent.codes()[:, code]


def view_limits(real: Tensor) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits framing the real data with a margin (generated points far off are counted, not shown)."""
    low, high = real.min(0).values, real.max(0).values
    pad = 0.15 * (high - low).max().clamp_min(1e-6)
    return (float(low[0] - pad), float(high[0] + pad)), (float(low[1] - pad), float(high[1] + pad))


def plot_code_scatter(points: Tensor, code_values: Tensor, code_name: str, num_values: int | None,
                      real: Tensor, modes: Tensor | None = None, title: str = "") -> Figure:
    """Scatter of generated ``points`` coloured by ``code_values``, over ``real`` points in light grey.

    Args:
        num_values: the size of a categorical code (colours from :func:`code_palette`, one legend entry
            per value); ``None`` for a continuous code (colour bar over the prior's range [-1, 1]).
        modes: mixture centres ``(K, 2)``, drawn as black crosses, or ``None``.
    """
    categorical = num_values is not None
    figure = Figure(figsize=(8.4 if categorical else 7.4, 6.4), dpi=DPI)
    axes = figure.add_axes((0.08, 0.08, 0.66 if categorical else 0.72, 0.84))
    axes.scatter(real[:, 0], real[:, 1], s=4, color="0.85", linewidths=0, label="real", zorder=1)
    if categorical:
        values = code_values.long().numpy()
        palette = code_palette(num_values)
        axes.scatter(points[:, 0], points[:, 1], s=6, c=palette[values], linewidths=0, label="generated", zorder=2)
    else:
        collection = axes.scatter(points[:, 0], points[:, 1], s=6, c=code_values.numpy(), cmap=CONTINUOUS_CMAP,
                                  vmin=-1, vmax=1, linewidths=0, label="generated", zorder=2)
        figure.colorbar(collection, ax=axes, fraction=0.05, pad=0.02, label=f"{code_name} value")
    if modes is not None:
        axes.scatter(modes[:, 0], modes[:, 1], marker="x", s=30, color="black", linewidths=1, label="modes", zorder=3)
    (x0, x1), (y0, y1) = view_limits(real)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    axes.set_aspect("equal", adjustable="box")
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    if categorical:
        _label_values(axes, points[inside], values[inside.numpy()], num_values)
        handles = [Line2D([], [], marker="o", linestyle="", markersize=5, color=palette[v], label=str(v))
                   for v in range(num_values)]
        figure.legend(handles=handles, title=code_name, loc="center left", bbox_to_anchor=(0.76, 0.5),
                      ncol=math.ceil(num_values / 15), fontsize=8, title_fontsize=9, frameon=False,
                      handletextpad=0.1, columnspacing=0.8)
    outside = int((~inside).sum())
    note = f"{len(points)} generated points" + (f", {outside} outside the view" if outside else "")
    axes.set_title(f"{title}\n{note}" if title else note, fontsize=10)
    axes.tick_params(labelsize=8)
    return figure


def _label_values(axes, points: Tensor, values: np.ndarray, num_values: int) -> None:
    """Each code value's number at the median of its points, outlined in white to stay readable."""
    for value in range(num_values):
        mine = points[torch.from_numpy(values == value)]
        if len(mine):
            x, y = mine.median(0).values.tolist()
            text = axes.text(x, y, str(value), fontsize=7, ha="center", va="center", zorder=4)
            text.set_path_effects([path_effects.withStroke(linewidth=2, foreground="white")])

