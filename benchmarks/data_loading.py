"""Images per second that each dataset's training loader delivers, with 0 and more DataLoader workers.

    python -m benchmarks.data_loading [--quick] [--workers 0 2] [--shapes3d PATH] [--folder DIR]

Each row builds the datamodule from the config (``train.build_datamodule``, batch 64) and times
``train_dataloader()`` batches after a warm-up (which starts the workers). Without ``--shapes3d`` or
``--folder``, the files are written to a temporary folder in the official layouts: a 3dshapes.h5 of a
reduced grid of 64 x 64 RGB images, and a folder of 64 x 64 noise JPEGs. They sit in the page cache, so
those rows measure indexing and decoding, not a disk. Writes its section of ``docs/results.md`` (``data_loading``) on full
runs. ``--quick``: a few batches (checks the script, not a measurement).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from benchmarks.report import publish
from benchmarks.timing import DEFAULT_THREADS, set_threads
from configs.loading import load_config
from train import build_datamodule

BATCH_SIZE = 64
# (warm-up batches, timed batches) and the written files' sizes, full and --quick.
BATCHES, QUICK_BATCHES = (3, 40), (1, 2)
SHAPES3D_GRID, QUICK_SHAPES3D_GRID = (10, 10, 4, 4, 4, 1), (2, 2, 2, 2, 2, 3)
FOLDER_IMAGES, QUICK_FOLDER_IMAGES = 1000, 40


def write_grid_h5(path: Path, sizes: tuple[int, ...]) -> Path:
    """A 3dshapes.h5 layout (``images`` uint8 (N, 64, 64, 3), ``labels`` float64 (N, 6)) of the grid ``sizes``."""
    labels = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, 6).astype(np.float64)
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as file:
        file.create_dataset("images", data=images)
        file.create_dataset("labels", data=labels)
    return path


def write_jpeg_folder(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{k:05d}.jpg", quality=90)
    return folder


def images_per_second(overrides: list[str], warm_up: int, timed: int) -> float:
    # Any image preset: only its data.* keys reach a loader, and those are all set here or schema defaults
    # (the loader refuses images under the default preset's 2D networks).
    cfg = load_config(["experiment=shapes3d", *overrides, f"data.batch_size={BATCH_SIZE}"])
    batches = iter(build_datamodule(cfg).train_dataloader())
    for _ in range(warm_up):
        next(batches)
    start = time.perf_counter()
    for _ in range(timed):
        next(batches)
    return timed * BATCH_SIZE / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--shapes3d", help="the official 3dshapes.h5 (default: a reduced file written here)")
    parser.add_argument("--folder", help="a folder of images (default: noise JPEGs written here)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    warm_up, timed = QUICK_BATCHES if args.quick else BATCHES
    with tempfile.TemporaryDirectory() as tmp:
        shapes3d = args.shapes3d or write_grid_h5(Path(tmp) / "3dshapes.h5",
                                                  QUICK_SHAPES3D_GRID if args.quick else SHAPES3D_GRID)
        folder = args.folder or write_jpeg_folder(Path(tmp) / "images", QUICK_FOLDER_IMAGES if args.quick else FOLDER_IMAGES)
        datasets = {
            "dsprites (procedural, 64 x 64)": ["data.name=dsprites", "data.dsprites.resolution=64"],
            "digits (8 x 8, in memory)": ["data.name=digits"],
            f"shapes3d (64 x 64 RGB, {'given' if args.shapes3d else 'written'} h5)": [
                "data.name=shapes3d", f"data.path={shapes3d}"],
            f"image_folder (64 x 64 RGB, {'given' if args.folder else 'written'} JPEGs)": [
                "data.name=image_folder", f"data.path={folder}"],
        }
        rows = [(name, workers, images_per_second([*overrides, f"data.num_workers={workers}"], warm_up, timed))
                for name, overrides in datasets.items() for workers in args.workers]
    lines = [f"Images read per second by the training loader, batch {BATCH_SIZE}, {timed} batches after {warm_up} "
             f"of warm-up; {threads}",
             "", "| dataset | workers | images/s |", "|---|---|---|"]
    lines += [f"| {name} | {workers} | {rate:.0f} |" for name, workers, rate in rows]
    return publish("\n".join(lines), "data_loading", save=not args.quick)


if __name__ == "__main__":
    main()
