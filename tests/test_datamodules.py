"""Datamodules: shapes and ranges, the factor <-> observation contract, and the file readers.

File readers are tested on tiny files written here (a reduced dSprites grid, five MNIST digits),
so nothing is downloaded and no real dataset is needed.
"""
from __future__ import annotations

import gzip
import math
import pickle

import numpy as np
import pytest
import torch

from datamodules import (
    DATAMODULES,
    DigitsDataModule,
    DSpritesDataModule,
    GaussianMixtureDataModule,
    ImageFolderDataModule,
    MissingDataError,
    MNISTDataModule,
    Shapes3DDataModule,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registry_names_the_six_datamodules():
    assert DATAMODULES == {
        "gaussians": GaussianMixtureDataModule,
        "dsprites": DSpritesDataModule,
        "digits": DigitsDataModule,
        "mnist": MNISTDataModule,
        "shapes3d": Shapes3DDataModule,
        "image_folder": ImageFolderDataModule,
    }
    assert issubclass(MissingDataError, FileNotFoundError)


# --- Gaussian mixtures -------------------------------------------------------------------------


def test_grid_mixture_has_25_modes_on_the_integer_grid():
    dm = GaussianMixtureDataModule(mixture="grid")
    assert dm.factor_names == ("mode",) and dm.factor_sizes == (25,) and dm.observation_shape == (2,)
    assert dm.modes.shape == (25, 2) and dm.modes.dtype == torch.float32
    assert {tuple(m) for m in dm.modes.tolist()} == {(x, y) for x in range(-2, 3) for y in range(-2, 3)}


def test_ring_mixture_has_8_evenly_spaced_modes_of_radius_2():
    dm = GaussianMixtureDataModule(mixture="ring", std=0.02)
    assert dm.factor_sizes == (8,) and dm.modes.shape == (8, 2)
    torch.testing.assert_close(dm.modes.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(dm.modes[:, 1], dm.modes[:, 0]).sort().values
    torch.testing.assert_close(angles.diff(), torch.full((7,), math.pi / 4), atol=1e-5, rtol=0)
    points, _ = dm.sample(4000, seed=1)
    assert abs(points.norm(dim=1).mean().item() - 2.0) < 0.01


@pytest.mark.parametrize("mixture", ["grid", "ring"])
def test_gaussian_observations_have_mode_centre_and_std(mixture):
    dm = GaussianMixtureDataModule(mixture=mixture, std=0.1)
    per_mode = 2000
    factors = torch.arange(len(dm.modes)).repeat_interleave(per_mode).unsqueeze(1)
    points = dm.observations_from_factors(factors, generator(3))
    assert points.shape == (len(factors), 2) and points.dtype == torch.float32
    points = points.view(len(dm.modes), per_mode, 2)
    # Standard error of the mean is 0.1 / sqrt(2000) = 0.002; of the std about 1.6%.
    torch.testing.assert_close(points.mean(1), dm.modes, atol=0.01, rtol=0)
    torch.testing.assert_close(points.std(1), torch.full((len(dm.modes), 2), 0.1), atol=0.01, rtol=0)


def test_gaussian_sample_visits_modes_uniformly_and_is_seeded():
    dm = GaussianMixtureDataModule(mixture="grid")
    points, factors = dm.sample(25_000, seed=5)
    counts = torch.bincount(factors[:, 0], minlength=25)
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected, sd about 31
    nearest = torch.cdist(points, dm.modes).argmin(1)
    assert torch.equal(nearest, factors[:, 0])  # std 0.05 << half the spacing
    again, _ = dm.sample(25_000, seed=5)
    other, _ = dm.sample(25_000, seed=6)
    assert torch.equal(points, again) and not torch.equal(points, other)


def test_gaussian_training_set_is_drawn_once_from_the_seed():
    dm = GaussianMixtureDataModule(mixture="ring", num_samples=1000, seed=4)
    dataset = dm.train_dataset()
    assert len(dataset) == 1000 and dataset is dm.train_dataset()
    points, factors = dataset.tensors
    assert points.shape == (1000, 2) and factors.shape == (1000, 1) and factors.dtype == torch.long
    assert torch.equal(points, GaussianMixtureDataModule(mixture="ring", num_samples=1000, seed=4).train_dataset().tensors[0])
    assert not torch.equal(points, GaussianMixtureDataModule(mixture="ring", num_samples=1000, seed=5).train_dataset().tensors[0])


def test_unknown_mixture_lists_the_choices():
    with pytest.raises(ValueError, match="grid, ring"):
        GaussianMixtureDataModule(mixture="spiral")


# --- procedural dSprites ------------------------------------------------------------------------

SHAPE, SCALE, ORIENTATION, X, Y = range(5)


@pytest.fixture(scope="module")
def sprites():
    return DSpritesDataModule()


def render(dm: DSpritesDataModule, *rows: tuple[int, ...]) -> torch.Tensor:
    return dm.observations_from_factors(torch.tensor(rows), generator())


def test_full_dsprites_grid_has_737280_combinations(sprites):
    assert sprites.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert sprites.factor_sizes == (3, 6, 40, 32, 32)
    assert math.prod(sprites.factor_sizes) == len(sprites.train_dataset()) == 737_280
    assert sprites.observation_shape == (1, 32, 32)


def test_dsprites_images_are_binary_float_and_deterministic(sprites):
    images, factors = sprites.sample(500, seed=0)
    assert images.shape == (500, 1, 32, 32) and images.dtype == torch.float32
    assert factors.dtype == torch.long and (factors.max(0).values < torch.tensor(sprites.factor_sizes)).all()
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    assert (images.sum((1, 2, 3)) > 0).all()
    # Same tuple, rendered again in another batch, alone, and as a dataset item.
    strides = (6 * 40 * 32 * 32, 40 * 32 * 32, 32 * 32, 32, 1)  # mixed radix, position_y fastest
    index = sum(k * stride for k, stride in zip((1, 2, 17, 24, 5), strides))
    dataset = sprites.train_dataset()
    image, item_factors = dataset[index]
    assert torch.equal(item_factors, torch.tensor([1, 2, 17, 24, 5]))
    batch = torch.cat([factors[:7], item_factors[None], factors[7:20]])
    assert torch.equal(sprites.observations_from_factors(batch, generator(1))[7], image)
    assert torch.equal(render(sprites, tuple(item_factors.tolist()))[0], image)
    assert torch.equal(sprites.sample(500, seed=0)[0], images)


def test_dsprites_area_grows_with_scale(sprites):
    for shape in range(3):
        for orientation in (0, 7):
            rows = [(shape, scale, orientation, 16, 16) for scale in range(6)]
            areas = render(sprites, *rows).sum((1, 2, 3))
            assert (areas.diff() > 0).all(), (shape, orientation, areas)
            # Area scales with scale^2: from 0.5 to 1 about 4x.
            assert 3.0 < areas[-1] / areas[0] < 5.5


def centroid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column centroid of each image `(n, 1, H, W)`."""
    side = images.shape[-1]
    mass = images.sum((1, 2, 3))
    rows = (images.sum((1, 3)) * torch.arange(side)).sum(1) / mass
    cols = (images.sum((1, 2)) * torch.arange(side)).sum(1) / mass
    return rows, cols


def test_dsprites_shape_moves_with_position(sprites):
    for shape in range(3):
        along_x = render(sprites, *[(shape, 3, 5, x, 10) for x in range(32)])
        rows, cols = centroid(along_x)
        assert (cols.diff() > 0).all() and (rows - rows.mean()).abs().max() < 0.75
        along_y = render(sprites, *[(shape, 3, 5, 20, y) for y in range(32)])
        rows, cols = centroid(along_y)
        assert (rows.diff() > 0).all() and (cols - cols.mean()).abs().max() < 0.75
        # Positions span the frame: the centre travels more than half the image ...
        assert rows[-1] - rows[0] > 16
        if shape == 0:  # ... symmetrically about the middle (pixel index 15.5)
            assert (rows[0] + rows[-1]).item() == pytest.approx(31, abs=0.5)


def test_dsprites_shapes_stay_inside_the_frame(sprites):
    positions = torch.cartesian_prod(torch.arange(32), torch.arange(32))
    for shape, orientation in ((0, 5), (1, 0), (2, 3)):
        rows = torch.cat([torch.tensor([[shape, 5, orientation]]).expand(len(positions), 3), positions], 1)
        images = sprites.observations_from_factors(rows, generator())[:, 0]
        # A shape cut by the border would lose area; up to pixel rounding, it is the same everywhere.
        areas = images.sum((1, 2))
        assert areas.min() > 0.8 * areas.max(), shape
        # ... and would leave a straight edge along it: at most a tip may touch the border.
        for border in (images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]):
            assert border.sum(1).max() <= 1
    # The largest extent (the square at 45 degrees, scale 1) reaches the border at position 0.
    diamond = render(sprites, (0, 5, 5, 0, 0))[0, 0]
    assert diamond[:, 0].any() and diamond[0, :].any()


def test_dsprites_orientation_rotates_up_to_symmetry(sprites):
    def image(shape, orientation):
        return render(sprites, (shape, 5, orientation, 16, 16))[0]

    assert not torch.equal(image(0, 0), image(0, 5))  # square: 45 degrees is a diamond
    assert torch.equal(image(0, 0), image(0, 10))  # ... 90 degrees is the same square
    assert not torch.equal(image(1, 0), image(1, 10))  # ellipse: lying vs standing
    assert torch.equal(image(1, 0), image(1, 20))  # ... 180 degrees is the same ellipse
    assert torch.equal(image(1, 7), image(1, 27))
    assert not torch.equal(image(2, 0), image(2, 20))  # heart: upside down differs
    # Rotation is about the centre: the centroid of the ellipse barely moves.
    rows, cols = centroid(render(sprites, *[(1, 5, o, 16, 16) for o in range(40)]))
    assert (rows - rows[0]).abs().max() < 0.75 and (cols - cols[0]).abs().max() < 0.75
    # The ellipse is elongated: lying it is wider than tall, standing taller than wide.
    lying, standing = image(1, 0)[0], image(1, 10)[0]
    assert lying.any(0).sum() >= 1.7 * lying.any(1).sum()
    assert standing.any(1).sum() >= 1.7 * standing.any(0).sum()


def test_dsprites_subsets_restrict_and_relabel_factors(sprites):
    dm = DSpritesDataModule(shape=[2], orientation=[0, 10, 20, 30], position_x=[31, 0])
    assert dm.factor_sizes == (1, 6, 4, 2, 32)
    assert len(dm.train_dataset()) == 6 * 4 * 2 * 32
    factors, full = torch.tensor([[0, 4, 1, 0, 9]]), torch.tensor([[2, 4, 10, 31, 9]])
    assert torch.equal(dm.observations_from_factors(factors, generator()), sprites.observations_from_factors(full, generator()))
    sampled = dm.sample_factors(2000, generator())
    assert torch.equal(sampled.max(0).values + 1, torch.tensor(dm.factor_sizes))
    for bad in ([3], [], [0, 0], [-1]):
        with pytest.raises(ValueError, match="shape"):
            DSpritesDataModule(shape=bad)


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_dsprites_other_resolutions(resolution):
    dm = DSpritesDataModule(resolution=resolution)
    assert dm.observation_shape == (1, resolution, resolution)
    smallest = [(shape, 0, o, x, y) for shape in range(3) for o in (0, 13) for x in (0, 17) for y in (3, 31)]
    images = render(dm, *smallest)
    assert images.shape == (len(smallest), 1, resolution, resolution)
    assert (images.sum((1, 2, 3)) > 0).all()  # even a sub-pixel shape leaves a mark


@pytest.mark.parametrize("resolution", [0, 7, 48, 128])
def test_dsprites_rejects_other_resolutions(resolution):
    with pytest.raises(ValueError, match="resolution"):
        DSpritesDataModule(resolution=resolution)


def test_dsprites_renders_a_batch_as_it_renders_each_image(sprites):
    """The vectorized renderer (one call for 10,000 images; its speed is the throughput benchmark's
    business, not a timed test's) draws every image as a call for that image alone would."""
    factors = sprites.sample_factors(10_000, generator())
    images = sprites.observations_from_factors(factors, generator())
    assert images.shape == (10_000, 1, 32, 32)
    for row in range(0, 10_000, 500):
        assert torch.equal(images[row], sprites.observations_from_factors(factors[row : row + 1], generator())[0])


# --- dSprites npz -------------------------------------------------------------------------------

SMALL_GRID = (1, 3, 2, 2, 4, 4)  # colour, shape, scale, orientation, x, y: 192 images


def write_small_dsprites(path, keys=("imgs", "latents_classes", "latents_values")):
    """A reduced dSprites npz whose image of row r shows r in binary, in shuffled row order.

    Bit j of r fills the 2x2 block at (0, 2j); the 2x2 block at (4, 0) is half filled, so a
    32x32 read of it has one gray pixel of value 0.5.
    """
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in SMALL_GRID], indexing="ij"), -1).reshape(-1, 6)
    order = np.random.default_rng(0).permutation(len(grid))
    classes = grid[order]
    images = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    for row in range(len(classes)):
        for bit in range(8):
            if row >> bit & 1:
                images[row, 0:2, 2 * bit : 2 * bit + 2] = 1
    images[:, 4, 0:2] = 1
    arrays = {"imgs": images, "latents_classes": classes, "latents_values": classes.astype(np.float64)}
    np.savez_compressed(path, **{key: arrays[key] for key in keys})
    return classes


