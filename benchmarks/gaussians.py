"""Quality on 2D Gaussian mixtures: the informative OT GAN against the plain Sinkhorn GAN and InfoGAN,
same generator, data, seeds and iterations, in one run.

    python -m benchmarks.gaussians [--mixture grid|ring] [--seeds 0 1 2] [--steps N] [--quick]

Prints, per model, modes captured, high-quality share and code purity (mean, std and worst seed),
wall-clock seconds and iterations per second, and writes the table to
its section of ``docs/results.md`` (``gaussians_<mixture>``). ``--quick`` (one seed, 150 iterations, a small batch) only
checks that the script runs.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.quality import score_table, train_run
from benchmarks.report import publish
from configs.loading import load_config

# Each model at the preset's settings for it (InfoGAN's own are in the preset's model_settings).
MODELS = ("informative_ot", "sinkhorn", "infogan")
SCORES = {"eval/modes_captured": "modes captured", "eval/high_quality_frac": "high-quality share",
          "eval/code_purity": "code purity"}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixture", default="grid", choices=("grid", "ring"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="iterations (default: the preset's)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--quick", action="store_true", help="one seed, 150 iterations, batch 64")
    args = parser.parse_args(argv)
    overrides = [f"data.gaussians.mixture={args.mixture}", "callbacks.traversal.enabled=false"]
    if args.mixture == "ring":
        overrides.append("model.latent.categorical=[8]")
    if args.quick:
        args.seeds, args.steps = [0], 150
        overrides += ["data.batch_size=64", "callbacks.metrics.num_generated=2000"]
    steps = args.steps or load_config(["experiment=gaussians"]).trainer.max_steps
    overrides.append(f"trainer.max_steps={steps}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {model: [train_run("gaussians", model, seed, Path(tmp), overrides)
                           for seed in args.seeds] for model in args.models}
    text = (f"Gaussian mixture `{args.mixture}`, {steps} iterations, seeds {len(args.seeds)}\n\n"
            + score_table(results, SCORES, worst_by=("eval/code_purity", "eval/high_quality_frac")))
    return publish(text, f"gaussians_{args.mixture}", save=not args.quick)


if __name__ == "__main__":
    main()
