"""Inspect a saved model without training: ``python inspect_checkpoint.py ckpt=PATH [out=DIR] [key=value ...]``.

``inspect(...)`` does the work and is what tests call; ``main()`` only reads the command line. The run's
``config.yaml`` (next to ``checkpoints/``) rebuilds the datamodule and the model; the checkpoint's weights
are loaded; then the traversal pictures and the evaluation scores of the training callbacks are computed
by the same functions, with the same seeds, so the scores equal the run's ``eval/...`` values at that
iteration.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

USAGE = """\
usage: python inspect_checkpoint.py ckpt=PATH [out=DIR] [key=value ...]

Renders the latent traversal pictures and computes the evaluation scores of a checkpoint, prints the
scores and writes DIR/metrics.json and DIR/traversals/*.png.

  ckpt=PATH   a checkpoint inside a run folder (<run>/checkpoints/last.ckpt), or the run folder itself
  out=DIR     where to write (default: <run>/inspect)
  key=value   overrides of the run's config.yaml, e.g. for the reference-size evaluation:
              callbacks.metrics.num_train=10000 callbacks.metrics.num_test=5000
              callbacks.metrics.dci_n_estimators=100 callbacks.metrics.fidelity_samples=10000
"""


class InspectError(ValueError):
    """A checkpoint or configuration that cannot be inspected; the message is one line and says what to do."""


def locate(path: str | Path) -> tuple[Path, Path]:
    """``(checkpoint, run folder)`` of ``ckpt=``: a checkpoint in ``<run>/checkpoints/`` or the run folder."""
    from configs.loading import locate_run

    target, run_dir = locate_run(path)
    if not target.is_file():
        raise InspectError(f"checkpoint {target} not found; pass ckpt=<run folder>/checkpoints/last.ckpt of a run")
    if not (run_dir / "config.yaml").is_file():
        raise InspectError(f"{run_dir / 'config.yaml'} not found: the checkpoint must stay in "
                           "<run folder>/checkpoints/ next to the run's config.yaml")
    return target, run_dir


def run_config(run_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The run's ``config.yaml`` checked against the schema, with command-line ``overrides`` on top; old names
    of renamed keys are accepted in both, with a warning (configs/loading.py)."""
    from configs.loading import ConfigError, read_overrides, saved_config, validate

    try:
        cfg = saved_config(run_dir, read_overrides(overrides))  # the loader's reading, renamed keys included
        validate(cfg)
    except (OmegaConfBaseException, ConfigError) as error:
        message = str(error).strip().splitlines()[0]
        key = getattr(error, "full_key", None)
        raise InspectError(f"config of {run_dir}: {f'{key}: ' if key else ''}{message}") from None
    return cfg


def load_model(checkpoint_path: Path, cfg: DictConfig):
    """``(datamodule, model, iteration)``: both rebuilt from ``cfg``, the weights from the checkpoint."""
    from callbacks.checkpoint import CheckpointError, read_checkpoint
    from datamodules import MissingDataError
    from train import build_datamodule, build_model

    try:
        datamodule = build_datamodule(cfg)
        model = build_model(cfg, datamodule.observation_shape)
        checkpoint = read_checkpoint(checkpoint_path, model)  # readable, and the weights fit the model
    except (MissingDataError, CheckpointError, ValueError) as error:
        raise InspectError(str(error).strip().splitlines()[0]) from None
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return datamodule, model, int(checkpoint.get("global_step", 0)) // model.optimizer_steps_per_iteration


def evaluation_scores(cfg: DictConfig, model, datamodule) -> dict[str, float]:
    """The ``eval/...`` scores the training callbacks log for this data: the same evaluators
    (callbacks/evaluators.py), with the same settings and seeds."""
    from callbacks.disentanglement import DisentanglementMetrics, applicable_scores
    from callbacks.evaluators import build_evaluators

    scores: dict[str, float] = {}
    for evaluator in build_evaluators(cfg, datamodule):
        if isinstance(evaluator, DisentanglementMetrics):
            note = applicable_scores(model.latent_spec, datamodule)[2]
            if note:
                print(f"note: {note}", file=sys.stderr)
        scores.update(evaluator.evaluate(model))
    return scores


def inspect(checkpoint: str | Path, out_dir: str | Path | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Traversal pictures and evaluation scores of ``checkpoint``; returns what ``out/metrics.json`` holds.

    Args:
        checkpoint: a checkpoint in ``<run>/checkpoints/`` (or the run folder, meaning its ``last.ckpt``).
        out_dir: output folder, default ``<run>/inspect``; gets ``metrics.json`` and ``traversals/``.
        overrides: ``key=value`` changes of the run's configuration (``callbacks.*`` sizes, ``seed``, ...).

    Returns:
        ``{"eval/...": score, ..., "iterations": iteration of the checkpoint}``.

    Raises:
        InspectError: missing or unreadable checkpoint, missing ``config.yaml``, weights that do not fit.
    """
    from callbacks.traversal import render_traversals

    checkpoint_path, run_dir = locate(checkpoint)
    cfg = run_config(run_dir, overrides)
    datamodule, model, iteration = load_model(checkpoint_path, cfg)
    out = Path(out_dir) if out_dir is not None else run_dir / "inspect"
    out.mkdir(parents=True, exist_ok=True)
    traversal = cfg.callbacks.traversal
    render_traversals(model, datamodule, out / "traversals", f"step{iteration:06d}", num_seeds=traversal.num_seeds,
                      num_steps=traversal.num_steps, value_range=traversal.continuous_range,
                      num_points=traversal.num_points, seed=cfg.seed, title=f"{run_dir.name}, iteration {iteration}")
    result: dict[str, Any] = dict(sorted(evaluation_scores(cfg, model, datamodule).items()))
    result["iterations"] = iteration
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_table(result: dict[str, Any]) -> str:
    width = max([len("metric")] + [len(key) for key in result])
    lines = [f"{'metric':<{width}}  value"]
    lines += [f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}"
              for key, value in result.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(arg in ("-h", "--help", "help") for arg in argv):
        print(USAGE)
        return 0 if argv else 2
    named = {arg.split("=", 1)[0]: arg.split("=", 1)[1] for arg in argv if arg.startswith(("ckpt=", "out="))}
    overrides = [arg for arg in argv if not arg.startswith(("ckpt=", "out="))]
    bad = [arg for arg in overrides if "=" not in arg or arg.startswith("-")]
    if bad or "ckpt" not in named:
        problem = f"cannot read argument {bad[0]!r}" if bad else "missing ckpt=PATH"
        print(f"error: {problem}: usage: python inspect_checkpoint.py ckpt=PATH [out=DIR] [key=value ...]",
              file=sys.stderr)
        return 2
    try:
        result = inspect(named["ckpt"], named.get("out"), overrides)
    except InspectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(named["out"]) if "out" in named else locate(named["ckpt"])[1] / "inspect"
    print(format_table(result))
    print(f"written: {out / 'metrics.json'}, {out / 'traversals'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
