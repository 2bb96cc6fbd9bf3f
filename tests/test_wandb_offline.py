"""W&B end to end, offline: a short real run with logger.mode=offline, then its W&B log read back.

No account and no network: W&B writes the run to ``run_dir/wandb/offline-run-*/run-*.wandb`` (what
``wandb sync`` would upload), and the tests read that file back. It is W&B's transaction log: a LevelDB-style
log (https://github.com/google/leveldb/blob/main/doc/log_format.md) with a 7-byte W&B header, whose records
are ``wandb.proto.wandb_internal_pb2.Record`` protobufs. wandb 0.31 writes it from its Go core and no longer
ships the Python reader (``wandb.sdk.internal.datastore``), so ``read_records`` below reads the framing (a
few lines, checksums verified) and wandb's own protobuf classes decode the records.
"""
from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

REWARD = 0.36  # not the preset's 0.72, so the config check sees the command line
RUN_ARGS = ["experiment=gaussians", "trainer.max_steps=60", "trainer.log_every_n_steps=10",
            "callbacks.metrics.every_n_iterations=30", "callbacks.metrics.num_generated=2000", "data.batch_size=64",
            f"model.reward={REWARD}", "logger.mode=offline", "trainer.enable_progress_bar=false"]

# The W&B transaction log framing (wandb/sdk/internal/datastore.py in wandb < 0.19; the Go core keeps it).
FILE_HEADER = struct.Struct("<4sHB")  # ident ":W&B", magic 0xBEE1, version 0
FILE_IDENT, FILE_MAGIC, FILE_VERSION = b":W&B", 0xBEE1, 0
RECORD_HEADER = struct.Struct("<IHB")  # crc32 of (type byte + data), data length, type
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path):
    """Yield the ``wandb_internal_pb2.Record`` protobufs of a ``.wandb`` file, checking every checksum."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert FILE_HEADER.unpack_from(data) == (FILE_IDENT, FILE_MAGIC, FILE_VERSION), f"{path}: not a W&B log"
    offset, pending = FILE_HEADER.size, None
    while offset < len(data):
        left = BLOCK - offset % BLOCK
        if left < RECORD_HEADER.size:  # a block never starts a record in its last 6 bytes: zero padding
            assert data[offset:offset + left] == bytes(min(left, len(data) - offset)), f"{path}: bad padding"
            offset += left
            continue
        checksum, length, kind = RECORD_HEADER.unpack_from(data, offset)
        if (checksum, length, kind) == (0, 0, 0):  # zero-filled rest of a block
            offset += left
            continue
        chunk = data[offset + RECORD_HEADER.size:offset + RECORD_HEADER.size + length]
        assert len(chunk) == length, f"{path}: truncated record at byte {offset}"
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == checksum, f"{path}: bad checksum at byte {offset}"
        offset += RECORD_HEADER.size + length
        if kind == FULL:
            payload = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind in (MIDDLE, LAST):
            assert pending is not None, f"{path}: record piece without a first piece at byte {offset}"
            pending += chunk
            if kind == MIDDLE:
                continue
            payload, pending = pending, None
        else:
            raise AssertionError(f"{path}: unknown record type {kind} at byte {offset}")
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def _items(items) -> dict:
    """A config / history / summary item list as a dict; an item with a nested key path ``[a, b]`` (how a
    logged media object is split into fields) becomes ``{a: {b: value}}``."""
    result: dict = {}
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        target = result
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = json.loads(item.value_json)
    return result


@dataclass
class OfflineRun:
    run_dir: Path
    wandb_dir: Path  # run_dir/wandb/offline-run-*
    history: list[dict] = field(default_factory=list)  # one dict per wandb.log step
    config: dict = field(default_factory=dict)  # the run's config after every update
    summary: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # paths W&B was told to upload
    record_types: set[str] = field(default_factory=set)
    terminal: str = ""  # what train.py printed (stdout and stderr)

    @classmethod
    def read(cls, run_dir: Path) -> OfflineRun:
        folders = sorted((run_dir / "wandb").glob("offline-run-*"))
        assert len(folders) == 1, f"expected one offline run under {run_dir / 'wandb'}, found {folders}"
        logs = sorted(folders[0].glob("run-*.wandb"))
        assert len(logs) == 1, f"expected one run-*.wandb in {folders[0]}, found {logs}"
        run = cls(run_dir, folders[0])
        for record in read_records(logs[0]):
            kind = record.WhichOneof("record_type")
            run.record_types.add(kind)
            if kind == "history":
                run.history.append(_items(record.history.item))
            elif kind == "config":
                run.config.update(_items(record.config.update))
            elif kind == "summary":
                run.summary.update(_items(record.summary.update))
            elif kind == "files":
                run.files += [f.path for f in record.files.files]
        return run

    def values(self, key: str) -> list:
        return [row[key] for row in self.history if key in row]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> OfflineRun:
    tmp = tmp_path_factory.mktemp("wandb_offline")
    run_dir = tmp / "run"
    env = {key: value for key, value in os.environ.items() if key != "WANDB_API_KEY"}
    # Nothing under the home folder: W&B's settings, cache (its debug logs) and staging go to tmp.
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp / "wandb_dir"), WANDB_CACHE_DIR=str(tmp / "wandb_cache"),
               WANDB_CONFIG_DIR=str(tmp / "wandb_config"), WANDB_DATA_DIR=str(tmp / "wandb_data"))
    result = subprocess.run([sys.executable, "train.py", *RUN_ARGS, f"run_dir={run_dir}"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = OfflineRun.read(run_dir)
    run.terminal = result.stdout + result.stderr
    return run


@pytest.mark.slow
def test_terminal_shows_the_run_and_not_third_party_noise(offline_run):
    """The four messages silenced in train.silence_known_noise / build_loggers / the checkpoint callback
    are gone, while the run's own lines and W&B's offline notice are still printed."""
    for noise in ("anonymous setting", "litlogger", "LeafSpec", "weights_only"):
        assert noise not in offline_run.terminal, noise
    assert f"run folder: {offline_run.run_dir}" in offline_run.terminal
    assert "eval/modes_captured" in offline_run.terminal and "wandb sync" in offline_run.terminal


@pytest.mark.slow
def test_history_has_the_training_and_eval_scalars(offline_run):
    assert {"run", "config", "history", "summary", "exit"} <= offline_run.record_types
    divergence = offline_run.values("train/divergence")
    assert len(divergence) >= 5, "60 iterations logged every 10 should give about 6 points"
    assert all(math.isfinite(value) for value in divergence)
    # callbacks/mixture_metrics.py: every callbacks.metrics.every_n_iterations=30 iterations and at the end.
    purity = offline_run.values("eval/code_purity")
    assert len(purity) >= 2 and all(0 <= value <= 1 for value in purity)
    assert all(math.isfinite(v) for v in offline_run.values("eval/modes_captured"))


@pytest.mark.slow
def test_config_and_summary_are_logged(offline_run):
    assert offline_run.config["model"]["reward"] == REWARD
    assert offline_run.config["experiment"] == "gaussians"
    assert offline_run.config["logger"]["mode"] == "offline"
    # train.py writes the same final values to summary.json and to the W&B summary.
    written = json.loads((offline_run.run_dir / "summary.json").read_text())
    for key in ("eval/code_purity", "train/divergence", "iterations"):
        assert offline_run.summary[key] == pytest.approx(written[key])


def _logged_images(run: OfflineRun) -> list:
    """Images in the history (wandb.Image is logged as {"_type": "image-file", ...}, a list of them as
    {"_type": "images/separated", ...}) or image files W&B stored with the run."""
    media = [value for row in run.history for value in row.values()
             if isinstance(value, dict) and str(value.get("_type", "")).startswith("image")]
    stored = sorted((run.wandb_dir / "files" / "media" / "images").rglob("*.png"))
    return media + stored + [path for path in run.files if path.startswith("media/images/")]


@pytest.mark.slow
def test_an_image_is_logged(offline_run):
    assert _logged_images(offline_run), "no image in the W&B history and none under files/media/images/"
