"""Traversal pictures and disentanglement callbacks: grids change only along the code a model uses, the
2D scatter is coloured by code value, scores equal a direct evaluation, nothing runs under fast_dev_run."""
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_lightning.loggers import WandbLogger
from torch import nn

from callbacks import build_callbacks
from callbacks.code_scatter import code_palette, code_scatter_samples, plot_code_scatter
from callbacks.disentanglement import DisentanglementMetrics
from callbacks.mixture_metrics import MixtureMetrics
from callbacks.training_clock import TRAINING_SECONDS, TRAINING_SPEED, TrainingClock
from callbacks.traversal import LatentTraversal, render_traversals
from callbacks.traversal_grid import plot_traversal_grid, traversal_images
from configs.loading import load_config, to_plain
from datamodules import DigitsDataModule, GaussianMixtureDataModule
from lightning_modules.latent import LatentSpec
from metrics import evaluate_disentanglement
from metrics.ground_truth import varying_factors
from train import build_datamodule, build_model


class OneCodeModel(nn.Module):
    """Images whose brightness is set by code ``uses`` alone (categorical 0..2 or continuous -2..2), with a
    top-left patch set by the noise, so rows (other latents) differ but only that code changes columns."""

    def __init__(self, uses: int, shape=(1, 8, 8)) -> None:
        super().__init__()
        self.latent_spec = LatentSpec([3], 2, 2)
        self.uses, self.shape = uses, shape
        self.device = torch.device("cpu")
        self.modes_seen: list[bool] = []
        self.iteration = 0

    def brightness(self, value):
        return value / 2 if self.uses == 0 else (value + 2) / 4

    def generate(self, latent):
        self.modes_seen.append(self.training)
        value = self.brightness(latent.codes()[:, self.uses])
        images = value.view(-1, 1, 1, 1).expand(-1, *self.shape).clone()
        images[:, :, :2, :2] = torch.sigmoid(latent.noise[:, 0]).view(-1, 1, 1, 1)
        return images


class RecordingWandb(WandbLogger):
    """A WandbLogger that records ``log_image`` calls instead of starting a W&B run."""

    def __init__(self) -> None:  # no W&B run
        self.images = []

    def log_image(self, key, images, step=None, **kwargs):
        self.images.append((key, images, step))


class RecordingLogger:
    def __init__(self) -> None:
        self.logged = []

    def log_metrics(self, metrics, step=None):
        self.logged.append((dict(metrics), step))


def stub_trainer(*loggers, fast_dev_run=False, rank_zero=True):
    return SimpleNamespace(fast_dev_run=fast_dev_run, is_global_zero=rank_zero, loggers=list(loggers),
                           callback_metrics={})


def cell_means(png: Path, figure, rows: int, columns: int) -> np.ndarray:
    """Mean gray level (0-255) of the centre of every grid cell of the saved picture, ``(rows, columns)``."""
    box = figure.axes[0].get_window_extent()
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    top = image.shape[0] - box.y1
    cell_h, cell_w = box.height / rows, box.width / columns
    means = np.empty((rows, columns))
    for r in range(rows):
        for c in range(columns):
            y, x = int(top + (r + 0.5) * cell_h), int(box.x0 + (c + 0.5) * cell_w)
            means[r, c] = image[y - 8:y + 8, x - 8:x + 8].mean()
    return means


@pytest.mark.parametrize("uses", [0, 2])
def test_grid_changes_only_along_the_code_the_model_uses(uses):
    model = OneCodeModel(uses)
    for code in range(3):
        images, values = traversal_images(model, code, num_seeds=4, num_steps=5, value_range=2.0, seed=0)
        assert images.shape == (4, 3 if code == 0 else 5, 1, 8, 8)
        assert values == ([0.0, 1.0, 2.0] if code == 0 else [-2.0, -1.0, 0.0, 1.0, 2.0])
        column_change = (images[:, 1:] - images[:, :-1]).abs().amax()
        assert (column_change > 0.2) == (code == uses)
        assert (images[1:, :, :, :2, :2] - images[:-1, :, :, :2, :2]).abs().amax() > 0  # rows: other latents


