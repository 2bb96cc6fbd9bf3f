"""The datasets researchers bring: 3DShapes from its h5 file and any folder of images, on tiny files written
here (the official layouts, a corrupt file), and the 64 x 64 presets trained on CPU with RGB images."""
from __future__ import annotations

import json
import logging
import os
import pickle

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from configs.loading import load_config
from datamodules import ImageFolderDataModule, MissingDataError, Shapes3DDataModule
from datamodules.base import trains_on_gpu
from inspect_checkpoint import inspect
from metrics.feature_network import FeatureNetworkSettings
from metrics.feature_training import train_feature_network
from metrics.fidelity import fidelity
from train import build_datamodule, train

# --- 3DShapes -----------------------------------------------------------------------------------

SMALL_SIZES = (2, 2, 2, 2, 2, 3)  # floor, wall, object hue, scale, shape, orientation: 96 images
# The official label values of each factor (3dshapes README); the small file uses the first few.
OFFICIAL_VALUES = (np.arange(10) / 10, np.arange(10) / 10, np.arange(10) / 10, np.linspace(0.75, 1.25, 8),
                   np.arange(4.0), np.linspace(-30, 30, 15))


def write_shapes3d(path, sizes=SMALL_SIZES, drop=(), images_dtype=np.uint8, keep_rows=None):
    """A reduced 3dshapes.h5 with the official keys and dtypes, random pixels, rows in shuffled order.
    Returns ``(images, labels)`` as written."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in sizes], indexing="ij"), -1).reshape(-1, 6)
    grid = grid[np.random.default_rng(1).permutation(len(grid))][:keep_rows]
    labels = np.stack([OFFICIAL_VALUES[k][grid[:, k]] for k in range(6)], 1).astype(np.float64)
    images = np.random.default_rng(2).integers(0, 256, (len(grid), 64, 64, 3)).astype(images_dtype)
    with h5py.File(path, "w") as file:
        for key, array in (("images", images), ("labels", labels)):
            if key not in drop:
                file.create_dataset(key, data=array)
    return images, labels


@pytest.fixture(scope="module")
def shapes3d_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("shapes3d") / "3dshapes.h5"
    return path, *write_shapes3d(path)


def stored_rows(labels: np.ndarray, factors: torch.Tensor) -> list[int]:
    """The rows of the written file whose labels are the factor values: value k is the k-th smallest label."""
    wanted = np.stack([np.unique(labels[:, k])[factors[:, k].numpy()] for k in range(6)], 1)
    return [int(np.flatnonzero((labels == row).all(1))[0]) for row in wanted]


def test_shapes3d_factors_and_images_round_trip_exactly(shapes3d_file):
    path, images, labels = shapes3d_file
    dm = Shapes3DDataModule(path=str(path), resolution=64)
    assert dm.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert dm.factor_sizes == SMALL_SIZES and dm.observation_shape == (3, 64, 64) and len(dm.train_dataset()) == 96
    torch.testing.assert_close(dm.archive.values[5], torch.tensor([-30.0, -25.714285714285715, -21.428571428571427],
                                                                  dtype=torch.float64))
    factors = dm.sample_factors(40, torch.Generator().manual_seed(0))
    observed = dm.observations_from_factors(factors, torch.Generator())
    expected = torch.from_numpy(images[stored_rows(labels, factors)]).permute(0, 3, 1, 2)
    assert observed.dtype == torch.float32 and torch.equal((observed * 255).round().to(torch.uint8), expected)
    # Dataset item i is the grid point whose mixed-radix digits spell i (orientation fastest).
    image, item_factors = dm.train_dataset()[1 * 48 + 1 * 3 + 2]
    assert item_factors.tolist() == [1, 0, 0, 0, 1, 2]
    assert torch.equal((image * 255).round().to(torch.uint8), torch.from_numpy(images[stored_rows(
        labels, item_factors[None])[0]]).permute(2, 0, 1))


def test_shapes3d_lower_resolution_averages_blocks_and_subsets_relabel(shapes3d_file):
    path, images, labels = shapes3d_file
    dm = Shapes3DDataModule(path=str(path), resolution=16, orientation=[2, 0])
    assert dm.factor_sizes == (2, 2, 2, 2, 2, 2) and dm.observation_shape == (3, 16, 16)
    factors = torch.tensor([[1, 1, 0, 1, 0, 0], [0, 1, 1, 0, 1, 1]])
    full = factors.clone()
    full[:, 5] = torch.tensor([2, 0])  # subset value 0 is orientation 2 of the file
    blocks = images[stored_rows(labels, full)].astype(np.float64).reshape(2, 16, 4, 16, 4, 3).mean((2, 4)) / 255
    observed = dm.observations_from_factors(factors, torch.Generator())
    torch.testing.assert_close(observed, torch.from_numpy(blocks).permute(0, 3, 1, 2).float(), atol=1e-6, rtol=0)


def test_each_process_reads_through_its_own_handle(shapes3d_file):
    path, _, _ = shapes3d_file
    dm = Shapes3DDataModule(path=str(path), batch_size=8, seed=3)
    assert dm.archive._file is None  # construction reads the labels and closes the file
    dm.sample(2)
    assert dm.archive._pid == os.getpid() and dm.archive._file is not None
    copy = pickle.loads(pickle.dumps(dm.train_dataset()))  # what a spawned worker receives
    assert copy.observe._file is None and torch.equal(copy[5][0], dm.train_dataset()[5][0])
    in_process = next(iter(dm.train_dataloader()))
    dm.num_workers = 1
    loader = dm.train_dataloader()
    assert loader.persistent_workers and not loader.pin_memory and not trains_on_gpu(None)
    in_worker = next(iter(loader))
    assert torch.equal(in_worker[0], in_process[0]) and torch.equal(in_worker[1], in_process[1])


def test_fidelity_scores_work_on_rgb_images(shapes3d_file):
    """The fidelity scores' feature network trains on 3DShapes' factors from RGB images (the file's pixels are
    noise, so its accuracy is not the point) and its FID tells real from noise."""
    dm = Shapes3DDataModule(path=str(shapes3d_file[0]), resolution=16)
    settings = FeatureNetworkSettings(width=8, num_features=16, num_train=800, num_test=400, epochs=3, batch_size=64)
    network, report = train_feature_network(dm, settings)
    assert set(report["accuracy"]) == set(dm.factor_names)
    assert all(0 <= value <= 1 for value in report["accuracy"].values())
    real = dm.sample(200, seed=1)[0]
    same, noise = fidelity(real, real, network), fidelity(real, torch.rand_like(real), network)
    assert same["fid"] == pytest.approx(0, abs=1e-3) and same["precision"] == 1 and noise["fid"] > 10 * same["fid"] + 1


@pytest.mark.parametrize("problem,fragment", [
    ("missing", "3dshapes file not found: {path}"),
    ("not_hdf5", "{path} is not a readable HDF5 file"),
    ("no_labels", "{path} has no dataset 'labels'"),
    ("float_images", "{path}: images is (96, 64, 64, 3) float32"),
    ("missing_rows", "{path}: labels does not list each of the 96 factor combinations (2, 2, 2, 2, 2, 3) exactly once"),
])
def test_unusable_3dshapes_file_stops_with_one_line(tmp_path, problem, fragment):
    path = tmp_path / "3dshapes.h5"
    if problem == "not_hdf5":
        path.write_text("not an h5 file")
    elif problem != "missing":
        write_shapes3d(path, drop=("labels",) if problem == "no_labels" else (),
                       images_dtype=np.float32 if problem == "float_images" else np.uint8,
                       keep_rows=95 if problem == "missing_rows" else None)
    with pytest.raises(MissingDataError) as error:
        Shapes3DDataModule(path=str(path))
    message = str(error.value)
    assert fragment.format(path=path) in message and "\n" not in message
    assert "'images' (N, 64, 64, 3) uint8 and 'labels' (N, 6) float64" in message
    assert "https://github.com/deepmind/3d-shapes" in message and "gs://3d-shapes/3dshapes.h5" in message


# --- image folder -------------------------------------------------------------------------------


def pixels(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """PNGs and JPEGs in nested folders, a text file, a file that is no image and a truncated JPEG."""
    root = tmp_path_factory.mktemp("images")
    (root / "sub" / "deep").mkdir(parents=True)
    Image.fromarray(pixels(0, 8, 8)).save(root / "a.png")
    wide = pixels(1, 8, 12)
    wide[:, 2:10] = pixels(2, 8, 8)  # the centred square of a 12 x 8 image
    Image.fromarray(wide).save(root / "sub" / "b.PNG")
    Image.fromarray(pixels(3, 16, 16)).save(root / "sub" / "deep" / "c.jpg", quality=95)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.png").write_bytes(b"\x89PNG but nothing else")
    Image.fromarray(pixels(4, 16, 16)).save(root / "d.jpeg")
    data = (root / "d.jpeg").read_bytes()
    (root / "d.jpeg").write_bytes(data[: data.index(b"\xff\xda") + 40])  # a header Pillow reads, pixels it cannot
    return root


def test_image_folder_lists_decodes_crops_and_resizes(image_folder, caplog):
    with caplog.at_level(logging.WARNING):
        dm = ImageFolderDataModule(path=str(image_folder), resolution=8)
    assert [p.relative_to(image_folder).as_posix() for p in dm.dataset.paths] == [
        "a.png", "d.jpeg", "sub/b.PNG", "sub/deep/c.jpg"]
    warnings = [r.getMessage() for r in caplog.records if "image_folder" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 1 of 5 files" in warnings[0] and "broken.png" in warnings[0]
    assert dm.factor_sizes == () and dm.observation_shape == (3, 8, 8)
    as_bytes = lambda image: (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # noqa: E731
    assert np.array_equal(as_bytes(dm.dataset.image(0)), pixels(0, 8, 8))  # a PNG keeps its pixels
    assert np.array_equal(as_bytes(dm.dataset.image(2)), pixels(2, 8, 8))  # the centred square
    decoded = np.asarray(Image.open(image_folder / "sub" / "deep" / "c.jpg").convert("RGB"), dtype=np.float64)
    blocks = decoded.reshape(8, 2, 8, 2, 3).mean((1, 3))  # 16 -> 8 averages 2 x 2 blocks
    assert np.abs(as_bytes(dm.dataset.image(3)).astype(np.float64) - blocks).max() <= 1
    gray = ImageFolderDataModule(path=str(image_folder), resolution=8, grayscale=True)
    image = gray.dataset.image(0)
    assert image.shape == (1, 8, 8) and torch.equal(
        (image[0] * 255).round().to(torch.uint8), torch.from_numpy(np.array(Image.open(image_folder / "a.png").convert("L"))))


def test_an_image_that_fails_to_decode_is_replaced_and_counted(image_folder, caplog):
    dm = ImageFolderDataModule(path=str(image_folder), resolution=8)
    with caplog.at_level(logging.WARNING):
        image, factors = dm.train_dataset()[1]  # d.jpeg is truncated
        assert torch.equal(image, dm.dataset.image(2)) and factors.shape == (0,)
        batch = next(iter(dm.train_dataloader()))
    assert dm.dataset.failed == {1} and batch[0].shape == (dm.batch_size, 3, 8, 8) and batch[1].shape == (dm.batch_size, 0)
    assert len([r for r in caplog.records if "could not be decoded" in r.getMessage()]) == 1
    images, factors = dm.sample(6, seed=4)
    assert factors.shape == (6, 0) and torch.equal(images, dm.sample(6, seed=4)[0])
    assert all(any(torch.equal(image, dm.dataset.image(k)) for k in (0, 2, 3)) for image in images)


def test_unusable_image_folder_stops_with_one_line(tmp_path):
    with pytest.raises(MissingDataError, match=f"image folder not found: {tmp_path / 'nowhere'}.*data.path="):
        ImageFolderDataModule(path=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"nothing")
    with pytest.raises(MissingDataError) as error:
        ImageFolderDataModule(path=str(tmp_path / "empty"))
    message = str(error.value)
    assert f"no readable image under {tmp_path / 'empty'} (1 image files found, 1 unreadable)" in message
    assert ".png, .jpg, .jpeg" in message and "\n" not in message
    with pytest.raises(ValueError, match="resolution must be one of"):
        ImageFolderDataModule(path=str(tmp_path / "empty"), resolution=48)


# --- presets on CPU -----------------------------------------------------------------------------

# Tiny networks and evaluations: the presets' shapes (64 x 64, RGB, their latent layouts), seconds on a CPU.
TINY = ["data.batch_size=8", "data.num_workers=0", "model.generator.hidden=4", "model.critic.hidden=4",
        "model.critic.features=8", "model.code_model.hidden=4", "callbacks.metrics.fidelity=false",
        "callbacks.metrics.num_train=100", "callbacks.metrics.num_test=50", "callbacks.metrics.every_n_iterations=20",
        "callbacks.traversal.every_n_iterations=0", "callbacks.traversal.num_seeds=2",
        "callbacks.traversal.num_steps=3", "logger.mode=disabled", "trainer.enable_progress_bar=false"]


def tiny_config(preset, run_dir, *extra):
    return load_config([f"experiment={preset}", *TINY, f"run_dir={run_dir}", *extra])


@pytest.mark.parametrize("preset", ["dsprites64", "shapes3d"])
def test_fast_dev_run_of_the_64_pixel_presets(preset, tmp_path, shapes3d_file):
    extra = [f"data.path={shapes3d_file[0]}"] if preset == "shapes3d" else []
    cfg = tiny_config(preset, tmp_path / preset, "trainer.fast_dev_run=true", *extra)
    assert build_datamodule(cfg).observation_shape == ((3, 64, 64) if preset == "shapes3d" else (1, 64, 64))
    summary = train(cfg)
    assert summary["iterations"] == 1 and np.isfinite(summary["train/code_nll"])


def is_colour(png) -> bool:
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    return bool((np.abs(rgb[..., 0] - rgb[..., 1]) > 8).any())


@pytest.mark.slow
def test_shapes3d_trains_20_iterations_and_inspect_reproduces_its_scores(tmp_path, shapes3d_file):
    run_dir = tmp_path / "shapes3d"
    summary = train(tiny_config("shapes3d", run_dir, "trainer.max_steps=20", f"data.path={shapes3d_file[0]}"))
    assert summary["iterations"] == 20
    scores = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap")
    for name in scores:
        assert 0 <= summary[f"eval/{name}"] <= 1
    grids = sorted(p.name for p in (run_dir / "traversals").glob("*_final.png"))
    assert grids == [f"traversal_{code}_final.png" for code in ("cat0", "cont0", "cont1", "cont2", "cont3", "cont4")]
    assert is_colour(run_dir / "traversals" / "traversal_cat0_final.png")  # three channels reach the grid
    result = inspect(run_dir, tmp_path / "inspect")
    assert result["iterations"] == 20
    for name in scores:
        assert result[f"eval/{name}"] == pytest.approx(summary[f"eval/{name}"], rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_dsprites64_trains_20_iterations(tmp_path):
    run_dir = tmp_path / "dsprites64"
    summary = train(tiny_config("dsprites64", run_dir, "trainer.max_steps=20", "callbacks.metrics.enabled=false"))
    assert summary["iterations"] == 20 and np.isfinite(summary["train/code_nll"])
    assert len(list((run_dir / "traversals").glob("traversal_cont*_final.png"))) == 3  # one grid per continuous code
    assert json.loads((run_dir / "summary.json").read_text())["iterations"] == 20


@pytest.mark.slow
def test_an_image_folder_trains_20_iterations_with_a_note_instead_of_scores(tmp_path, image_folder, caplog):
    run_dir = tmp_path / "folder"
    with caplog.at_level(logging.WARNING):
        summary = train(tiny_config("shapes3d", run_dir, "trainer.max_steps=20", "data.name=image_folder",
                                    f"data.path={image_folder}", "data.image_folder.resolution=16"))
    assert summary["iterations"] == 20 and not [key for key in summary if key.startswith("eval/")]
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("no eval/ scores for image_folder")]
    assert len(notes) == 1 and "no factors or labels" in notes[0] and "feature network" in notes[0]
    assert is_colour(run_dir / "traversals" / "traversal_cont0_final.png")
    assert inspect(run_dir, tmp_path / "inspect") == {"iterations": 20}
