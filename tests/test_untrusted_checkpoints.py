"""Checkpoints are read as data: a file that would run code when unpickled is refused by resume and by
inspect_checkpoint.py before anything in it runs, and genuine checkpoints of every preset still resume
exactly."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from callbacks.checkpoint import CheckpointError, read_checkpoint
from callbacks.training_clock import TRAINING_SECONDS
from configs.loading import load_config
from inspect_checkpoint import main as inspect_main
from test_datamodules import write_idx
from test_datasets_extra import write_shapes3d
from train import train


class CreatesAFile:
    """Unpickling this object opens (creates) ``path``: the simplest payload that leaves a trace."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


QUIET = ["logger.mode=disabled", "trainer.enable_progress_bar=false", "callbacks.metrics.enabled=false",
         "callbacks.traversal.enabled=false", "trainer.deterministic=true"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("genuine")
    train(load_config(["experiment=gaussians", "data.batch_size=32", "trainer.max_steps=3", *QUIET,
                       f"run_dir={run_dir}"]))
    return run_dir


def crafted_copy(run_dir: Path, target: Path, marker: Path) -> Path:
    """The run folder with its checkpoint's state kept and one pickled payload added."""
    (target / "checkpoints").mkdir(parents=True)
    (target / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["callbacks"] = {"payload": CreatesAFile(marker)}
    torch.save(checkpoint, target / "checkpoints" / "last.ckpt")
    return target


def test_a_crafted_checkpoint_is_refused_by_resume_and_nothing_runs(run_folder, tmp_path):
    marker = tmp_path / "created-by-the-checkpoint"
    target = crafted_copy(run_folder, tmp_path / "run", marker)
    result = subprocess.run([sys.executable, "train.py", f"resume={target}", "trainer.max_steps=5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert "refused" in message and "CreatesAFile" not in message and "io.open" in message
    assert "did not come from this project" in message
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_by_inspect_and_nothing_runs(run_folder, tmp_path, capsys):
    marker = tmp_path / "created-by-the-checkpoint"
    target = crafted_copy(run_folder, tmp_path / "run", marker)
    assert inspect_main([f"ckpt={target}", f"out={tmp_path / 'out'}"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "refused" in message and "io.open" in message
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="nothing in it was run"):
        read_checkpoint(target / "checkpoints" / "last.ckpt", torch.nn.Linear(1, 1))
    assert not marker.exists()


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, list[str]]:
    """The files the presets that read files need, tiny: MNIST's IDX pair and a reduced 3dshapes.h5."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (folder / "mnist").mkdir()
    write_idx(folder / "mnist" / "train-images-idx3-ubyte", rng.integers(0, 256, (64, 28, 28)).astype(np.uint8))
    write_idx(folder / "mnist" / "train-labels-idx1-ubyte", rng.integers(0, 10, 64).astype(np.uint8))
    write_shapes3d(folder / "3dshapes.h5")
    return {"mnist": [f"data.path={folder / 'mnist'}"], "shapes3d": [f"data.path={folder / '3dshapes.h5'}"]}


# Each preset at its own architecture and update scheme; the 64 x 64 ones with narrow networks (seconds on a CPU).
NARROW = ["model.generator.hidden=4", "model.critic.hidden=4", "model.critic.features=8", "model.code_model.hidden=4",
          "data.num_workers=0"]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["gaussians", "dsprites", "digits", "mnist", "dsprites64", "shapes3d"])
def test_a_genuine_checkpoint_of_every_preset_resumes_exactly(preset, tmp_path, data_files):
    """2 iterations, then resumed to 4, end with the weights of 4 uninterrupted iterations, bit for bit. (No lr
    decay, whose schedule depends on the run's length, so that the shorter run is an interrupted longer one.)"""
    settings = [f"experiment={preset}", "data.batch_size=8", "model.lr_decay_start=1", *QUIET,
                *data_files.get(preset, []), *(NARROW if preset in ("dsprites64", "shapes3d") else [])]
    train(load_config([*settings, "trainer.max_steps=4", f"run_dir={tmp_path / 'reference'}"]))
    first = train(load_config([*settings, "trainer.max_steps=2", f"run_dir={tmp_path / 'resumed'}"]))
    saved = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]
    summary = train(load_config([f"resume={tmp_path / 'resumed'}", "trainer.max_steps=4"]))
    assert summary["iterations"] == 4
    # the training clock is part of the state: the resumed run's seconds continue from the first part's
    assert saved["TrainingClock"]["seconds"] == pytest.approx(first[TRAINING_SECONDS], rel=1e-6)  # summary: float32
    assert summary[TRAINING_SECONDS] > first[TRAINING_SECONDS]
    final, expected = (torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
                       for name in ("resumed", "reference"))
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.equal(final[name], expected[name]), name