def test_rendered_grid_shows_the_traversal_pixel_for_pixel(tmp_path):
    model = OneCodeModel(uses=1)
    for code, columns in [(0, 3), (1, 5)]:
        images, values = traversal_images(model, code, num_seeds=4, num_steps=5, seed=0)
        figure = plot_traversal_grid(images, values, f"code{code}", categorical=code == 0, title="iteration 7")
        png = tmp_path / f"grid{code}.png"
        figure.savefig(png, dpi=figure.dpi)
        picture = Image.open(png)
        assert picture.format == "PNG"
        # 8-pixel images drawn 8x larger with 2-pixel gaps, plus fixed margins (a minimum width of 400).
        grid_w, grid_h = columns * 66 - 2, 4 * 66 - 2
        assert picture.size == (max(400, 64 + grid_w + 16), 78 + grid_h + 12)
        means = cell_means(png, figure, 4, columns)
        if code == 1:  # brightness (v + 2) / 4 for v = -2, -1, 0, 1, 2
            np.testing.assert_allclose(means, np.tile(np.linspace(0, 255, 5), (4, 1)), atol=2)
        else:  # the model ignores code 0: every row is one constant gray
            assert np.ptp(means, axis=1).max() < 1


def test_render_traversals_writes_one_png_per_code(tmp_path):
    datamodule = SimpleNamespace(observation_shape=(1, 8, 8))
    paths = render_traversals(OneCodeModel(0), datamodule, tmp_path, "step000010", num_seeds=2, num_steps=4)
    assert {name: path.name for name, path in paths.items()} == {
        name: f"traversal_{name}_step000010.png" for name in ("cat0", "cont0", "cont1")}
    assert Image.open(paths["cont0"]).size == (max(400, 64 + 4 * 66 - 2 + 16), 78 + 2 * 66 - 2 + 12)


class MixtureModel(OneCodeModel):
    """2D points: categorical code k puts the point on the mode ``(k + 3) % 8`` of the ring."""

    def __init__(self, modes):
        super().__init__(0)
        self.latent_spec = LatentSpec([8], 1, 2)
        self.modes = modes

    def generate(self, latent):
        self.modes_seen.append(self.training)
        return self.modes[(latent.categorical[:, 0] + 3) % 8] + 0.05 * latent.noise


def test_scatter_colours_points_by_code_value(tmp_path):
    datamodule = GaussianMixtureDataModule("ring", num_samples=100)
    model = MixtureModel(datamodule.modes)
    points, values = code_scatter_samples(model, code=0, num_points=500, seed=3)
    drawn = model.latent_spec.sample(500, torch.Generator().manual_seed(3))
    assert torch.equal(values, drawn.categorical[:, 0].float())
    real = datamodule.sample(500, seed=3)[0]
    figure = plot_code_scatter(points, values, "cat0", 8, real, datamodule.modes)
    generated = next(c for c in figure.axes[0].collections if c.get_label() == "generated")
    np.testing.assert_allclose(generated.get_offsets(), points.numpy())
    np.testing.assert_allclose(generated.get_facecolors(), code_palette(8)[values.long().numpy()])
    # Different code values get different colours, and none is the real data's gray.
    palette = code_palette(25)
    assert len({tuple(c) for c in palette}) == 25
    assert np.abs(palette[:, :3] - palette[:, :3].mean(1, keepdims=True)).max(1).min() > 0.05
    paths = render_traversals(model, datamodule, tmp_path, "final", num_points=500)
    assert set(paths) == {"cat0", "cont0"}
    assert Image.open(paths["cat0"]).size == (840, 640)


