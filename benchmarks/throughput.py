"""Training throughput: the LightningModule under ``Trainer.fit`` against a plain PyTorch loop doing the
same math with the same networks, in the same process.

    python -m benchmarks.throughput [--quick] [--presets gaussians dsprites] [--repeats R] [--threads T]

For each preset (``gaussians``: data-space cost, batch 256; ``dsprites``: conv critic, batch 64) both
sides build the model with ``train.build_model`` and the data with ``train.build_datamodule`` from the
same seed. The Lightning side runs ``Trainer.fit`` with no logger, no project callbacks, no progress bar,
no checkpointing (one timing hook records the clock after the warm-up iterations and after the last).
The plain side calls the module's own ``train_iteration`` with Lightning's hooks swapped for
``loss.backward()`` and raw torch optimizers (:func:`without_lightning`), steps raw schedulers, and
reseeds the latent generator from ``(seed, rank 0, iteration)`` as ``LatentGAN.training_step`` does. Both read the
same data stream, so after the same number of iterations the two models have the same weights: the
table reports the largest parameter difference as the check that the loops do the same work.

Iterations per second are measured after a warm-up, repetitions alternate which side goes first, and
the table reports medians and the ratio Lightning / plain (target >= 0.95). Writes
its section of ``docs/results.md`` (``throughput``) on full runs. ``--quick``: a few iterations, 2 repetitions (checks the script, not a measurement).
"""
from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pytorch_lightning as pl
import torch

from benchmarks.report import publish
from benchmarks.timing import DEFAULT_THREADS, interleaved, median, set_threads
from configs.loading import load_config
from lightning_modules.base import linear_decay
from train import build_datamodule, build_model

TARGET_RATIO = 0.95
# (warm-up iterations, timed iterations, repetitions) per preset, full and --quick. A dsprites iteration
# costs several gaussians ones (docs/results.md, throughput), hence fewer.
ITERATIONS = {"gaussians": (10, 150, 5), "dsprites": (2, 8, 3)}
QUICK_ITERATIONS = {"gaussians": (3, 15, 2), "dsprites": (1, 1, 1)}


def preset_config(preset: str, model: str = "informative_ot", extra: list[str] | None = None):
    return load_config([f"experiment={preset}", f"model.name={model}", "logger.mode=disabled",
                        "trainer.enable_progress_bar=false", *(extra or [])])


# ----- one iteration without Lightning: the module's own train_iteration ------------------------------

def without_lightning(model, optimizers: list[torch.optim.Optimizer]):
    """``model`` with the three Lightning hooks its ``train_iteration`` calls swapped for plain PyTorch: raw
    optimizers, ``loss.backward()`` and no logging. The losses and updates are the module's own code, so
    the comparison measures Lightning's overhead and nothing else."""
    model.optimizers = lambda: optimizers
    model.manual_backward = lambda loss: loss.backward()
    model.log_train = lambda values, prog_bar=(): None
    return model


def reseed_latent(model, iteration: int, rank: int = 0) -> None:
    """The latent noise of iteration t on rank r, drawn from (seed, r, t) as ``LatentGAN.training_step``."""
    entropy = np.random.SeedSequence([model.seed, rank, iteration]).generate_state(2)
    model.latent_rng.manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


