"""Pictures of what every code dimension does, every N iterations and at the end of training.

Images: one traversal grid per code (callbacks/traversal_grid.py). 2D points: one scatter per code,
generated points coloured by the code's value over the real data (callbacks/code_scatter.py). Files
are ``run_dir/traversals/traversal_<code>_step<iteration>.png`` (``_final.png`` at the end) and, with
a W&B logger, images under ``traversal/<code>``. The latent draws are fixed by ``seed``, so the
pictures of one run are comparable over iterations.
"""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from callbacks.code_scatter import code_scatter_samples, plot_code_scatter
from callbacks.data_kind import is_image_data, is_point_data
from callbacks.eval_logging import should_run
from callbacks.interrupt import abandon_on_signal
from callbacks.traversal_grid import plot_traversal_grid, traversal_images


def render_traversals(model, datamodule, out_dir: str | Path, label: str, num_seeds: int = 4, num_steps: int = 9,
                      value_range: float = 2.0, num_points: int = 2000, seed: int = 0,
                      title: str = "") -> dict[str, Path]:
    """Write one PNG per code dimension of ``model`` to ``out_dir/traversal_<code>_<label>.png``.

    Args:
        model: has ``latent_spec`` and ``generate(latent)`` (a :class:`~lightning_modules.base.LatentGAN`).
        datamodule: gives ``observation_shape`` (images ``(C, H, W)`` or 2D points ``(2,)``); for points,
            ``sample`` draws the real data shown in grey and ``modes`` (if present) are marked.
        label: file-name suffix, e.g. ``step001000`` or ``final``.
        num_seeds, num_steps, value_range: images: rows, continuous columns, sweep ``[-range, range]``.
        num_points: points: generated and real points per scatter.
        seed: the latent draws (and real points); keep it fixed to compare pictures over training.
        title: shown above every picture, e.g. the iteration.

    Returns:
        ``{code name: path}``; empty for data that is neither images nor 2D points.
    """
    if not (is_image_data(datamodule) or is_point_data(datamodule)):
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = model.latent_spec
    num_categorical = len(spec.categorical_sizes)
    real = datamodule.sample(num_points, seed=seed)[0] if is_point_data(datamodule) else None
    paths: dict[str, Path] = {}
    for code, name in enumerate(spec.code_names):
        size = spec.categorical_sizes[code] if code < num_categorical else None
        if real is None:
            images, values = traversal_images(model, code, num_seeds, num_steps, value_range, seed)
            figure = plot_traversal_grid(images, values, name, size is not None, title)
        else:
            points, code_values = code_scatter_samples(model, code, num_points, seed)
            figure = plot_code_scatter(points, code_values, name, size, real, getattr(datamodule, "modes", None),
                                       title)
        paths[name] = out_dir / f"traversal_{name}_{label}.png"
        figure.savefig(paths[name], dpi=figure.dpi)
    return paths


class LatentTraversal(pl.Callback):
    """Renders :func:`render_traversals` every ``every_n_iterations`` and at the end of training, on rank 0,
    never under ``fast_dev_run``."""

    def __init__(self, out_dir: str | Path, datamodule, every_n_iterations: int, num_seeds: int = 4,
                 num_steps: int = 9, value_range: float = 2.0, num_points: int = 2000, seed: int = 0) -> None:
        self.out_dir = Path(out_dir)
        self.datamodule = datamodule
        self.every_n_iterations = every_n_iterations
        self.settings = dict(num_seeds=num_seeds, num_steps=num_steps, value_range=value_range,
                             num_points=num_points, seed=seed)

    def render(self, pl_module, label: str, title: str = "") -> dict[str, Path]:
        """The grids, or none when a signal abandoned them (callbacks/interrupt.py)."""
        finished, paths = abandon_on_signal(
            pl_module, f"iteration {pl_module.iteration}'s traversal grids",
            lambda: render_traversals(pl_module, self.datamodule, self.out_dir, label, title=title, **self.settings))
        return paths if finished else {}

    def log_images(self, trainer: pl.Trainer, iteration: int, paths: dict[str, Path], caption: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                for name, path in paths.items():
                    logger.log_image(key=f"traversal/{name}", images=[str(path)], step=iteration,
                                     caption=[f"{name}, {caption}"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if should_run(trainer, pl_module, self.every_n_iterations):
            iteration = pl_module.iteration
            paths = self.render(pl_module, f"step{iteration:06d}", f"iteration {iteration}")
            self.log_images(trainer, iteration, paths, f"iteration {iteration}")

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.fast_dev_run or not trainer.is_global_zero:
            return
        iteration = pl_module.iteration
        paths = self.render(pl_module, "final", f"end of training, iteration {iteration}")
        self.log_images(trainer, iteration, paths, f"end of training, iteration {iteration}")