def test_traversal_callback_renders_every_n_iterations_and_at_the_end(tmp_path):
    model = OneCodeModel(1)
    model.train()
    wandb = RecordingWandb()
    callback = LatentTraversal(tmp_path / "traversals", SimpleNamespace(observation_shape=(1, 8, 8)), 5,
                               num_seeds=2, num_steps=3)
    trainer = stub_trainer(wandb)
    for model.iteration in range(1, 11):
        callback.on_train_batch_end(trainer, model, None, None, 0)
    callback.on_train_end(trainer, model)
    names = sorted(p.name for p in (tmp_path / "traversals").iterdir())
    assert names == sorted(f"traversal_{code}_{label}.png" for code in ("cat0", "cont0", "cont1")
                           for label in ("step000005", "step000010", "final"))
    assert [(key, step) for key, _, step in wandb.images] == [
        (f"traversal/{code}", step) for step in (5, 10, 10) for code in ("cat0", "cont0", "cont1")]
    assert wandb.images[-1][1] == [str(tmp_path / "traversals" / "traversal_cont1_final.png")]
    assert model.training and model.modes_seen and not any(model.modes_seen)  # eval mode inside, train after


@pytest.mark.parametrize("trainer", [stub_trainer(fast_dev_run=True), stub_trainer(rank_zero=False)])
def test_callbacks_do_nothing_under_fast_dev_run_or_off_rank_zero(trainer, tmp_path):
    model = OneCodeModel(0)
    model.iteration = 10
    images = SimpleNamespace(observation_shape=(1, 8, 8))
    for callback in (LatentTraversal(tmp_path, images, 5), DisentanglementMetrics(DigitsDataModule(), 5)):
        callback.on_train_batch_end(trainer, model, None, None, 0)
        callback.on_train_end(trainer, model)
    assert not list(tmp_path.iterdir()) and trainer.callback_metrics == {} and not model.modes_seen


def at_iteration(model, iteration: int):
    """The model as callbacks see it after ``iteration`` training iterations, without a trainer."""
    model.__class__ = type(type(model).__name__, (type(model),), {"iteration": property(lambda self: iteration)})
    return model


SMALL_DSPRITES = ["experiment=dsprites", "data.dsprites.resolution=16", "data.dsprites.scale=[0,5]",
                  "data.dsprites.orientation=[0,20]", "data.dsprites.position_x=[0,10,20,31]",
                  "data.dsprites.position_y=[0,10,20,31]", "model.code_model.hidden=8", "model.critic.hidden=8",
                  "model.generator.hidden=8"]


def test_disentanglement_callback_logs_what_a_direct_evaluation_gives(capsys):
    cfg = load_config(SMALL_DSPRITES)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule.observation_shape)
    model.train()
    logger = RecordingLogger()
    trainer = stub_trainer(logger)
    callback = DisentanglementMetrics(datamodule, 4, num_train=300, num_test=200, seed=5, dci_n_estimators=5)
    at_iteration(model, 4)
    callback.on_train_batch_end(trainer, model, None, None, 0)
    expected = evaluate_disentanglement(datamodule, model.encode, num_train=300, num_test=200, seed=5,
                                        dci_n_estimators=5)
    assert set(trainer.callback_metrics) == {f"eval/{name}" for name in expected}
    for name, value in expected.items():
        assert float(trainer.callback_metrics[f"eval/{name}"]) == pytest.approx(value, rel=1e-6, abs=1e-7)
    assert logger.logged == [({f"eval/{n}": v for n, v in expected.items()}, 4)]
    assert model.training
    # each score was printed as it came, cheapest first, with its seconds: "eval: mig 0.01234 (0.4 s)"
    printed = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("eval: ")]
    terms = [f"mig/{datamodule.factor_names[k]}" for k in varying_factors(datamodule)]  # colour is constant
    assert [words[1] for words in printed] == ["mig", *terms, "sap", "dci_disentanglement", "dci_completeness",
                                               "dci_informativeness", "factor_vae", "beta_vae"]
    for _, name, value, seconds, unit in printed:
        assert float(value) == pytest.approx(expected[name], rel=1e-3, abs=1e-4)
        assert float(seconds.strip("(")) >= 0 and unit == "s)"
    callback.on_train_end(trainer, model)  # iteration 4 was just evaluated: not again
    assert len(logger.logged) == 1


