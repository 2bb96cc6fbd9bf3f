"""Shared helpers of the cost benchmarks: thread pinning, interleaved repetitions, medians, log-log fits.

The machine these run on is small and shared, so absolute times drift by tens of percent between
minutes. The benchmarks therefore time the two things they compare *side by side in one process*,
alternating which goes first in each repetition, and report the median of each and the ratio of the
medians: drifts that last longer than one repetition hit both sides alike.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Sequence

import torch

# One intra-op thread by default: on a 2-core machine shared with other jobs, two OpenMP threads spin
# against the other load and single calls then vary by 10-50x (measured: a 64 x 64 OT step took 13 ms
# to 850 ms with 2 threads, 3-11 ms with 1). ``--threads 2`` measures the 2-thread case when the machine is idle.
DEFAULT_THREADS = 1


def set_threads(threads: int) -> str:
    """Pin torch's intra-op threads (and one inter-op thread); returns a line to print with the results."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process (e.g. a second benchmark in the same test run)
        pass
    return f"torch threads: {torch.get_num_threads()} (torch {torch.__version__})"


def time_call(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each measurement ``repeats`` times, rotating the order every repetition.

    Each function runs one measurement and returns its value (seconds, or a rate); the result maps
    names to the list of values.
    """
    names = list(fns)
    values: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            values[name].append(fns[name]())
    return values


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): the exponent k of y ~ x^k."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
