"""Nothing lost on a crash: SIGTERM then exact resume, non-finite updates skipped then a clean stop,
unusable checkpoints refused in one line, atomic checkpoint writes, reproducible summaries."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import lightning_modules
from callbacks.checkpoint import AtomicLastCheckpoint
from configs.loading import load_config
from lightning_modules.nonfinite import DivergenceError
from train import train

SHORT = ["experiment=gaussians", "data.batch_size=64", "logger.mode=disabled", "trainer.enable_progress_bar=false",
         "callbacks.metrics.enabled=false", "trainer.deterministic=true", "trainer.log_every_n_steps=1"]


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "train.py", *args], capture_output=True, text=True, timeout=timeout)


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def logged(run_dir: Path, key: str) -> dict[int, float]:
    values = {}
    for path in sorted(run_dir.glob("csv*/metrics.csv")):
        with open(path) as file:
            for row in csv.DictReader(file):
                if row.get(key):
                    values[int(row["step"])] = float(row[key])
    return values


@pytest.mark.slow
def test_sigterm_mid_run_then_resume_equals_uninterrupted_run(tmp_path):
    steps = ["trainer.max_steps=150", "callbacks.checkpoint.every_n_iterations=10", "data.batch_size=32"]
    reference = tmp_path / "reference"
    train(load_config([*SHORT, *steps, f"run_dir={reference}"]))

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen([sys.executable, "train.py", *SHORT, *steps, f"run_dir={interrupted}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (interrupted / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert f"resume with: python train.py resume={interrupted}" in stderr
    stopped_at = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] // 2
    assert 10 <= stopped_at < 150

    resumed = run_cli(f"resume={interrupted}")
    assert resumed.returncode == 0, resumed.stderr
    final, expected = weights(interrupted), weights(reference)
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.equal(final[name], expected[name]), name
    # the loss trajectory across the interruption is the uninterrupted one, to the last digit
    trajectory, reference_trajectory = logged(interrupted, "train/divergence"), logged(reference, "train/divergence")
    assert max(trajectory) > stopped_at and len(trajectory) >= len(reference_trajectory) - 1
    for step, value in trajectory.items():
        assert value == reference_trajectory[step], step
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["iterations"] == 150


class NaNAfter(lightning_modules.InformativeOTGAN):
    """Test hook: the divergence becomes NaN at the iterations in `bad_iterations`."""

    bad_iterations: set[int] = set()

    def divergence(self, x, y, pmi):
        result = super().divergence(x, y, pmi)
        if self.iteration in self.bad_iterations:
            result.divergence = result.divergence * float("nan")
        return result


def test_isolated_nan_iterations_are_skipped_and_counted(tmp_path, monkeypatch):
    NaNAfter.bad_iterations = {5, 6, 11}
    monkeypatch.setitem(lightning_modules.MODELS, "informative_ot", NaNAfter)
    summary = train(load_config([*SHORT, "trainer.max_steps=15", f"run_dir={tmp_path}"]))
    assert summary["train/skipped_steps"] == 3 and summary["iterations"] == 15
    assert all(torch.isfinite(t).all() for t in weights(tmp_path).values())


def test_persistent_nan_stops_the_run_and_keeps_the_checkpoint_from_before(tmp_path, monkeypatch):
    NaNAfter.bad_iterations = set(range(7, 100))
    monkeypatch.setitem(lightning_modules.MODELS, "informative_ot", NaNAfter)
    cfg = load_config([*SHORT, "trainer.max_steps=50", "model.max_consecutive_skips=4",
                       "callbacks.checkpoint.every_n_iterations=2", f"run_dir={tmp_path}"])
    with pytest.raises(DivergenceError, match="4 consecutive iterations.*model.ot.blur"):
        train(cfg)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] // 2 == 6  # the last save before the first bad iteration


def test_divergence_hint_names_only_the_models_own_keys():
    from train import build_model

    hints = {name: build_model(load_config(["experiment=gaussians", f"model.name={name}"]), (2,)).divergence_hint()
             for name in ("informative_ot", "infogan")}
    assert "model.ot.blur=" in hints["informative_ot"] and "blur" not in hints["infogan"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    summary = train(load_config([*SHORT, "trainer.max_steps=12", f"run_dir={run_dir}"]))
    return run_dir, summary


def test_same_seed_gives_the_same_summary(finished_run, tmp_path):
    run_dir, first = finished_run
    second = train(load_config([*SHORT, "trainer.max_steps=12", f"run_dir={tmp_path}"]))
    numbers = {k: v for k, v in first.items() if not k.startswith("time/")}
    assert numbers == {k: v for k, v in second.items() if not k.startswith("time/")}
    assert torch.equal(weights(run_dir)["generator.out.weight"], weights(tmp_path)["generator.out.weight"])


def copy_run(run_dir: Path, target: Path) -> Path:
    (target / "checkpoints").mkdir(parents=True)
    (target / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    (target / "checkpoints" / "last.ckpt").write_bytes((run_dir / "checkpoints" / "last.ckpt").read_bytes())
    return target


def test_truncated_checkpoint_gives_one_line_error(finished_run, tmp_path):
    target = copy_run(finished_run[0], tmp_path / "run")
    checkpoint = target / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    result = run_cli(f"resume={target}", "trainer.max_steps=20")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "cannot read checkpoint" in result.stderr


def test_checkpoint_of_another_model_config_gives_one_line_error(finished_run, tmp_path):
    target = copy_run(finished_run[0], tmp_path / "run")
    config = target / "config.yaml"
    config.write_text(config.read_text().replace("hidden: 256", "hidden: 128", 1))
    result = run_cli(f"resume={target}", "trainer.max_steps=20")
    assert result.returncode == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0 and "does not fit the model" in message and "generator" in message


@pytest.mark.parametrize("args,fragment", [
    (["resume=/no/such/run"], "no such run folder"),
    (["model.reward=2"], "keeps its configuration"),
])
def test_bad_resume_requests(finished_run, args, fragment):
    if args[0].startswith("model."):
        args = [f"resume={finished_run[0]}", *args]
    result = run_cli(*args)
    assert result.returncode == 2 and fragment in result.stderr and result.stderr.strip().count("\n") == 0


def test_interrupted_save_leaves_previous_checkpoint_intact(tmp_path):
    class FailingTrainer:
        fast_dev_run, is_global_zero = False, True

        def save_checkpoint(self, path, weights_only=None):
            Path(path).write_bytes(b"half a checkpoint")
            raise OSError("No space left on device")

    callback = AtomicLastCheckpoint(tmp_path, every_n_iterations=1)
    callback.last_path.write_bytes(b"previous good checkpoint")
    with pytest.raises(OSError):
        callback.save(FailingTrainer())
    assert callback.last_path.read_bytes() == b"previous good checkpoint"
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt", "last.ckpt.partial"]


@pytest.mark.slow
def test_resume_with_several_generator_updates_per_iteration_equals_uninterrupted_run(tmp_path):
    """With a learned critic and n_generator=3 an iteration is 5 optimizer steps (1 critic, 3 generator, 1 Q); a run stopped after 4
    iterations and resumed to 8 ends with the uninterrupted run's weights and iteration count. (No lr decay,
    whose schedule depends on the run's length, so that a shorter run is an interrupted longer one.)"""
    ratio = [*SHORT, "model.critic.kind=mlp", "model.critic.hidden=32", "model.n_generator=3", "model.lr_decay_start=1",
             "callbacks.traversal.enabled=false", "callbacks.checkpoint.every_n_iterations=100"]
    train(load_config([*ratio, "trainer.max_steps=8", f"run_dir={tmp_path / 'reference'}"]))
    train(load_config([*ratio, "trainer.max_steps=4", f"run_dir={tmp_path / 'resumed'}"]))
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4 * 5
    summary = train(load_config([f"resume={tmp_path / 'resumed'}", "trainer.max_steps=8"]))
    assert summary["iterations"] == 8 and summary["optimizer_steps"] == 8 * 5
    final, expected = weights(tmp_path / "resumed"), weights(tmp_path / "reference")
    for name in expected:
        assert torch.equal(final[name], expected[name]), name