def test_a_signal_abandons_an_evaluation_at_once_logs_nothing_of_it_and_stops_the_run(capsys):
    """SIGTERM in the middle of an evaluation that would run for a minute: it is abandoned within moments,
    the score it had printed is not logged, the model is back in training mode, and the end-of-iteration
    check writes the checkpoint and stops with a message naming what was abandoned."""
    import os
    import signal
    import time

    from callbacks.eval_logging import PeriodicEvaluation
    from callbacks.checkpoint import AtomicLastCheckpoint
    from callbacks.interrupt import GracefulInterrupt, TrainingInterrupted, signals

    class MinuteLong(PeriodicEvaluation):
        def evaluate(self, pl_module):
            self.progress("eval/first", 0.5)
            pl_module.eval()
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pass
            return {"eval/first": 0.5, "eval/second": 0.25}

    model = at_iteration(OneCodeModel(0), 4)
    model.train()
    logger = RecordingLogger()
    trainer = stub_trainer(logger)
    saved = []

    class RecordingCheckpoint:
        """Records its saves instead of writing; the real check of whether this step is already saved."""
        saved_at = None
        last_path = Path("run/checkpoints/last.ckpt")
        save_unless_current = AtomicLastCheckpoint.save_unless_current

        def save(self, trainer):
            saved.append(trainer)

    checkpoint = RecordingCheckpoint()
    assert signals.install()
    signals.phase = "training"
    try:
        start = time.monotonic()
        MinuteLong(2).on_train_batch_end(trainer, model, None, None, 0)
        assert time.monotonic() - start < 10
        assert "eval: first 0.5" in capsys.readouterr().out
        assert logger.logged == [] and trainer.callback_metrics == {}
        assert model.training
        trainer.global_step = 8
        trainer.strategy = SimpleNamespace(reduce_boolean_decision=lambda decision, all: decision)
        with pytest.raises(TrainingInterrupted) as stop:
            GracefulInterrupt(checkpoint).on_train_batch_end(trainer, model, None, None, 0)
        assert str(stop.value) == ("stopped by SIGTERM after iteration 4 (iteration 4's evaluation abandoned, nothing "
                                   "of it logged); checkpoint saved to run/checkpoints/last.ckpt")
        assert saved == [trainer]
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGTERM) is not signals._handle


def test_a_signal_during_a_shielded_step_abandons_the_work_only_after_the_step():
    """A score line is written through tqdm's lock, which an exception raised inside it leaves broken: a
    signal that arrives during such a step lets the step finish, then abandons the work."""
    import os
    import signal

    from callbacks.interrupt import WorkAbandoned, signals

    steps = []
    assert signals.install()
    signals.phase = "training"
    try:
        with pytest.raises(WorkAbandoned):
            with signals.interruptible():
                with signals.shielded():
                    os.kill(os.getpid(), signal.SIGTERM)
                    steps.append("rest of the step")
                steps.append("after the step")
        assert steps == ["rest of the step"]
        assert signals.received == signal.SIGTERM
    finally:
        signals.restore()


class DigitOracle(OneCodeModel):
    """Encodes a digit image by its label (looked up among the data's images), relabelled by ``permutation``."""

    def __init__(self, datamodule, permutation):
        super().__init__(0)
        self.latent_spec = LatentSpec([10], 2, 4)
        self.datamodule, self.permutation = datamodule, permutation

    def encode(self, x):
        nearest = torch.cdist(x.flatten(1), self.datamodule.images.flatten(1)).argmin(1)
        code = self.permutation[self.datamodule.labels[nearest]].float()
        return torch.stack([code, torch.zeros_like(code), torch.zeros_like(code)], dim=1)


def test_digits_get_unsupervised_accuracy_and_one_warning(caplog):
    datamodule = DigitsDataModule()
    permuted = DigitOracle(datamodule, torch.randperm(10, generator=torch.Generator().manual_seed(0)))
    constant = DigitOracle(datamodule, torch.zeros(10, dtype=torch.long))
    scores = {}
    for name, model in (("permuted", permuted), ("constant", constant)):
        trainer = stub_trainer()
        callback = DisentanglementMetrics(datamodule, 5, num_test=500, seed=1)
        with caplog.at_level(logging.WARNING, logger="callbacks.disentanglement"):
            callback.on_fit_start(trainer, model)
        model.iteration = 5
        callback.on_train_batch_end(trainer, model, None, None, 0)
        assert set(trainer.callback_metrics) == {"eval/unsupervised_accuracy"}
        scores[name] = float(trainer.callback_metrics["eval/unsupervised_accuracy"])
    assert scores["permuted"] == 1.0
    labels = datamodule.sample(500, seed=1)[1][:, 0]
    assert scores["constant"] == pytest.approx(torch.bincount(labels).max().item() / 500)
    assert 0.08 < scores["constant"] < 0.15
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all("\n" not in w and "skipped" in w and "digit" in w for w in warnings)