def decode_rows(images: torch.Tensor) -> torch.Tensor:
    """The row numbers written by `write_small_dsprites`, from `(n, 1, 32, 32)` images."""
    bits = images[:, 0, 0, :8].round().long()
    return (bits << torch.arange(8)).sum(1)


def test_npz_reader_maps_factor_tuples_to_their_images(tmp_path):
    path = tmp_path / "small.npz"
    classes = write_small_dsprites(path)
    dm = DSpritesDataModule(path=str(path), resolution=32)
    assert dm.factor_sizes == SMALL_GRID[1:] and len(dm.train_dataset()) == 192
    factors = dm.sample_factors(300, generator())
    images = dm.observations_from_factors(factors, generator())
    assert images.shape == (300, 1, 32, 32) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1 and (images[:, 0, 2, 0] == 0.5).all()  # gray from pooling
    rows = decode_rows(images)
    assert torch.equal(torch.from_numpy(classes[rows.numpy(), 1:]), factors)
    # The dataset enumerates the grid in mixed-radix order, last factor fastest.
    image, item_factors = dm.train_dataset()[0 * 64 + 1 * 32 + 1 * 16 + 3 * 4 + 1]
    assert torch.equal(item_factors, torch.tensor([0, 1, 1, 3, 1]))
    assert (classes[decode_rows(image[None]).item(), 1:] == [0, 1, 1, 3, 1]).all()
    # Subsets relabel: shape value 0 of the subset is class 2 of the file.
    subset = DSpritesDataModule(path=str(path), shape=[2], resolution=64)
    image = subset.observations_from_factors(torch.tensor([[0, 1, 0, 2, 3]]), generator())
    assert image.shape == (1, 1, 64, 64)
    assert (classes[decode_rows(torch.nn.functional.avg_pool2d(image, 2)).item(), 1:] == [2, 1, 0, 2, 3]).all()
    pickle.loads(pickle.dumps(dm.train_dataset()))[0]  # DataLoader workers can receive it


