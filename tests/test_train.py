"""train.py end to end: every preset trains, a run leaves its three files, bad data gives one line."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from configs.loading import load_config
from test_datamodules import write_idx
from train import claim_run_dir, run_folder, train


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (64, 28, 28)).astype(np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, 64).astype(np.uint8), compress=False)
    return folder


def quick(name, tmp_path, *extra):
    return load_config([f"experiment={name}", "trainer.max_steps=3", "data.batch_size=16", "logger.mode=disabled",
                        "trainer.enable_progress_bar=false", "callbacks.metrics.num_generated=2000",
                        f"run_dir={tmp_path / name}", *extra])


@pytest.mark.parametrize("name", ["gaussians", "dsprites", "digits", "mnist"])
@pytest.mark.parametrize("model", ["informative_ot", "infogan"])
def test_fast_dev_run_of_every_preset(name, model, tmp_path, mnist_dir):
    extra = [f"data.path={mnist_dir}"] if name == "mnist" else []
    if model == "infogan":  # the digits and MNIST presets' simultaneous update is the OT models' alone
        extra.append("model.simultaneous_updates=false")
    summary = train(quick(name, tmp_path, "trainer.fast_dev_run=true", f"model.name={model}", *extra))
    assert summary["iterations"] == 1
    assert np.isfinite(summary["train/code_nll"])


def test_short_run_leaves_config_checkpoint_and_summary(tmp_path, capsys):
    cfg = quick("gaussians", tmp_path, "callbacks.checkpoint.every_n_iterations=2")
    summary = train(cfg)
    # the run ends by printing its final scores (those of summary.json), its grids and, last, its folder
    printed = capsys.readouterr().out.strip().splitlines()
    scores = {line.split()[0]: float(line.split()[1]) for line in printed if line.startswith("eval/")}
    assert scores == pytest.approx({k: v for k, v in summary.items() if k.startswith("eval/")}, rel=1e-3)
    assert len(scores) == 3 and printed[-1] == f"run folder: {tmp_path / 'gaussians'}"
    run_dir = tmp_path / "gaussians"
    written = json.loads((run_dir / "summary.json").read_text())
    assert written == pytest.approx(summary)
    assert written["iterations"] == 3 and written["optimizer_steps"] == 6
    assert 0 <= written["eval/code_purity"] <= 1 and 0 <= written["eval/modes_captured"] <= 25
    assert "reward: 0.72" in (run_dir / "config.yaml").read_text()
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 6
    assert (run_dir / "csv" / "metrics.csv").exists()


@pytest.mark.slow
def test_run_output_counts_iterations_not_optimizer_steps(tmp_path):
    """3 iterations of 5 optimizer steps each (1 critic, 3 generator, 1 Q): the end of training is said in
    iterations, and Lightning's line counting 15 "steps" is not printed."""
    result = subprocess.run([sys.executable, "train.py", "experiment=gaussians", "trainer.max_steps=3",
                             "model.n_generator=3", "model.critic.kind=mlp", "model.critic.hidden=16",
                             "logger.mode=disabled", "trainer.enable_progress_bar=false",
                             "callbacks.metrics.num_generated=2000",
                             f"run_dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "training stopped after 3 iterations (trainer.max_steps)" in output
    assert "max_steps=15" not in output and "`Trainer.fit` stopped" not in output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["optimizer_steps"] == 15


def test_mnist_without_files_names_the_missing_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "experiment=mnist", f"data.path={tmp_path}", "logger.mode=disabled",
         f"run_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert "train-images-idx3-ubyte" in error and "data.path" in error and str(tmp_path) in error
    assert not (tmp_path / "run").exists(), "a run that failed before training leaves no run folder"


def test_run_folder_is_removed_only_if_this_run_created_it_and_failed_before_its_first_iteration(tmp_path):
    class Model:
        iteration = 0

    for existed, iteration, kept in ((False, 0, False), (True, 0, True), (False, 3, True)):
        run_dir = tmp_path / f"run_{existed}_{iteration}"
        if existed:
            (run_dir / "checkpoints").mkdir(parents=True)
        with pytest.raises(RuntimeError):
            with run_folder(run_dir, remove_on_failure=True) as folder:
                (run_dir / "config.yaml").write_text("seed: 0\n")
                folder.model = Model()
                folder.model.iteration = iteration
                raise RuntimeError("data error")
        assert run_dir.exists() == kept, (existed, iteration)
    with run_folder(tmp_path / "ok", remove_on_failure=True):
        pass
    assert (tmp_path / "ok").is_dir()


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    claimed = [claim_run_dir(tmp_path / "runs", "2026-12-06_23-05-50") for _ in range(3)]
    assert [p.name for p in claimed] == ["2026-12-06_23-05-50", "2026-12-06_23-05-50-2", "2026-12-06_23-05-50-3"]
    assert all(p.is_dir() and not any(p.iterdir()) for p in claimed)
