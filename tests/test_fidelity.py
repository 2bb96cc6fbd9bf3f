"""FID and improved precision/recall of image models: the metric by hand and against a brute-force
reference, the scores on real, noise, single-image and half-the-classes sets in the digits feature
space, the feature network's accuracy and cache, and the eval/ keys of a short run and of
inspect_checkpoint.py. Measured values of the assertions are in the comments."""
import csv
import logging

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.spatial.distance import cdist
from torch import nn

import metrics.feature_cache as feature_cache
import metrics.precision_recall as precision_recall_module
from callbacks.disentanglement import DisentanglementMetrics
from callbacks.evaluators import build_evaluators
from callbacks.fidelity import FidelityMetrics, data_config
from callbacks.generated_accuracy import GeneratedAccuracy, generated_accuracy, label_classifier
from callbacks.mixture_metrics import MixtureMetrics
from configs.loading import ConfigError, load_config
from datamodules import DigitsDataModule, DSpritesDataModule
from inspect_checkpoint import inspect
from lightning_modules.latent import LatentSpec
from metrics.factor_shares import predicted_class_shares, share_gaps
from metrics.feature_cache import cache_key, cache_path, feature_network
from metrics.feature_network import FeatureNetworkSettings
from metrics.fidelity import fidelity
from metrics.precision_recall import ImprovedPrecisionRecall, improved_precision_recall
from train import build_datamodule, train

