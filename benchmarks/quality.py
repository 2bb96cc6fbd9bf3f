"""What the quality benchmarks share: train every model on every seed with the same preset and
iterations (through ``train.train``, as ``python train.py`` would), and tabulate scores as mean ± std
over seeds with the worst seed beside them."""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

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


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3g} ± {spread:.2g}"


def score_table(results: dict[str, list[dict]], scores: dict[str, str], worst_by: tuple[str, ...]) -> str:
    """A markdown table: one row per model, ``scores`` (summary key -> column title) as mean ± std over
    seeds, the worst seed (lowest ``worst_by`` scores, compared in order) written out, and mean seconds
    and iterations per second."""
    header = ["model", *scores.values(), f"worst seed ({' / '.join(scores.values())})", "seconds", "it/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, runs in results.items():
        cells = [mean_std([r[key] for r in runs]) for key in scores]
        worst = min(runs, key=lambda r: tuple(r[key] for key in worst_by))
        cells.append(" / ".join(f"{worst[key]:.3g}" for key in scores))
        cells.append(f"{statistics.mean(r['time/seconds'] for r in runs):.0f}")
        cells.append(f"{statistics.mean(r['time/iterations_per_second'] for r in runs):.1f}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_run(runs: list[dict], key: str) -> dict:
    return max(runs, key=lambda r: r[key])


# The image benchmarks' models and where their OT cost is measured. ``pixel`` drops the critic and
# measures the cost between images, with a blur set per dataset against its pixel-space costs.
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
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def image_models(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The models to run: InfoGAN has no OT cost, so it takes part only in ``--cost critic``."""
    if args.cost == "pixel" and "infogan" in (args.models or ()):
        parser.error("--cost pixel changes the OT cost; InfoGAN has none (run it with --cost critic)")
    return args.models or [m for m in IMAGE_MODELS if args.cost == "critic" or m != "infogan"]
