"""Learning curves: how each model's scores grow with training time, at equal wall-clock.

    python -m benchmarks.curves --dataset mnist --data-path DIR [--seconds 600] [--evaluations 10]
                                [--seeds 0 1 2] [--models informative_ot infogan] [--threads N] [--jobs N]
                                [--set KEY=VALUE ...] [--name NAME] [--quick]

Every model trains for the same budget of training seconds (``time/training_seconds``: start-up and
evaluation left out) at its preset's settings for it (the preset's ``model_settings``), and is evaluated
``--evaluations`` times along the way. A model's iterations for the budget come from its speed in a
probe run of :data:`PROBE_ITERATIONS` iterations on the same machine; the curves' x axis is the seconds
each run actually trained, so an inexact probe shifts where a curve ends, not what it shows. Runs go seed
by seed, every model in turn, so a change in the machine's load slows every model alike; ``--jobs 2`` runs
two at a time (probed two at a time too), one per core with ``--threads 1``.

Writes, on full runs: ``docs/results/<dataset>_curves.png`` (each score against training seconds, one line
per model, the mean over seeds with the range of seeds shaded), ``docs/results/<dataset>_curves.json`` (the
points), the final traversal grids of every run in ``docs/results/<dataset>_curves_traversals/``, and the
table of final scores (mean, worst and best seed) in the ``<dataset>_curves`` section of docs/results.md.
``--name`` writes under another name than ``<dataset>_curves`` (a longer budget beside the comparison).
``--quick`` (digits, one seed, a few iterations) only checks the script.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.quality import QUIET, save_traversals
from benchmarks.report import RESULTS, publish
from callbacks.training_clock import TRAINING_SECONDS, TRAINING_SPEED
from configs.loading import load_config
from train import train


@dataclass(frozen=True)
class Score:
    key: str  # the logged key, eval/...
    title: str
    higher_is_better: bool = True


DATASETS: dict[str, tuple[Score, ...]] = {
    "mnist": (Score("eval/unsupervised_accuracy", "unsupervised accuracy"),
              Score("eval/generated_accuracy", "generated accuracy"), Score("eval/fid", "FID", False),
              Score("eval/precision", "precision"), Score("eval/recall", "recall")),
    "digits": (Score("eval/unsupervised_accuracy", "unsupervised accuracy"),
               Score("eval/generated_accuracy", "generated accuracy"), Score("eval/fid", "FID", False),
               Score("eval/precision", "precision"), Score("eval/recall", "recall")),
    "dsprites": (Score("eval/mig", "MIG"), Score("eval/factor_vae", "FactorVAE"), Score("eval/fid", "FID", False),
                 Score("eval/multiple_objects", "images of several sprites", False),
                 Score("eval/multiple_objects/large", "images of several sprite-sized objects", False),
                 Score("eval/recall", "recall"),
                 Score("eval/share_gap/shape", "gap in shape shares", False)),
}
NEEDS_PATH = ("mnist",)
PROBE_ITERATIONS = 200
# Runs are read up to this factor of the budget: runs planned from a probe end near it.
BUDGET_TOLERANCE = 1.1
MODELS = ("informative_ot", "infogan")

Curve = list[dict[str, float]]  # one point per evaluation: iteration, training seconds and the scores


def read_curve(run_dir: Path) -> Curve:
    """The run's evaluations from its CSV log, in order: ``{"iteration", TRAINING_SECONDS, "eval/...": ...}``.
    Several evaluators log at one iteration; their rows are merged."""
    points: dict[int, dict[str, float]] = {}
    for path in sorted(Path(run_dir).glob("csv*/metrics.csv")):
        with open(path) as file:
            for row in csv.DictReader(file):
                values = {key: float(value) for key, value in row.items()
                          if value not in ("", None) and (key.startswith("eval/") or key == TRAINING_SECONDS)}
                if TRAINING_SECONDS in values and len(values) > 1:
                    points.setdefault(int(row["step"]), {}).update(values)
    return [{"iteration": float(step), **points[step]} for step in sorted(points)]


def train_runs(runs: list[list[str]], jobs: int = 1, threads: int | None = None) -> list[dict]:
    """Each run's summary (``train`` on the configuration its overrides give), in order. With ``jobs`` > 1,
    that many runs at a time, each in a process of its own (one per core: ``threads`` torch threads each)."""
    if jobs == 1:
        return [train_one(run, threads) for run in runs]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(train_one, runs, [threads] * len(runs)))


def train_one(overrides: list[str], threads: int | None) -> dict:
    """One run in this process, with ``threads`` torch threads (None keeps torch's own count)."""
    if threads:
        torch.set_num_threads(threads)
    return train(load_config(overrides))


def probe_speeds(dataset: str, models: list[str], out: Path, settings: list[str], jobs: int = 1,
                 threads: int | None = None) -> dict[str, float]:
    """Training iterations per second of each model on this machine, from short runs without evaluation,
    ``jobs`` at a time, so that the machine is as busy as the runs will find it (each model probed ``jobs``
    times, the mean kept)."""
    probes = [model for model in models for _ in range(jobs)]
    summaries = train_runs([[f"experiment={dataset}", f"model.name={model}", f"run_dir={out / f'probe_{model}_{k}'}",
                             *QUIET, *settings, f"trainer.max_steps={PROBE_ITERATIONS}",
                             "callbacks.metrics.enabled=false", "callbacks.traversal.enabled=false"]
                            for k, model in enumerate(probes)], jobs, threads)
    return {model: statistics.mean(summary[TRAINING_SPEED] for summary, probed in zip(summaries, probes)
                                   if probed == model) for model in models}


def run_curves(dataset: str, models: list[str], seeds: list[int], seconds: float, evaluations: int, out: Path,
               settings: list[str], iterations: dict[str, int] | None = None,
               grids: str | None = None, jobs: int = 1, threads: int | None = None) -> dict[str, list[Curve]]:
    """Every model on every seed for ``seconds`` of training (or the given ``iterations``), evaluated
    ``evaluations`` times, ``jobs`` runs at a time; returns each model's curves (one per seed) and, given
    ``grids``, copies their final grids to ``docs/results/<grids>_traversals/``. Runs start seed by seed,
    every model in turn, so a change in the machine's load slows every model alike."""
    if iterations is None:
        speeds = probe_speeds(dataset, models, out, settings, jobs, threads)
        iterations = {model: max(evaluations, round(seconds * speeds[model])) for model in models}
    order = [(seed, model) for seed in seeds for model in models]
    train_runs([[f"experiment={dataset}", f"model.name={model}", f"seed={seed}", f"run_dir={out / f'{model}_seed{seed}'}",
                 *QUIET, *settings, f"trainer.max_steps={iterations[model]}",
                 f"callbacks.metrics.every_n_iterations={math.ceil(iterations[model] / evaluations)}",
                 "callbacks.traversal.every_n_iterations=0"] for seed, model in order], jobs, threads)
    curves: dict[str, list[Curve]] = {model: [] for model in models}
    for seed, model in order:
        curves[model].append(read_curve(out / f"{model}_seed{seed}"))
        if grids:
            save_traversals({"run_dir": out / f"{model}_seed{seed}"}, f"{grids}_traversals", f"{model}_seed{seed}")
    return curves


def summarize(curves: list[Curve], key: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """Over seeds, at each evaluation (the k-th of every seed): mean training seconds, and the mean,
    lowest and highest score. Seeds are cut to the fewest evaluations any of them made."""
    length = min(len(curve) for curve in curves)
    x, mean, low, high = [], [], [], []
    for k in range(length):
        values = [curve[k][key] for curve in curves if key in curve[k]]
        if not values:
            continue
        x.append(statistics.mean(curve[k][TRAINING_SECONDS] for curve in curves))
        mean.append(statistics.mean(values))
        low.append(min(values))
        high.append(max(values))
    return x, mean, low, high


def plot(curves: dict[str, list[Curve]], scores: tuple[Score, ...], path: Path, title: str,
         budget: float | None = None) -> None:
    """One panel per score against training seconds: a line per model (mean over seeds), the range of
    seeds shaded, the budget dashed. The model names are also written into the PNG's text (key ``Models``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [score for score in scores if any(score.key in point for runs in curves.values()
                                              for curve in runs for point in curve)]
    figure, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.2), squeeze=False)
    for axis, score in zip(axes[0], shown):
        for model, runs in curves.items():
            x, mean, low, high = summarize(runs, score.key)
            (line,) = axis.plot(x, mean, marker="o", markersize=3, label=model)
            axis.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        axis.set_title(score.title + ("" if score.higher_is_better else " (lower is better)"), fontsize=10)
        if budget:
            axis.axvline(budget, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xlabel("training seconds")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Models": ", ".join(curves), "Title": title})
    plt.close(figure)


def reading_time(curves: dict[str, list[Curve]], seconds: float) -> float:
    """The training seconds at which every run is read: the budget (with :data:`BUDGET_TOLERANCE`), or the
    end of the run that trained least if it ended before, so that no run is read after more training than
    another had (runs planned from a probe end near the budget, not on it)."""
    ends = [curve[-1][TRAINING_SECONDS] for runs in curves.values() for curve in runs if curve]
    return min([seconds * BUDGET_TOLERANCE, *ends])


def at_budget(curve: Curve, seconds: float) -> dict[str, float]:
    """The run's last evaluation within ``seconds`` of training (the first one if none is): where runs are
    compared at equal wall-clock, whatever the load made of their planned iterations."""
    within = [point for point in curve if point[TRAINING_SECONDS] <= seconds]
    return within[-1] if within else curve[0]


def budget_table(curves: dict[str, list[Curve]], scores: tuple[Score, ...], seconds: float) -> str:
    """Each run at its last evaluation within ``seconds`` of training (:func:`at_budget`), each model's
    scores as mean / worst / best over seeds, with the training seconds and iterations of those
    evaluations (means)."""
    header = ["model", *[f"{s.title} (mean / worst / best)" for s in scores], "training seconds", "iterations"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, runs in curves.items():
        ends = [at_budget(curve, seconds) for curve in runs if curve]
        cells = []
        for score in scores:
            values = [end[score.key] for end in ends if score.key in end]
            if not values:
                cells.append("-")
                continue
            worst, best = (min(values), max(values)) if score.higher_is_better else (max(values), min(values))
            cells.append(f"{statistics.mean(values):.3g} / {worst:.3g} / {best:.3g}")
        cells.append(f"{statistics.mean(end[TRAINING_SECONDS] for end in ends):.0f}")
        cells.append(f"{statistics.mean(end['iteration'] for end in ends):.0f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="digits")
    parser.add_argument("--data-path", default=None, help="the data files (MNIST: the folder of its IDX files)")
    parser.add_argument("--seconds", type=float, default=600, help="training seconds per run")
    parser.add_argument("--evaluations", type=int, default=10, help="evaluations per run, evenly spaced")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's, one per core)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process (at most one per core)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="configuration overrides for every run, e.g. callbacks.metrics.num_train=1000")
    parser.add_argument("--name", default=None, help="output name (default <dataset>_curves)")
    parser.add_argument("--quick", action="store_true", help="digits, one seed, 20 iterations: checks the script")
    return parser


def main(argv: list[str] | None = None) -> dict[str, list[Curve]]:
    args = parser().parse_args(argv)
    if args.dataset in NEEDS_PATH and not args.data_path:
        parser().error(f"--dataset {args.dataset} reads files: pass --data-path (the folder of its IDX files)")
    if args.jobs < 1:
        parser().error("--jobs counts runs at a time: give 1 or more (at most the machine's cores)")
    if args.threads:
        torch.set_num_threads(args.threads)  # the stamp of the results says the runs' thread count
    settings = ([f"data.path={args.data_path}"] if args.data_path else []) + args.set
    iterations = None
    if args.quick:
        args.dataset, args.seeds, args.evaluations = "digits", [0], 2
        iterations = dict.fromkeys(args.models, 20)
        settings += ["callbacks.metrics.fidelity_samples=200"]
    scores = DATASETS[args.dataset]
    name = args.name or f"{args.dataset}_curves"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        curves = run_curves(args.dataset, args.models, args.seeds, args.seconds, args.evaluations, out, settings,
                            iterations, name if not args.quick else None, args.jobs, args.threads)
    budget = "20 iterations" if args.quick else f"{args.seconds:.0f} training seconds"
    title = f"{args.dataset}: {len(args.seeds)} seed{'s' * (len(args.seeds) > 1)}, {budget} per run"
    if not args.quick:
        plot(curves, scores, RESULTS / f"{name}.png", title, args.seconds)
        (RESULTS / f"{name}.json").write_text(json.dumps(curves, indent=1) + "\n")
    reading = reading_time(curves, args.seconds)
    text = (f"{title}, evaluated {args.evaluations} times; each run at its last evaluation within {reading:.0f} "
            f"training seconds (the budget, the dashed line, or the end of the run that trained least), over "
            f"seeds {', '.join(map(str, args.seeds))}:\n\n"
            f"{budget_table(curves, scores, reading)}\n\n"
            f"![{args.dataset} learning curves](results/{name}.png)")
    publish(text, name, save=not args.quick)
    return curves


if __name__ == "__main__":
    main()