def plain_setup(cfg, total_iterations: int):
    """Model, optimizers, schedulers (the module's own, with Lightning's decay horizon) and the data stream."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule.observation_shape)
    model.train()
    optimizers, schedulers = model.configure_optimizers()
    for scheduler in schedulers:  # without a Trainer the module sees no horizon; give it the run's
        scheduler.lr_lambdas = [linear_decay(cfg.model.lr_decay_start, total_iterations)]
    return without_lightning(model, optimizers), schedulers, iter(datamodule.train_dataloader())


def plain_step(model, schedulers, loader, iteration: int) -> None:
    real = next(loader)[0]
    reseed_latent(model, iteration)
    model.nonfinite.start_iteration()
    model.train_iteration(real)
    for scheduler in schedulers:
        scheduler.step()
    model.nonfinite.end_iteration(iteration, model.divergence_hint())


def plain_run(cfg, warmup: int, measured: int):
    model, schedulers, loader = plain_setup(cfg, warmup + measured)
    for t in range(warmup):
        plain_step(model, schedulers, loader, t)
    start = time.perf_counter()
    for t in range(warmup, warmup + measured):
        plain_step(model, schedulers, loader, t)
    return measured / (time.perf_counter() - start), model


# ----- the same under Lightning ---------------------------------------------------------------------

class IterationClock(pl.Callback):
    """Records the clock after iteration ``warmup - 1`` and after the last one (one hook, no other work)."""

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup, self.last = warmup, last
        self.start = self.end = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warmup - 1:
            self.start = time.perf_counter()
        elif batch_idx == self.last:
            self.end = time.perf_counter()


def lightning_run(cfg, warmup: int, measured: int):
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule.observation_shape)
    clock = IterationClock(warmup, warmup + measured - 1)
    trainer = pl.Trainer(
        max_steps=(warmup + measured) * model.optimizer_steps_per_iteration, max_epochs=-1,
        accelerator="cpu", devices=1, precision=cfg.trainer.precision,
        logger=False, callbacks=[clock], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
    )
    trainer.fit(model, datamodule=datamodule)
    return measured / (clock.end - clock.start), model


def max_weight_difference(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*(infinite|IterableDataset|max_epochs).*")


def measure_preset(preset: str, warmup: int, measured: int, repeats: int) -> dict:
    cfg = preset_config(preset)
    models = {}

    def side(name, run):
        def once() -> float:
            rate, model = run(cfg, warmup, measured)
            models.setdefault(name, model)  # the first repetition's models, for the weight check
            return rate
        return once

    rates = interleaved({"lightning": side("lightning", lightning_run), "plain": side("plain", plain_run)}, repeats)
    ratios = [a / b for a, b in zip(rates["lightning"], rates["plain"])]
    return {
        "preset": preset, "model": cfg.model.name, "batch": cfg.data.batch_size, "warmup": warmup,
        "measured": measured, "repeats": repeats, "lightning": median(rates["lightning"]), "plain": median(rates["plain"]),
        "ratio": median(rates["lightning"]) / median(rates["plain"]),
        "ratio_min": min(ratios), "ratio_max": max(ratios),
        "weight_diff": max_weight_difference(models["lightning"], models["plain"]),
    }


def table(rows: list[dict], threads_line: str) -> str:
    lines = [
        f"Training throughput, Trainer.fit vs a plain PyTorch loop (same networks, data, latents); "
        f"{threads_line}; medians of interleaved repetitions",
        "",
        "| preset | model | batch | iterations (warm-up + timed) x repetitions | Lightning it/s | plain it/s | ratio Lightning/plain "
        "| ratio range | target >= 0.95 | max abs weight diff after the run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "met" if r["ratio"] >= TARGET_RATIO else "MISSED"
        lines.append(
            f"| {r['preset']} | {r['model']} | {r['batch']} | ({r['warmup']} + {r['measured']}) x {r['repeats']} | {r['lightning']:.1f} "
            f"| {r['plain']:.1f} | {r['ratio']:.3f} | {r['ratio_min']:.2f}-{r['ratio_max']:.2f} | {met} "
            f"| {r['weight_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(ITERATIONS), choices=list(ITERATIONS))
    parser.add_argument("--repeats", type=int, default=None, help="repetitions (default: per preset)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--quick", action="store_true", help="a few iterations, 2 repetitions")
    args = parser.parse_args(argv)
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    quiet_lightning()
    threads_line = set_threads(args.threads)
    print(threads_line, flush=True)
    rows = [measure_preset(p, *iterations[p][:2], args.repeats or iterations[p][2]) for p in args.presets]
    text = table(rows, threads_line)
    return publish(text, "throughput", save=not args.quick)


if __name__ == "__main__":
    main()