DIGITS = ["experiment=digits"]
FIDELITY_KEYS = {"eval/fid", "eval/precision", "eval/recall", "eval/share_gap/digit"}
# A quick network for the cache tests, whose quality does not matter.
TINY = FeatureNetworkSettings(num_train=600, num_test=300, epochs=1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature_networks")


@pytest.fixture(scope="module")
def digits():
    return DigitsDataModule()


@pytest.fixture(scope="module")
def network(digits, cache):
    """The digits preset's feature network (default settings), trained once into the test's cache."""
    return feature_network(digits, data_config(load_config(DIGITS)), cache)


@pytest.fixture(scope="module")
def classifier(digits, cache):
    """The digit classifier of eval/generated_accuracy (one class per digit), trained once into the test's cache."""
    return label_classifier(digits, data_config(load_config(DIGITS)), cache)


class DigitPicker(nn.Module):
    """A stand-in generator that draws real digits: of class (code + 3) mod 10 when ``follows_code``, else of a
    class chosen by the noise; which image of the class, by the noise too."""

    def __init__(self, digits, follows_code: bool) -> None:
        super().__init__()
        self.latent_spec = LatentSpec([10], 0, 2)
        images, factors = digits.sample(3000, seed=1)
        self.by_class = [images[factors[:, 0] == k] for k in range(10)]
        self.follows_code = follows_code
        self.device = torch.device("cpu")

    def generate(self, latent):
        u = torch.sigmoid(latent.noise)  # uniform-ish numbers in (0, 1) from the noise
        classes = (latent.categorical[:, 0] + 3) % 10 if self.follows_code else (u[:, 0] * 10).long().clamp(max=9)
        return torch.stack([self.by_class[c][int(v * (len(self.by_class[c]) - 1))] for c, v in zip(classes.tolist(), u[:, 1])])


def test_generated_accuracy_sees_whether_the_code_picks_the_digit_of_the_generated_images(digits, classifier):
    # A code that picks the digit scores about the classifier's accuracy (held out: 0.988); one the generator
    # ignores, about the most frequent class's share. Measured: 0.992 and 0.135.
    follows = generated_accuracy(DigitPicker(digits, follows_code=True), classifier, 10, num_samples=1000)
    ignores = generated_accuracy(DigitPicker(digits, follows_code=False), classifier, 10, num_samples=1000)
    assert follows > 0.95 and ignores < 0.2


def scores(real, generated, network):
    return {name: round(value, 4) for name, value in fidelity(real, generated, network).items()}


# ----- the metric ------------------------------------------------------------------------------------
def test_precision_recall_by_hand():
    # Real: the corners of a 2 x 2 square; each has two neighbours at distance 2 and one at sqrt(8).
    real = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    # Generated: two pairs 1 apart, far from each other. (4, 0) is exactly 2 from the corner (2, 0).
    fake = torch.tensor([[4.0, 0.0], [5.0, 0.0], [10.0, 10.0], [11.0, 10.0]])
    # k = 1: real balls of radius 2 hold (4, 0) (on the boundary, which counts) and nothing else;
    # generated balls of radius 1 hold no corner.
    assert [float(v) for v in improved_precision_recall(real, fake, k=1)] == [0.25, 0.0]
    # k = 3: real radii sqrt(8) still miss (5, 0) (distance sqrt(9) to (2, 0)); the ball of (4, 0) now
    # reaches its 3rd neighbour (11, 10), radius sqrt(149), and holds every corner (at most sqrt(20)).
    assert [float(v) for v in improved_precision_recall(real, fake, k=3)] == [0.25, 1.0]


def reference_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definition with scipy distances and explicit loops."""
    def radii(points):
        distances = cdist(points, points)
        return np.array([np.sort(np.delete(row, i))[k - 1] for i, row in enumerate(distances)])

    def share_inside(queries, points):
        distances, r = cdist(queries, points), radii(points)
        return float(np.mean([any(distances[j, i] <= r[i] for i in range(len(points))) for j in range(len(queries))]))

    return share_inside(fake, real), share_inside(real, fake)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_a_brute_force_reference(k, monkeypatch):
    generator = torch.Generator().manual_seed(k)
    real = torch.randn(70, 4, generator=generator, dtype=torch.float64)
    fake = 0.8 * torch.randn(50, 4, generator=generator, dtype=torch.float64) + 0.7
    expected = reference_precision_recall(real.numpy(), fake.numpy(), k)
    assert 0.1 < expected[0] < 0.95 and 0.1 < expected[1] < 0.95  # a case that tells a wrong rule apart
    assert [float(v) for v in improved_precision_recall(real, fake, k)] == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(precision_recall_module, "BLOCK_ENTRIES", 130)  # blocks of 1-2 rows: same result
    assert [float(v) for v in improved_precision_recall(real, fake, k)] == pytest.approx(expected, abs=1e-12)
    # Streaming, in uneven batches, through a feature module: the same as the function on the features.
    feature = nn.Linear(4, 3).double()
    metric = ImprovedPrecisionRecall(feature, k=k)
    for batch in real.split(30):
        metric.update(batch, real=True)
    for batch in fake.split(17):
        metric.update(batch, real=False)
    with torch.no_grad():
        direct = improved_precision_recall(feature(real), feature(fake), k)
    assert [float(v) for v in metric.compute()] == [float(v) for v in direct]


@pytest.mark.parametrize("real, fake, k, fragment", [
    (torch.zeros(5, 2), torch.zeros(5, 2), 0, "k must be a positive integer"),
    (torch.zeros(3, 2), torch.zeros(5, 2), 3, "more than k=3 points"),
    (torch.zeros(5, 2), torch.zeros(5, 3), 3, "differ in dimension"),
    (torch.zeros(5, 2, 1), torch.zeros(5, 2), 3, "must be (n, d)"),
    (torch.full((5, 2), float("nan")), torch.zeros(5, 2), 3, "NaN"),
])
def test_bad_input_raises_one_line(real, fake, k, fragment):
    with pytest.raises(ValueError) as error:
        improved_precision_recall(real, fake, k)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_the_streaming_metric_needs_both_sets():
    metric = ImprovedPrecisionRecall()
    metric.update(torch.zeros(5, 2), real=True)
    with pytest.raises(ValueError, match="call update with real=True and real=False"):
        metric.compute()


# ----- scores in the digits feature space ----------------------------------------------------------
# Dead ReLU features make the covariances singular, which scipy's sqrtm warns about (its result is still exact).
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_feature_network_is_accurate_and_fid_uses_its_features_unchanged(network, digits, cache):
    stored = torch.load(next(cache.glob("digits-*.pt")), weights_only=True)
    assert stored["accuracy"]["digit"] > 0.95  # 0.985 on 757 held-out images
    assert stored["held_out"] > 500 and stored["seconds"] < 60
    assert not network.training and network.train().training is False  # frozen: batch norm stays in eval mode
    # torchmetrics' FID, given our network, is the Frechet distance of its features (no rescaling).
    real, generated = digits.sample(300, seed=0)[0], digits.sample(300, seed=1)[0] * 0.5
    with torch.no_grad():
        a, b = network(real).double().numpy(), network(generated).double().numpy()
    covariance_a, covariance_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(covariance_a + covariance_b)
                - 2 * np.trace(sqrtm(covariance_a @ covariance_b).real))
    assert fidelity(real, generated, network)["fid"] == pytest.approx(expected, rel=1e-3)


def test_scores_separate_real_noise_one_image_and_half_the_classes(network, digits):
    real = digits.sample(2000, seed=0)[0]
    other, labels = digits.sample(6000, seed=1)
    same = scores(real, other[:2000], network)  # fid 0.26, precision 0.90, recall 0.91
    noise = scores(real, torch.rand(real.shape, generator=torch.Generator().manual_seed(0)), network)  # 26.7, 0.008
    one_image = scores(real, other[:1].expand(2000, -1, -1, -1), network)  # recall 0
    half = scores(real, other[labels[:, 0] < 5][:2000], network)  # digits 0-4 only: recall 0.48
    assert same["fid"] < 1.0 and same["fid"] < 0.05 * noise["fid"]
    assert same["precision"] > 0.85 and same["recall"] > 0.85
    assert noise["precision"] < 0.05 and noise["recall"] < 0.1
    assert one_image["recall"] < 0.01 and one_image["precision"] == 1.0  # the image is a real digit
    assert 0.35 < half["recall"] < 0.6 and half["precision"] > 0.85
    assert same["fid"] < half["fid"] < noise["fid"]


def test_share_gap_is_the_share_of_generated_images_that_would_have_to_change_class(network, digits):
    real = digits.sample(2000, seed=0)[0]
    other, labels = digits.sample(6000, seed=1)
    # Other real digits: the same shares up to sampling (measured 0.046; two samples of 2000 over ten classes
    # differ by about 0.04). Digits 0-4 only: the real shares are a tenth each, so half of the generated images
    # would have to become a digit 5-9 (measured 0.500).
    same = share_gaps(real, other[:2000], network, ["digit"])["digit"]
    half = share_gaps(real, other[labels[:, 0] < 5][:2000], network, ["digit"])["digit"]
    assert same < 0.08 and half == pytest.approx(0.5, abs=0.05)
    # Shares are counted batch by batch: the batch size and the order of the images change nothing.
    shuffled = other[torch.randperm(2000, generator=torch.Generator().manual_seed(0))]
    assert torch.allclose(predicted_class_shares(other[:2000], network, batch_size=7)[0],
                          predicted_class_shares(shuffled, network)[0])
    with pytest.raises(ValueError, match="2 names for 1 heads"):
        share_gaps(real, real, network, ["digit", "colour"])


# ----- the cache -----------------------------------------------------------------------------------
def test_a_second_call_loads_the_cached_network_without_training(network, digits, cache, monkeypatch, capsys):
    path = next(cache.glob("digits-*.pt"))
    modified = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("the feature network was trained again")

    monkeypatch.setattr(feature_cache, "train_feature_network", no_training)
    loaded = feature_network(digits, data_config(load_config(DIGITS)), cache)
    assert path.stat().st_mtime_ns == modified
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), network.state_dict().values()))
    images = digits.sample(64, seed=3)[0]
    with torch.no_grad():
        assert torch.equal(loaded(images), network(images))  # a warm cache scores as the run that trained it
    printed = capsys.readouterr().out
    assert printed.count("held-out accuracy digit 0.9") == 1 and str(path) in printed


def test_training_on_first_use_is_announced_before_it_starts(digits, tmp_path, monkeypatch, capsys):
    """A network not in the cache says it is being trained (seconds to a minute) before training it, and
    once loaded from the cache says nothing of the kind."""
    real_training = feature_cache.train_feature_network

    def training(*args):
        assert "not in the cache yet, training it on 600 images" in capsys.readouterr().out
        return real_training(*args)

    monkeypatch.setattr(feature_cache, "train_feature_network", training)
    feature_network(digits, {"name": "digits", "path": None}, tmp_path, TINY)
    feature_network(digits, {"name": "digits", "path": None}, tmp_path, TINY)
    assert "training it" not in capsys.readouterr().out


def test_a_corrupt_stale_or_misshapen_cache_is_retrained_with_a_warning(digits, tmp_path, monkeypatch, caplog):
    trainings = []
    real_training = feature_cache.train_feature_network
    monkeypatch.setattr(feature_cache, "train_feature_network",
                        lambda *args: trainings.append(1) or real_training(*args))
    config = {"name": "digits", "path": None}

    def obtain():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="metrics.feature_cache"):
            feature_network(digits, config, tmp_path, TINY)
        return [record.getMessage() for record in caplog.records]

    assert obtain() == [] and len(trainings) == 1
    [path] = tmp_path.glob("digits-*.pt")
    assert obtain() == [] and len(trainings) == 1  # loaded

    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated
    [warning] = obtain()
    assert len(trainings) == 2 and "unreadable" in warning and str(path) in warning
    assert obtain() == [] and len(trainings) == 2  # the retrained file is usable

    stored = torch.load(path, weights_only=True)
    stored["key"]["data"]["path"] = "/elsewhere"
    torch.save(stored, path)
    [warning] = obtain()
    assert len(trainings) == 3 and "key differs" in warning

    stored = torch.load(path, weights_only=True)
    stored["state_dict"]["embed.0.weight"] = torch.zeros(3, 3)
    torch.save(stored, path)
    [warning] = obtain()
    assert len(trainings) == 4 and "damaged" in warning
    assert obtain() == [] and len(trainings) == 4


def test_the_cache_file_name_depends_on_data_network_and_format(tmp_path, monkeypatch):
    settings = FeatureNetworkSettings()
    sprites = {"name": "dsprites", "path": None, "dsprites": {"resolution": 16, "orientation": None}}
    base = cache_path(tmp_path, cache_key(sprites, DSpritesDataModule(resolution=16), settings))
    variants = [
        (sprites | {"dsprites": {"resolution": 32, "orientation": None}}, DSpritesDataModule(resolution=32), settings),
        (sprites | {"dsprites": {"resolution": 16, "orientation": [0, 10]}},
         DSpritesDataModule(resolution=16, orientation=[0, 10]), settings),
        (sprites | {"path": "/data/dsprites.npz"}, DSpritesDataModule(resolution=16), settings),
        (sprites, DSpritesDataModule(resolution=16), FeatureNetworkSettings(width=8)),
        (sprites, DSpritesDataModule(resolution=16), FeatureNetworkSettings(epochs=5)),
    ]
    names = {cache_path(tmp_path, cache_key(*variant)).name for variant in variants}
    assert len(names) == len(variants) and base.name not in names and base.name.startswith("dsprites-")
    monkeypatch.setattr(feature_cache, "FORMAT_VERSION", feature_cache.FORMAT_VERSION + 1)
    assert cache_path(tmp_path, cache_key(sprites, DSpritesDataModule(resolution=16), settings)) != base


# ----- wiring: one decision, the callback, a run and inspect_checkpoint.py ----------------------------
def test_evaluators_follow_the_data_and_the_switch(tmp_path):
    cfg = load_config([*DIGITS, "seed=4", "callbacks.metrics.fidelity_samples=300",
                       f"callbacks.metrics.feature_cache={tmp_path}"])
    digits = DigitsDataModule()
    evaluators = build_evaluators(cfg, digits)
    assert [type(e) for e in evaluators] == [DisentanglementMetrics, FidelityMetrics, GeneratedAccuracy]
    assert evaluators[1].settings == dict(num_samples=300, seed=4) and evaluators[1].cache_dir == str(tmp_path)
    assert evaluators[2].settings == evaluators[1].settings and evaluators[2].cache_dir == str(tmp_path)
    cfg.callbacks.metrics.fidelity = False
    assert [type(e) for e in build_evaluators(cfg, digits)] == [DisentanglementMetrics]
    gaussians = load_config(["data.gaussians.num_samples=100"])
    assert [type(e) for e in build_evaluators(gaussians, build_datamodule(gaussians))] == [MixtureMetrics]
    with pytest.raises(ConfigError, match="callbacks.metrics.fidelity_samples"):
        load_config(["callbacks.metrics.fidelity_samples=3"])


def test_a_short_digits_run_logs_fidelity_and_inspect_reproduces_it(network, classifier, cache, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the run should use the cached feature network")

    monkeypatch.setattr(feature_cache, "train_feature_network", no_training)
    run_dir = tmp_path / "digits"
    summary = train(load_config([
        *DIGITS, "trainer.max_steps=2", "callbacks.metrics.every_n_iterations=2", "callbacks.metrics.num_test=100",
        "callbacks.metrics.fidelity_samples=400", f"callbacks.metrics.feature_cache={cache}",
        "callbacks.traversal.enabled=false", "logger.mode=disabled", "trainer.enable_progress_bar=false",
        "data.batch_size=16", f"run_dir={run_dir}",
    ]))
    assert summary["eval/fid"] > 5.0  # an untrained generator: far from the data (real vs real: 0.26)
    assert 0 <= summary["eval/precision"] <= 1 and 0 <= summary["eval/recall"] < 0.5
    with open(run_dir / "csv" / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("eval/fid")]
    assert [int(row["step"]) for row in rows] == [2]  # at iteration 2, not repeated at the end
    result = inspect(run_dir, out_dir=tmp_path / "inspect")
    for key in [*FIDELITY_KEYS, "eval/generated_accuracy"]:
        assert result[key] == pytest.approx(summary[key], rel=1e-5, abs=1e-6)
