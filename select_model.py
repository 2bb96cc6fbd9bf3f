"""Pick the most disentangled of several runs without labels: ``python select_model.py RUN RUN [RUN ...]``.

``select(...)`` does the work and is what tests call; ``main()`` only reads the command line. Each run is
loaded as ``inspect_checkpoint.py`` loads it (its ``config.yaml`` and ``checkpoints/last.ckpt``), the runs'
generators and encoders are compared pairwise (ModelCentrality, metrics/model_centrality.py), and the
table of centralities is printed, the most central run first: that is the run to keep.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from inspect_checkpoint import InspectError, load_model, locate, run_config

USAGE_LINE = "usage: python select_model.py RUN RUN [RUN ...] [points=5000] [seed=0]"
USAGE = f"""\
{USAGE_LINE}

Ranks trained runs (folders, or checkpoints inside them) of one latent layout by ModelCentrality: how well
each run's encoder reads the codes of every other run's generator, and the other way round (MIG on
generated samples, no labels). Runs that found the same factors agree; the most central run is the one
to keep. Cost: each run generates `points` samples, which every other run encodes (dSprites, eight
runs: about a minute on a CPU core).
"""


def select(runs: Sequence[str | Path], points: int = 5000, seed: int = 0) -> list[tuple[str, float]]:
    """``[(run folder, centrality), ...]``, most central first.

    Raises:
        InspectError: a run that cannot be loaded, fewer than two runs, or runs of different latent layouts.
    """
    from metrics.model_centrality import centrality, similarity_matrix

    if len(runs) < 2:
        raise InspectError(f"select_model compares runs with each other: pass at least 2 run folders, got {len(runs)}")
    names, models = [], []
    for run in runs:
        if not Path(run).exists():
            raise InspectError(f"{run} not found; pass run folders, each with config.yaml and checkpoints/last.ckpt")
        checkpoint_path, run_dir = locate(run)
        _, model, _ = load_model(checkpoint_path, run_config(run_dir))
        names.append(str(run_dir))
        models.append(model)
    layouts = {(m.latent_spec.categorical_sizes, m.latent_spec.num_continuous) for m in models}
    if len(layouts) > 1:
        raise InspectError(f"the runs have different codes ({sorted(layouts)}); compare runs of one latent layout")
    if models[0].latent_spec.num_codes < 2:
        raise InspectError("the runs have a single code, and MIG compares codes with each other: "
                           "ModelCentrality needs a latent of at least two codes")
    scores = similarity_matrix(models, num_points=points, seed=seed)
    ranked = sorted(zip(names, centrality(scores).tolist()), key=lambda pair: -pair[1])
    return ranked


def read_options(options: dict[str, str]) -> tuple[int, int]:
    """``(points, seed)`` from the ``key=value`` arguments."""
    unknown = sorted(set(options) - {"points", "seed"})
    if unknown:
        raise InspectError(f"unknown option {unknown[0]!r}; {USAGE_LINE}")
    points, seed = options.get("points", "5000"), options.get("seed", "0")
    if not (points.isdigit() and int(points) > 0 and seed.isdigit()):
        raise InspectError(f"points takes a positive whole number, seed a whole number; {USAGE_LINE}")
    return int(points), int(seed)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(arg in ("-h", "--help", "help") for arg in argv):
        print(USAGE)
        return 0 if argv else 2
    runs = [arg for arg in argv if "=" not in arg]
    try:
        points, seed = read_options(dict(arg.split("=", 1) for arg in argv if "=" in arg))
        ranked = select(runs, points, seed)
    except InspectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    width = max(len(name) for name, _ in ranked)
    print(f"{'run':<{width}}  centrality")
    for name, value in ranked:
        print(f"{name:<{width}}  {value:.4f}")
    print(f"most central: {ranked[0][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