@pytest.mark.parametrize("experiment, expected", [
    ("gaussians", {MixtureMetrics, LatentTraversal}),
    ("dsprites", {DisentanglementMetrics, LatentTraversal}),
    ("digits", {DisentanglementMetrics, LatentTraversal}),
])
def test_build_callbacks_follows_the_config_and_the_data(experiment, expected, tmp_path):
    extra = ["data.gaussians.num_samples=100"] if experiment == "gaussians" else []
    cfg = load_config([f"experiment={experiment}", "callbacks.metrics.dci_n_estimators=7",
                       "callbacks.traversal.num_seeds=3", "seed=11", *extra])
    datamodule = build_datamodule(cfg)
    built = build_callbacks(cfg, tmp_path, datamodule)
    kinds = {type(c) for c in built} & {MixtureMetrics, DisentanglementMetrics, LatentTraversal}
    assert kinds == expected
    assert isinstance(built[0], TrainingClock), "first, so that it stops before the others' end-of-batch work"
    traversal = next(c for c in built if isinstance(c, LatentTraversal))
    assert traversal.out_dir == tmp_path / "traversals" and traversal.settings["num_seeds"] == 3
    assert traversal.settings["seed"] == 11
    for c in built:
        if isinstance(c, DisentanglementMetrics):
            assert c.settings == dict(num_train=2000, num_test=1000, seed=11, dci_n_estimators=7)
    cfg.callbacks.metrics.enabled = False
    cfg.callbacks.traversal.enabled = False
    assert not {type(c) for c in build_callbacks(cfg, tmp_path, datamodule)} & expected


def test_training_clock_counts_the_iterations_and_leaves_out_the_other_callbacks(monkeypatch):
    """On a fake clock each iteration takes 1 s and an evaluation after it 100 s: the clock records 3 s for
    3 iterations, 1 iteration per second."""
    import pytorch_lightning as pl

    from lightning_modules import InformativeOTGAN

    now = [0.0]
    monkeypatch.setattr("callbacks.training_clock.time.perf_counter", lambda: now[0])

    class OneSecondIterations(InformativeOTGAN):
        def train_iteration(self, real):
            super().train_iteration(real)
            now[0] += 1.0

    class SlowEvaluation(pl.Callback):
        def on_train_batch_end(self, *args):
            now[0] += 100.0

    cfg = load_config(["experiment=gaussians", "model.critic.kind=mlp", "data.batch_size=32"])
    model = OneSecondIterations(to_plain(cfg.model), (2,))
    clock = TrainingClock()
    trainer = pl.Trainer(max_steps=3 * model.optimizer_steps_per_iteration, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[clock, SlowEvaluation()])
    trainer.fit(model, datamodule=GaussianMixtureDataModule(batch_size=32, num_samples=256))
    assert clock.iterations == 3 and clock.seconds == 3.0
    assert float(trainer.callback_metrics[TRAINING_SECONDS]) == 3.0
    assert float(trainer.callback_metrics[TRAINING_SPEED]) == 1.0


def test_a_fast_dev_run_renders_and_scores_nothing(tmp_path):
    from train import train

    summary = train(load_config([
        "experiment=digits", "trainer.fast_dev_run=true", "callbacks.traversal.every_n_iterations=1",
        "callbacks.metrics.every_n_iterations=1", "logger.mode=disabled", "trainer.enable_progress_bar=false",
        "data.batch_size=16", f"run_dir={tmp_path / 'run'}",
    ]))
    assert summary["iterations"] == 1
    assert not (tmp_path / "run" / "traversals").exists()
    assert not [key for key in summary if key.startswith("eval/")]
