"""Print every disentanglement score for a perfect, a random and a mixed code on a toy dataset.

    python -m metrics.report                      # reference sample sizes (10,000 / 5,000), ~1-2 min
    python -m metrics.report --num-train 2000 --num-test 1000

The toy data has independent uniform factors (default sizes 3, 4, 5, 6) and observes them directly.
The codes are a scaled permutation of the factors (perfect), fresh Gaussian noise (random), and the
standardized factors rotated by 30 degrees in the planes (0, 1) and (2, 3) (mixed). The table is
Markdown, to paste into an issue.
"""
from __future__ import annotations

import argparse
import math
import time

from metrics.evaluate import SCORE_NAMES, evaluate_disentanglement
from metrics.toy import ToyFactorData, perfect_encoder, random_encoder, rotated_encoder


def score_table(
    factor_sizes: tuple[int, ...] = (3, 4, 5, 6),
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    dci_n_estimators: int = 100,
) -> dict[str, dict[str, float]]:
    """`{code name: evaluate_disentanglement(...)}` for the perfect, random and rotated codes."""
    data = ToyFactorData(factor_sizes)
    encoders = {
        "perfect (scaled permutation)": perfect_encoder(data, seed=seed),
        "random (independent noise)": random_encoder(data.num_factors, seed=seed),
        "mixed (30 deg rotation in pairs)": rotated_encoder(data, angle=math.pi / 6),
    }
    return {
        name: evaluate_disentanglement(
            data, encoder, num_train=num_train, num_test=num_test, seed=seed, dci_n_estimators=dci_n_estimators
        )
        for name, encoder in encoders.items()
    }


def format_table(table: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per code, one column per score."""
    lines = ["| code | " + " | ".join(SCORE_NAMES) + " |", "|---" * (len(SCORE_NAMES) + 1) + "|"]
    for name, scores in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{scores[key]:.3f}" for key in SCORE_NAMES) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor-sizes", type=int, nargs="+", default=[3, 4, 5, 6])
    parser.add_argument("--num-train", type=int, default=10000)
    parser.add_argument("--num-test", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dci-n-estimators", type=int, default=100)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = score_table(tuple(args.factor_sizes), args.num_train, args.num_test, args.seed, args.dci_n_estimators)
    print(
        f"Toy data: factor sizes {tuple(args.factor_sizes)}, observation = factors; "
        f"num_train={args.num_train}, num_test={args.num_test}, seed={args.seed}, "
        f"dci_n_estimators={args.dci_n_estimators}\n"
    )
    print(format_table(table))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