@pytest.mark.slow
def test_a_paused_run_resumes_into_the_run_never_paused(tmp_path):
    """trainer.pause_at stops after that iteration (exit 0, the resume line, a checkpoint of that iteration, no
    summary) and keeps the learning-rate decay of trainer.max_steps, so the resumed run ends with the weights of
    the run never paused - where a run trained to max_steps=3 and resumed to 8 does not (its decay ran over 3)."""
    args = [*SHORT, "model.critic.kind=mlp", "model.critic.hidden=32", "model.n_generator=3",
            "model.lr_decay_start=0.5", "callbacks.traversal.enabled=false",
            "callbacks.checkpoint.every_n_iterations=100", "trainer.max_steps=8"]
    reference, paused, shortened = tmp_path / "reference", tmp_path / "paused", tmp_path / "shortened"
    train(load_config([*args, f"run_dir={reference}"]))

    result = run_cli(*args, "trainer.pause_at=3", f"run_dir={paused}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        f"paused after iteration 3 (trainer.pause_at); checkpoint saved to {paused / 'checkpoints' / 'last.ckpt'}",
        f"resume with: python train.py resume={paused}", f"run folder: {paused}"]
    assert torch.load(paused / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3 * 5
    assert not (paused / "summary.json").exists()
    assert train(load_config([f"resume={paused}"]))["iterations"] == 8

    train(load_config([*args, "trainer.max_steps=3", f"run_dir={shortened}"]))
    train(load_config([f"resume={shortened}", "trainer.max_steps=8"]))
    final, expected, other = weights(paused), weights(reference), weights(shortened)
    for name in expected:
        assert torch.equal(final[name], expected[name]), name
    assert any(not torch.equal(other[name], expected[name]) for name in expected)


def test_a_resumed_run_counts_its_progress_from_the_iteration_it_resumes_at(tmp_path):
    """Lightning skips on_train_epoch_start when it resumes part-way through its one endless epoch; the bar
    still shows the total of trainer.max_steps and starts at the resumed iteration, not at 0 with no total."""
    args = [*SHORT, "trainer.max_steps=8", "trainer.enable_progress_bar=true", "callbacks.traversal.enabled=false"]
    run = tmp_path / "run"
    assert run_cli(*args, "trainer.pause_at=3", f"run_dir={run}").returncode == 0
    resumed = run_cli(f"resume={run}", "trainer.enable_progress_bar=true")
    assert resumed.returncode == 0, resumed.stderr
    shown = re.findall(r"Training:[^|]*\|[^|]*\| *(\d+)/(\S+) ", resumed.stdout.replace("\r", "\n"))
    counted = [(int(n), total) for n, total in shown if int(n) > 0]  # before the first iteration: 0 of any total
    assert counted[0] == (3, "8") and counted[-1] == (8, "8")
    assert {total for _, total in counted} == {"8"}


# dSprites with disentanglement_lib's sample sizes: encoding the 30,000 images before the first score line
# takes seconds; the rest of that evaluation (FactorVAE's and BetaVAE's votes alone encode 3 x 64 times as
# many) would take well over ten minutes on a CPU.
LONG_EVALUATION = ["experiment=dsprites", "trainer.max_steps=4", "data.batch_size=16", "logger.mode=disabled",
                   "trainer.deterministic=true",
                   "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
                   "callbacks.traversal.enabled=false",
                   "callbacks.checkpoint.every_n_iterations=100", "callbacks.metrics.every_n_iterations=2",
                   "callbacks.metrics.num_train=20000", "callbacks.metrics.num_test=10000",
                   "callbacks.metrics.fidelity=false"]


def start_and_signal_on(line_start: str, args: list[str]) -> tuple[subprocess.Popen, str, float]:
    """Start train.py, send SIGTERM as soon as it prints a line starting with ``line_start``; returns the
    process, that line and the time of the signal."""
    process = subprocess.Popen([sys.executable, "train.py", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    for line in process.stdout:
        if line.startswith(line_start):
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            return process, line, sent
    raise AssertionError(f"no line starting with {line_start!r}: {process.communicate()[1][-3000:]}")


@pytest.mark.slow
def test_sigterm_during_an_evaluation_stops_within_seconds_then_resumes_exactly(tmp_path):
    """SIGTERM once the evaluation at iteration 2 has printed its first score: the run stops within seconds
    (not the evaluation's many minutes) with the checkpoint of iteration 2 and none of the evaluation's
    scores logged; resumed, it ends with the weights of an uninterrupted run, bit for bit."""
    interrupted = tmp_path / "interrupted"
    process, line, sent = start_and_signal_on("eval: mig", [*LONG_EVALUATION, f"run_dir={interrupted}"])
    _, stderr = process.communicate(timeout=120)
    seconds_to_exit = time.monotonic() - sent
    assert process.returncode == 143, stderr[-3000:]
    first_score_seconds = float(line.rsplit("(", 1)[1].split()[0])
    assert seconds_to_exit < 20, f"took {seconds_to_exit:.1f} s to stop"
    assert seconds_to_exit < 3 * 64 * first_score_seconds / 10, "the evaluation would not have taken far longer"
    assert "after iteration 2 (iteration 2's evaluation abandoned, nothing of it logged)" in stderr
    assert f"resume with: python train.py resume={interrupted}" in stderr
    checkpoint = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 * 5  # the iteration the evaluation followed (5 optimizer steps each)
    assert not logged(interrupted, "eval/mig"), "the abandoned evaluation's scores are not logged"
    assert logged(interrupted, "train/divergence"), "the training scalars are"

    resumed = run_cli(f"resume={interrupted}", "callbacks.metrics.enabled=false")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The reference runs as the interrupted run did, in a process of its own: this one's torch threads may have
    # been changed by other tests, and a conv net's float sums depend on the thread count.
    reference = tmp_path / "reference"
    assert run_cli(*LONG_EVALUATION, "callbacks.metrics.enabled=false", f"run_dir={reference}").returncode == 0
    final, expected = weights(interrupted), weights(reference)
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.equal(final[name], expected[name]), name


@pytest.mark.slow
def test_sigterm_during_start_up_stops_at_once_and_leaves_no_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    # "run folder:" is printed before the data and the model are built
    process, _, sent = start_and_signal_on("run folder:", [*LONG_EVALUATION, f"run_dir={run_dir}"])
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-3000:]
    assert time.monotonic() - sent < 10
    assert stderr.strip().splitlines()[-1] == ("stopped by SIGTERM during start-up, before the first iteration; "
                                               "nothing was trained (no checkpoint to resume): run the command again")
    assert not run_dir.exists()
