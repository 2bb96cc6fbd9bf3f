"""End to end: a short dSprites run leaves traversal pictures and eval/ scores in summary.json, and
inspect_checkpoint.py reproduces those scores from the checkpoint; unusable inputs give one line."""
import csv
import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from configs.loading import load_config
from inspect_checkpoint import inspect, main
from lightning_modules.latent import LatentSpec
from train import train

CODES = tuple(LatentSpec.from_config(load_config(["experiment=dsprites"]).model.latent).code_names)  # a grid per code
SCORES = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")


@pytest.fixture(scope="module")
def dsprites_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "dsprites"
    summary = train(load_config([
        "experiment=dsprites", "trainer.max_steps=4", "callbacks.traversal.every_n_iterations=2",
        "callbacks.metrics.every_n_iterations=4", "callbacks.metrics.num_train=100", "callbacks.metrics.num_test=50",
        "callbacks.metrics.fidelity_samples=200",
        "logger.mode=disabled", "data.batch_size=16", "trainer.enable_progress_bar=false",
        f"run_dir={run_dir}",
    ]))
    return run_dir, summary


@pytest.mark.slow
def test_short_run_leaves_pictures_and_scores(dsprites_run):
    run_dir, summary = dsprites_run
    names = sorted(p.name for p in (run_dir / "traversals").iterdir())
    assert names == sorted(f"traversal_{code}_{label}.png" for code in CODES
                           for label in ("step000002", "step000004", "final"))
    picture = Image.open(run_dir / "traversals" / "traversal_cont0_final.png")
    assert picture.format == "PNG" and picture.size == (64 + 9 * 66 - 2 + 16, 78 + 4 * 66 - 2 + 12)
    written = json.loads((run_dir / "summary.json").read_text())
    for name in SCORES:
        assert 0 <= written[f"eval/{name}"] <= 1
    assert "eval/unsupervised_accuracy" not in written  # dSprites has five factors, no single label
    with open(run_dir / "csv" / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("eval/mig")]
    assert [int(row["step"]) for row in rows] == [4]  # at iteration 4, not repeated at the end


@pytest.mark.slow
def test_inspect_reproduces_the_run_scores(dsprites_run, tmp_path, capsys):
    run_dir, summary = dsprites_run
    assert main([f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", f"out={tmp_path / 'out'}"]) == 0
    result = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert result["iterations"] == 4
    for name in SCORES + ("fid", "precision", "recall"):
        assert result[f"eval/{name}"] == pytest.approx(summary[f"eval/{name}"], rel=1e-5, abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "out" / "traversals").iterdir()) == [
        f"traversal_{code}_step000004.png" for code in CODES]
    printed = capsys.readouterr().out
    assert "eval/mig" in printed and f"{result['eval/mig']:.4f}" in printed
    # Overrides change the evaluation (and the default out folder is <run>/inspect).
    smaller = inspect(run_dir, overrides=["callbacks.metrics.num_train=100", "callbacks.metrics.num_test=60"])
    assert (run_dir / "inspect" / "metrics.json").exists()
    assert smaller["eval/dci_informativeness"] != result["eval/dci_informativeness"]


def error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
def test_unusable_inputs_give_one_line_and_exit_code_2(dsprites_run, tmp_path, capsys):
    run_dir, _ = dsprites_run
    missing = tmp_path / "nowhere" / "last.ckpt"
    assert main([f"ckpt={missing}"]) == 2
    assert str(missing) in error_line(capsys)

    copy = tmp_path / "copy"
    (copy / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "config.yaml", copy / "config.yaml")
    data = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    (copy / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 2])
    assert main([f"ckpt={copy / 'checkpoints' / 'last.ckpt'}"]) == 2
    line = error_line(capsys)
    assert "last.ckpt" in line and "truncated" in line

    (copy / "checkpoints" / "last.ckpt").write_bytes(data)
    (copy / "config.yaml").unlink()
    assert main([f"ckpt={copy}"]) == 2
    assert "config.yaml" in error_line(capsys)

    assert main(["out=somewhere"]) == 2
    assert "ckpt=" in error_line(capsys)


def test_command_line_exit_code_and_message(tmp_path):
    result = subprocess.run([sys.executable, "inspect_checkpoint.py", f"ckpt={tmp_path / 'none.ckpt'}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: checkpoint {tmp_path / 'none.ckpt'} not found; pass ckpt=<run folder>/checkpoints/last.ckpt of a run"]
