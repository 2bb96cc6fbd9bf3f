"""What the quality benchmarks share: train every model on every seed with the same preset and
iterations (through ``train.train``, as ``python train.py`` would), and tabulate scores as mean ± std
over seeds with the worst seed beside them."""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
from pathlib import Path

from benchmarks.report import RESULTS
from callbacks.training_clock import TRAINING_SECONDS, TRAINING_SPEED
from configs.loading import load_config
from train import train

# Switches every benchmark run uses: no W&B, no progress bar.
QUIET = ["logger.mode=disabled", "trainer.enable_progress_bar=false"]


def train_run(preset: str, model: str, seed: int, out: Path, overrides: list[str]) -> dict:
    """Train ``model`` on ``preset`` with ``seed`` into ``out/<model>_seed<seed>``; returns its summary
    and ``run_dir``."""
    run_dir = out / f"{model}_seed{seed}"
    summary = train(load_config([f"experiment={preset}", f"model.name={model}", f"seed={seed}",
                                 f"run_dir={run_dir}", *QUIET, *overrides]))
    return {**summary, "run_dir": run_dir}


def equal_time_iterations(results: dict[str, list[dict]], reference: str, reference_iterations: int,
                          models: list[str]) -> dict[str, int]:
    """Iterations that take each of ``models`` as long as ``reference_iterations`` take ``reference``.

    The speeds are those of the equal-step runs in ``results`` (median over seeds of their training
    iterations per second, start-up and evaluation left out): thousands of iterations each, under the
    conditions the timed runs will have. Short probe runs are too noisy (docs/design.md, "Comparing models at equal wall-clock").
    """
    speed = {m: statistics.median(r[TRAINING_SPEED] for r in results[m]) for m in dict.fromkeys([reference, *models])}
    return {m: max(1, round(reference_iterations * speed[m] / speed[reference])) for m in models}


def benchmark_runs(preset: str, seeds: list[int], out: Path, overrides: dict[str, list[str]], steps: int,
                   equal_time: bool) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Every model of ``overrides`` (model -> its settings) on every seed for ``steps`` iterations; with
    ``equal_time`` also every other model for the wall-clock time informative_ot takes (its iterations
    scaled by :func:`equal_time_iterations`). Returns both result sets (the second empty without it).

    The runs go seed by seed, every model in turn, so that a change in the machine's load slows every
    model alike: run model by model, a test suite sharing the cores during the OT runs once gave InfoGAN
    1.5x the iterations that take its time on a quiet machine (docs/design.md, "Comparing models at equal wall-clock")."""
    def runs(models: list[str], folder: Path, iterations: dict[str, int]) -> dict[str, list[dict]]:
        results: dict[str, list[dict]] = {model: [] for model in models}
        for seed in seeds:
            for model in models:
                settings = [*overrides[model], f"trainer.max_steps={iterations[model]}"]
                results[model].append(train_run(preset, model, seed, folder, settings))
        return results

    results = runs(list(overrides), out, dict.fromkeys(overrides, steps))
    baselines = [model for model in overrides if model != "informative_ot"]
    if not equal_time or "informative_ot" not in overrides or not baselines:
        return results, {}
    return results, runs(baselines, out / "equal_time", equal_time_iterations(results, "informative_ot", steps, baselines))


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3g} ± {spread:.2g}"


def score_table(results: dict[str, list[dict]], scores: dict[str, str], worst_by: tuple[str, ...]) -> str:
    """A markdown table: one row per model, ``scores`` (summary key -> column title) as mean ± std over
    seeds, the worst seed (lowest ``worst_by`` scores, compared in order) written out, the mean seconds and
    iterations per second of training (start-up and evaluation left out) and the iterations."""
    header = ["model", *scores.values(), f"worst seed ({' / '.join(scores.values())})", "training seconds", "it/s",
              "iterations"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, runs in results.items():
        cells = [mean_std([r[key] for r in runs]) for key in scores]
        worst = min(runs, key=lambda r: tuple(r[key] for key in worst_by))
        cells.append(" / ".join(f"{worst[key]:.3g}" for key in scores))
        cells.append(f"{statistics.mean(r[TRAINING_SECONDS] for r in runs):.0f}")
        cells.append(f"{statistics.mean(r[TRAINING_SPEED] for r in runs):.1f}")
        cells.append(str(runs[0]["iterations"]))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def equal_time_table(timed: dict[str, list[dict]], steps: int, scores: dict[str, str], worst_by: tuple[str, ...]) -> str:
    """The table of :func:`benchmark_runs`' equal wall-clock runs with its caption ("" without such runs)."""
    if not timed:
        return ""
    return ("At equal wall-clock: each baseline runs as many iterations as take the time informative_ot's "
            f"{steps} take (speeds: the equal-step runs' training iterations per second, median over seeds)\n\n"
            + score_table(timed, scores, worst_by) + "\n\n")


def best_run(runs: list[dict], key: str) -> dict:
    return max(runs, key=lambda r: r[key])


def save_best_traversals(results: dict[str, list[dict]], timed: dict[str, list[dict]], key: str, folder: str,
                         cost: str) -> None:
    """Each model's best run by ``key`` (of both result sets of :func:`benchmark_runs`): its final traversal
    grids to ``docs/results/<folder>/<model>_<cost>[_equal_time]_<code>.png``."""
    for label, result_set in (("", results), ("_equal_time", timed)):
        for model, runs in result_set.items():
            save_traversals(best_run(runs, key), folder, f"{model}_{cost}{label}")


def save_traversals(run: dict, folder: str, name: str) -> None:
    """Copy a run's final traversal grids to ``docs/results/<folder>/<name>_<code>.png``, in place of every
    grid an earlier run of that name left there (one of a latent with more codes would otherwise stay)."""
    target = RESULTS / folder
    target.mkdir(parents=True, exist_ok=True)
    earlier = re.compile(re.escape(name) + r"_(cat|cont)\d+\.png")
    for png in target.iterdir():
        if earlier.fullmatch(png.name):
            png.unlink()
    for png in sorted((Path(run["run_dir"]) / "traversals").glob("traversal_*_final.png")):
        code = png.name[len("traversal_"):-len("_final.png")]
        shutil.copyfile(png, target / f"{name}_{code}.png")


# The image benchmarks' models and where their OT cost is measured. ``pixel`` drops the critic and
# measures the cost between images, with a blur set per dataset against its pixel-space costs. Each model
# runs at the preset's settings for it (the preset's model_settings: InfoGAN's own best measured ones).
IMAGE_MODELS = ("informative_ot", "sinkhorn", "infogan")
COSTS = ("critic", "pixel")


def image_benchmark_parser(description: str, quick_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cost", default="critic", choices=COSTS,
                        help="critic: a learned critic's feature space (the presets); pixel: the images themselves")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="iterations (default: the preset's)")
    parser.add_argument("--models", nargs="+", default=None, choices=IMAGE_MODELS,
                        help="default: all three (--cost critic), the two OT models (--cost pixel)")
    parser.add_argument("--equal-time", action="store_true",
                        help="also run the baselines for as long as informative_ot runs (their iterations "
                             "scaled by their measured speed) and print a second table")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def image_models(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The models to run: InfoGAN has no OT cost, so it takes part only in ``--cost critic``."""
    if args.cost == "pixel" and "infogan" in (args.models or ()):
        parser.error("--cost pixel changes the OT cost; InfoGAN has none (run it with --cost critic)")
    return args.models or [m for m in IMAGE_MODELS if args.cost == "critic" or m != "infogan"]