def test_missing_npz_names_the_file_the_source_and_the_config_key(tmp_path):
    with pytest.raises(MissingDataError) as error:
        DSpritesDataModule(path=str(tmp_path / "nowhere.npz"))
    message = str(error.value)
    assert "nowhere.npz" in message and "github.com/deepmind/dsprites-dataset" in message
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in message and "data.path=" in message
    assert "\n" not in message


@pytest.mark.parametrize("missing", ["imgs", "latents_classes"])
def test_npz_without_a_required_key_is_named(tmp_path, missing):
    path = tmp_path / "partial.npz"
    write_small_dsprites(path, keys=[k for k in ("imgs", "latents_classes", "latents_values") if k != missing])
    with pytest.raises(MissingDataError, match=f"no key '{missing}'"):
        DSpritesDataModule(path=str(path))


# --- MNIST --------------------------------------------------------------------------------------

LABELS = [3, 1, 4, 1, 5]


def write_idx(path, array: np.ndarray, magic: int | None = None, compress: bool = False) -> None:
    magic = (0x08 << 8 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


@pytest.fixture
def digits28():
    return np.random.default_rng(0).integers(0, 256, size=(len(LABELS), 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_files_and_pads_to_32(tmp_path, digits28, compress):
    write_idx(tmp_path / "train-images-idx3-ubyte", digits28, compress=compress)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array(LABELS), compress=compress)
    dm = MNISTDataModule(path=str(tmp_path))
    assert dm.factor_names == ("digit",) and dm.factor_sizes == (10,) and dm.observation_shape == (1, 32, 32)
    dataset = dm.train_dataset()
    assert len(dataset) == 5
    images, labels = dataset.tensors
    assert images.shape == (5, 1, 32, 32) and images.dtype == torch.float32
    assert torch.equal(labels[:, 0], torch.tensor(LABELS))
    torch.testing.assert_close(images[:, 0, 2:30, 2:30], torch.from_numpy(digits28).float() / 255)
    border = images.clone()
    border[:, :, 2:30, 2:30] = 0
    assert border.abs().sum() == 0
    # An observation of digit 1 is one of the two images labelled 1; of digit 3 the only one.
    chosen = dm.observations_from_factors(torch.tensor([[1]] * 50 + [[3]]), generator())
    assert all(torch.equal(c, images[1]) or torch.equal(c, images[3]) for c in chosen[:50])
    assert any(torch.equal(c, images[1]) for c in chosen[:50]) and any(torch.equal(c, images[3]) for c in chosen[:50])
    assert torch.equal(chosen[50], images[0])
    _, factors = dm.sample(100, seed=0)
    assert set(factors[:, 0].tolist()) == set(LABELS)


def test_mnist_without_files_says_which_file_where_and_how(tmp_path, digits28):
    with pytest.raises(MissingDataError, match="data.path=") as error:
        MNISTDataModule(path=None)
    assert "\n" not in str(error.value)
    write_idx(tmp_path / "train-images-idx3-ubyte", digits28)
    with pytest.raises(MissingDataError) as error:
        MNISTDataModule(path=str(tmp_path))
    message = str(error.value)
    assert "train-labels-idx1-ubyte" in message and str(tmp_path) in message
    assert "yann.lecun.com/exdb/mnist" in message and "data.path=" in message and "\n" not in message


def test_mnist_rejects_a_file_that_is_not_idx(tmp_path, digits28):
    write_idx(tmp_path / "train-images-idx3-ubyte", digits28)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array(LABELS), magic=0x803)  # image magic
    dm = MNISTDataModule(path=str(tmp_path))
    with pytest.raises(MissingDataError, match="train-labels-idx1-ubyte is not an IDX file"):
        dm.sample(4)


# --- scikit-learn digits ------------------------------------------------------------------------


def test_digits_has_1797_images_of_ten_labels():
    dm = DigitsDataModule()
    images, labels = dm.train_dataset().tensors
    assert len(dm.train_dataset()) == 1797 and images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1
    assert torch.equal(labels[:, 0].unique(), torch.arange(10)) and dm.factor_sizes == (10,)
    chosen = dm.observations_from_factors(torch.tensor([[7]] * 20), generator())
    sevens = images[labels[:, 0] == 7]
    assert all((sevens == c).flatten(1).all(1).any() for c in chosen)
    assert len({c.numpy().tobytes() for c in chosen}) > 10  # drawn among the ~180 sevens


# --- training loader ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: GaussianMixtureDataModule(num_samples=2000, batch_size=100, seed=seed),
        lambda seed: DSpritesDataModule(batch_size=16, seed=seed),
        lambda seed: DigitsDataModule(batch_size=32, seed=seed),
    ],
    ids=["gaussians", "dsprites", "digits"],
)
def test_train_dataloader_yields_seeded_batches_of_the_configured_size(make):
    dm = make(0)
    observations, factors = next(iter(dm.train_dataloader()))
    assert observations.shape == (dm.batch_size, *dm.observation_shape) and observations.dtype == torch.float32
    assert factors.shape == (dm.batch_size, dm.num_factors) and factors.dtype == torch.long
    assert (factors < torch.tensor(dm.factor_sizes)).all() and (factors >= 0).all()
    again, _ = next(iter(make(0).train_dataloader()))
    other, _ = next(iter(make(1).train_dataloader()))
    assert torch.equal(observations, again) and not torch.equal(observations, other)
    if isinstance(dm, DSpritesDataModule):  # observations are the renders of their factors
        assert torch.equal(observations, dm.observations_from_factors(factors, generator()))


def test_loader_workers_never_exceed_the_cores_and_give_the_same_batches(caplog):
    """data.num_workers above the cores available is capped at them with one line, torch then has no
    warning to give, and the batches are those of a loader without workers."""
    import logging
    import os
    import warnings

    cores = len(os.sched_getaffinity(0))
    capped = GaussianMixtureDataModule(batch_size=8, num_workers=cores + 3)
    with caplog.at_level(logging.WARNING, logger="datamodules.base"):
        loader = capped.train_dataloader()
    assert loader.num_workers == cores
    assert [record.getMessage() for record in caplog.records] == [
        f"data.num_workers={cores + 3} is more than the {cores} CPU cores available: using {cores} loader workers"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "will create N worker processes" warning would raise here
        first = next(iter(loader))
    caplog.clear()
    in_process = GaussianMixtureDataModule(batch_size=8, num_workers=0).train_dataloader()
    assert caplog.records == []
    expected = next(iter(in_process))
    assert all(torch.equal(a, b) for a, b in zip(first, expected))
