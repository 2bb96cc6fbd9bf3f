"""Quality on 2D Gaussian mixtures: the informative OT GAN against the plain Sinkhorn GAN and InfoGAN,
same generator, data, seeds and iterations, in one run.

    python -m benchmarks.gaussians [--mixture grid|ring] [--seeds 0 1 2] [--steps N] [--quick]

Prints, per model, modes captured, high-quality share and code purity (mean, std and worst seed),
wall-clock seconds and iterations per second, and writes the table to
``benchmarks/results/gaussians_<mixture>.md``. ``--quick`` (one seed, 150 iterations, a small batch) only
checks that the script runs.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.report import publish
from configs.loading import load_config
from train import train

# Each model at its own measured settings (PAPER.md section 5): InfoGAN with Adam 2e-4 for both nets
# (1e-3 lost modes); the OT models with the preset's generator lr 1e-3.
MODELS = {
    "informative_ot": [],
    "sinkhorn": [],
    "infogan": ["model.generator.optimizer.lr=2e-4", "model.critic.optimizer.lr=2e-4"],
}
SCORES = ("eval/modes_captured", "eval/high_quality_frac", "eval/code_purity")


def run(model: str, seed: int, mixture: str, steps: int | None, extra: list[str], out: Path) -> dict:
    overrides = ["experiment=gaussians", f"model.name={model}", f"seed={seed}", f"data.gaussians.mixture={mixture}",
                 "logger.mode=disabled", "trainer.enable_progress_bar=false", "callbacks.traversal.enabled=false",
                 f"run_dir={out / f'{model}_seed{seed}'}", *MODELS[model], *extra]
    if mixture == "ring":
        overrides.append("model.latent.categorical=[8]")
    if steps is not None:
        overrides.append(f"trainer.max_steps={steps}")
    return train(load_config(overrides))


def table(results: dict[str, list[dict]], mixture: str, steps: str) -> str:
    lines = [f"Gaussian mixture `{mixture}`, {steps} iterations, seeds {len(next(iter(results.values())))}",
             "", "| model | modes captured | high-quality share | code purity | worst seed (modes / hq / purity) "
             "| seconds | it/s |", "|---|---|---|---|---|---|---|"]
    for model, runs in results.items():
        cells = []
        for key in SCORES:
            values = [r[key] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3g} ± {spread:.2g}")
        worst = min(runs, key=lambda r: (r["eval/code_purity"], r["eval/high_quality_frac"]))
        worst_cell = " / ".join(f"{worst[k]:.3g}" for k in SCORES)
        seconds = statistics.mean(r["time/seconds"] for r in runs)
        speed = statistics.mean(r["time/iterations_per_second"] for r in runs)
        lines.append(f"| {model} | {' | '.join(cells)} | {worst_cell} | {seconds:.0f} | {speed:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixture", default="grid", choices=("grid", "ring"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="iterations (default: the preset's)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="one seed, 150 iterations, batch 64")
    args = parser.parse_args(argv)
    extra: list[str] = []
    if args.quick:
        args.seeds, args.steps, extra = [0], 150, ["data.batch_size=64", "callbacks.metrics.num_generated=2000"]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            results[model] = [run(model, seed, args.mixture, args.steps, extra, Path(tmp)) for seed in args.seeds]
    steps = str(args.steps or load_config([]).trainer.max_steps)
    text = table(results, args.mixture, steps)
    return publish(text, f"gaussians_{args.mixture}", save=not args.quick)


if __name__ == "__main__":
    main()
