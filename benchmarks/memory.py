"""Peak memory of one training iteration at the default dsprites configuration, per model.

    python -m benchmarks.memory [--quick] [--models informative_ot sinkhorn infogan] [--repeats R]

Each measurement runs in a fresh subprocess (``python -m benchmarks.memory --child MODEL``)
that builds the dsprites preset's model and data (``train.build_model`` / ``train.build_datamodule``),
reads one batch, and then runs the model's iteration as :mod:`benchmarks.throughput`'s plain loop does
(the same math as ``train_iteration``, without a Trainer):

Two numbers per subprocess:

* max-RSS increase: the process's peak resident set (``resource.getrusage`` max RSS) after the *first* iteration,
  minus its resident set just before it - what the iteration adds, including Adam's state (allocated at
  the first step), allocator slack and library workspaces. Only a first iteration can be measured
  this way: later ones reuse freed memory and leave the high-water mark where it was.
* torch peak allocations: ``torch.profiler.profile(profile_memory=True)`` around the *second* (steady-state)
  iteration; the peak of the running sum of torch's CPU allocations and frees - tensor bytes alive at
  once above those alive before the iteration (activations, gradients, OT matrices, temporaries).

Alongside, the analytic sizes: the Sinkhorn solve's four N x M float32 cost matrices, their stacked
copy (+ the plan) at the
preset's batch, and parameters x 4 (weights, gradients, Adam's two moments) of each model. Medians over
repetitions (all subprocesses, alternating models). Writes its section of ``docs/results.md`` (``memory``) on full
runs. ``--quick``: one repetition.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.report import publish
from benchmarks.timing import DEFAULT_THREADS, median, set_threads

MODELS = ("informative_ot", "sinkhorn", "infogan")
MB = 2**20


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def profiled_peak_bytes(run) -> int:
    """Peak of the running sum of CPU allocations minus frees while ``run()`` executes."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    changes = sorted((e["ts"], e["args"]["Bytes"]) for e in events
                     if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0)
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return peak


def child(model_name: str, threads: int) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    import logging
    import warnings

    import torch

    set_threads(threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    from benchmarks.throughput import plain_setup, preset_config, reseed_latent

    cfg = preset_config("dsprites", model_name)
    model, _, loader = plain_setup(cfg, 10)
    real = next(loader)[0]

    def iteration(t: int) -> None:
        reseed_latent(model, t)
        model.train_iteration(real)

    result = {"model": model_name, "batch": int(real.shape[0]),
              "parameters": sum(p.numel() for p in model.parameters())}
    before_current, before_max = current_rss_bytes(), max_rss_bytes()
    iteration(0)
    after_max = max_rss_bytes()
    result["rss_bytes"] = after_max - before_current
    # If the iteration never rose above an earlier high-water mark, its peak is not observable.
    result["rss_observable"] = after_max > before_max
    result["profiler_bytes"] = profiled_peak_bytes(lambda: iteration(1))
    del torch
    return result


def measure(model_name: str, threads: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.memory", "--child", model_name, "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def ot_matrix_bytes(n: int, m: int) -> tuple[int, int]:
    """(four N x M float32 cost matrices and their stacked copy, padded to max(N, M) square, which the
    Sinkhorn steps read (lightning_modules/ot.py); one N x M plan), bytes."""
    side = max(n, m)
    return 4 * n * m * 4 + 4 * side * side * 4, n * m * 4


def table(results: dict[str, list[dict]], threads_line: str, repeats: int) -> str:
    first = next(iter(results.values()))[0]
    n = first["batch"]
    costs, plan = ot_matrix_bytes(n, n)
    lines = [
        f"Peak memory of one training iteration, dsprites preset (batch {n}, 32 x 32); {threads_line}; "
        f"median of {repeats} fresh subprocess(es) per model",
        "",
        "| model | max-RSS increase, first iteration (MB) | torch peak allocations, steady iteration (MB) "
        "| parameters | params + grads + Adam (MB, analytic) | OT matrices per solve (MB, analytic) |",
        "|---|---|---|---|---|---|",
    ]
    for model, cells in results.items():
        rss = [c["rss_bytes"] for c in cells]
        unobservable = sum(not c["rss_observable"] for c in cells)
        prof = [c["profiler_bytes"] for c in cells]
        params = cells[0]["parameters"]
        ot_cell = "0 (no OT)" if model == "infogan" else f"{(costs + plan) / MB:.3f}"
        flag = f" ({unobservable} not observable)" if unobservable else ""
        lines.append(f"| {model} | {median(rss) / MB:.1f}{flag} | {median(prof) / MB:.1f} | {params:,} "
                     f"| {4 * 4 * params / MB:.1f} | {ot_cell} |")
    lines += ["", f"OT matrices: 4 cost matrices N x M float32 and their stacked copy = 2 x 4 x {n} x {n} x 4 B = "
              f"{costs / 1024:.0f} KiB, "
              f"plus the {n} x {n} plan = {plan / 1024:.0f} KiB, per Sinkhorn solve (one per critic update, one per "
              "generator update); the final differentiable softmins keep a few more N x M temporaries for backward."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.threads)), flush=True)
        return ""
    if args.quick:
        args.repeats = 1
    threads_line = set_threads(args.threads)
    print(threads_line, flush=True)
    results: dict[str, list[dict]] = {m: [] for m in args.models}
    for rep in range(args.repeats):
        order = args.models[rep % len(args.models):] + args.models[: rep % len(args.models)]
        for model in order:
            results[model].append(measure(model, args.threads))
    text = table(results, threads_line, args.repeats)
    return publish(text, "memory", save=not args.quick)


if __name__ == "__main__":
    main()
