"""Cost of one OT step: our structured-regularized Sinkhorn against geomloss's Sinkhorn divergence.

    python -m benchmarks.ot_step [--quick] [--threads T] [--repeats R]

Per batch size N = M and feature size d (features on the unit sphere, as the critic's), times forward
+ backward of

* ours: ``lightning_modules.ot.informative_sinkhorn_divergence`` with a random pmi and reward 0.72,
  which also returns the cross plan (what the code model Q needs);
* geomloss: ``SamplesLoss("sinkhorn", p=2, blur, scaling, debias=True, backend="tensorized")``;

both at blur 0.3, scaling 0.8, alternating in the same process; reports medians and their ratio
(target: ours <= 1.2x geomloss), the max |value difference| with reward 0 (the two should agree to
~1e-6), and the exponent k of time ~ N^k (log-log least squares over N, per d). Writes
its section of ``docs/results.md`` (``ot_step``) on full runs. ``--quick``: N in {64, 256}, d = 64.
"""
from __future__ import annotations

import argparse

import torch
from geomloss import SamplesLoss

from benchmarks.report import publish
from benchmarks.timing import DEFAULT_THREADS, interleaved, loglog_slope, median, set_threads, time_call
from lightning_modules.ot import informative_sinkhorn_divergence

BLUR, SCALING, REWARD = 0.3, 0.8, 0.72
TARGET_RATIO = 1.2


def sphere(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, d, generator=generator)
    return x / x.norm(dim=1, keepdim=True)


def make_steps(n: int, d: int, seed: int = 0):
    """The two forward+backward steps on one fixed problem, and the reward-0 value difference."""
    generator = torch.Generator().manual_seed(seed)
    x0, y0 = sphere(n, d, generator), sphere(n, d, generator)
    pmi = torch.randn(n, n, generator=generator)
    geomloss = SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=SCALING, debias=True, backend="tensorized")

    def ours() -> None:
        x, y = x0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        result = informative_sinkhorn_divergence(x, y, pmi=pmi, reward=REWARD, blur=BLUR, scaling=SCALING)
        result.divergence.backward()
        assert result.plan.shape == (n, n)

    def reference() -> None:
        x, y = x0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        geomloss(x, y).backward()

    with torch.no_grad():
        plain = informative_sinkhorn_divergence(x0, y0, pmi=pmi, reward=0.0, blur=BLUR, scaling=SCALING)
        difference = (plain.divergence - geomloss(x0, y0)).abs().item()
    return ours, reference, difference


def calibrate(fn, target_seconds: float) -> int:
    """Calls per measurement so that one measurement lasts about ``target_seconds`` (after a warm-up call)."""
    fn()
    once = max(min(time_call(fn) for _ in range(3)), 1e-5)
    return max(1, round(target_seconds / once))


def measure_cell(n: int, d: int, repeats: int, target_seconds: float) -> dict:
    ours, reference, difference = make_steps(n, d)
    calls = min(calibrate(ours, target_seconds), calibrate(reference, target_seconds))

    def batch(fn):
        return lambda: time_call(lambda: [fn() for _ in range(calls)]) / calls

    times = interleaved({"ours": batch(ours), "geomloss": batch(reference)}, repeats)
    ratios = [a / b for a, b in zip(times["ours"], times["geomloss"])]
    return {
        "n": n, "d": d, "calls": calls,
        "ours": median(times["ours"]), "geomloss": median(times["geomloss"]),
        "ratio": median(times["ours"]) / median(times["geomloss"]),
        "ratio_min": min(ratios), "ratio_max": max(ratios),
        "difference": difference,
    }


def table(cells: list[dict], threads_line: str, repeats: int) -> str:
    lines = [
        f"OT step, forward + backward, blur {BLUR}, scaling {SCALING}, reward {REWARD} (ours), "
        f"features on the unit sphere; {threads_line}; median of {repeats} interleaved repetitions",
        "",
        "| N = M | d | ours (ms) | geomloss (ms) | ratio ours/geomloss | ratio range | target <= 1.2x "
        "| max abs value diff (reward 0) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        met = "met" if c["ratio"] <= TARGET_RATIO else "MISSED"
        lines.append(
            f"| {c['n']} | {c['d']} | {1e3 * c['ours']:.2f} | {1e3 * c['geomloss']:.2f} | {c['ratio']:.2f} "
            f"| {c['ratio_min']:.2f}-{c['ratio_max']:.2f} | {met} | {c['difference']:.1e} |"
        )
    dims = sorted({c["d"] for c in cells})
    sizes = sorted({c["n"] for c in cells})
    if len(sizes) > 1:
        lines += ["", "Exponent k of time ~ N^k (log-log least squares over N = "
                  + ", ".join(map(str, sizes)) + ")", "", "| d | ours | geomloss |", "|---|---|---|"]
        for d in dims:
            row = [c for c in cells if c["d"] == d]
            ns = [c["n"] for c in row]
            lines.append(f"| {d} | {loglog_slope(ns, [c['ours'] for c in row]):.2f} "
                         f"| {loglog_slope(ns, [c['geomloss'] for c in row]):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--quick", action="store_true", help="N in {64, 256}, d = 64, 3 repetitions")
    args = parser.parse_args(argv)
    target_seconds = 0.25
    if args.quick:
        args.sizes, args.dims, args.repeats, target_seconds = [64, 256], [64], 3, 0.05
    threads_line = set_threads(args.threads)
    print(threads_line, flush=True)
    cells = [measure_cell(n, d, args.repeats, target_seconds) for d in args.dims for n in args.sizes]
    text = table(cells, threads_line, args.repeats)
    return publish(text, "ot_step", save=not args.quick)


if __name__ == "__main__":
    main()
