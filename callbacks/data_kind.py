"""Which pictures and scores fit a datamodule, read from its `observation_shape` (no per-dataset code)."""
from __future__ import annotations


def is_image_data(datamodule) -> bool:
    """Images ``(C, H, W)`` in [0, 1]: traversal grids and ground-truth-factor scores."""
    return len(datamodule.observation_shape) == 3


def is_point_data(datamodule) -> bool:
    """Points in the plane ``(2,)``: scatter plots (and mixture scores when the data has ``modes``)."""
    return tuple(datamodule.observation_shape) == (2,)
