"""The trained feature network of every data configuration, cached on disk (``callbacks.metrics.feature_cache``).

A cache file ``<data name>-<hash>.pt`` holds the weights, the held-out accuracy and the key they were
made for. The key names everything that changes the network: a format version, the data configuration
(``data.name``, ``data.path``, the dataset's own section such as ``data.dsprites``), what the datamodule
derives from it (image shape, factor sizes, a hash of a fixed sample's pixels, which also changes when
the files behind ``data.path`` change), and the architecture and training settings. A file whose stored
key differs, that cannot be read, or whose weights do not fit is retrained with a warning, never used.
Files are written atomically (write, then rename), so concurrent runs can share one folder.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from dataclasses import asdict
from pathlib import Path

import torch

from metrics.feature_network import FeatureNetwork, FeatureNetworkSettings
from metrics.feature_training import classified_factors, pixel_hashes, train_feature_network

log = logging.getLogger(__name__)

# Raise when the network, its training or the file layout changes in a way the settings do not show.
FORMAT_VERSION = 1
FINGERPRINT_SAMPLES = 256
FINGERPRINT_SEED = 7_000_003


def data_fingerprint(datamodule) -> int:
    """CRC32 over the 8-bit pixel hashes of a fixed sample of the data: differs when its images do."""
    images, factors = datamodule.sample(FINGERPRINT_SAMPLES, seed=FINGERPRINT_SEED)
    return zlib.crc32(json.dumps([pixel_hashes(images), factors.tolist()]).encode())


def cache_key(data_config: dict, datamodule, settings: FeatureNetworkSettings) -> dict:
    """Everything the network depends on, as plain JSON values (see the module docstring)."""
    key = {
        "format": FORMAT_VERSION,
        "data": data_config,
        "observation_shape": list(datamodule.observation_shape),
        "factor_names": list(datamodule.factor_names),
        "factor_sizes": [int(size) for size in datamodule.factor_sizes],
        "data_fingerprint": data_fingerprint(datamodule),
        "network": asdict(settings),
    }
    return json.loads(json.dumps(key, sort_keys=True))  # tuples -> lists, as they come back from a file


def cache_path(cache_dir: str | Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / f"{key['data'].get('name', 'data')}-{digest}.pt"


def describe(name: str, stored: dict, where: str) -> str:
    accuracy = ", ".join(f"{factor} {value:.3f}" for factor, value in stored["accuracy"].items())
    return (f"feature network for {name}: held-out accuracy {accuracy} ({stored['held_out']} images), trained in "
            f"{stored['seconds']:.1f} s; {where}")


def _read(path: Path, key: dict, settings: FeatureNetworkSettings,
          factor_sizes) -> tuple[FeatureNetwork | None, dict, str]:
    """``(network, stored, '')`` from a usable file, else ``(None, {}, why not)``."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file, unpicklable: all mean "retrain"
        return None, {}, f"unreadable ({type(error).__name__}: {str(error).strip().splitlines()[0][:120]})"
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None, {}, "made for another data configuration or network (its key differs)"
    classes = [size for _, size in classified_factors(factor_sizes, settings.max_classes)]
    network = FeatureNetwork(key["observation_shape"], classes, settings)
    try:
        network.load_state_dict(stored["state_dict"])
        describe("", stored, "")  # the report that is printed must be there too
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as error:
        return None, {}, f"damaged ({type(error).__name__}: {str(error).strip().splitlines()[0][:120]})"
    return network.freeze(), stored, ""


def feature_network(datamodule, data_config: dict, cache_dir: str | Path,
                    settings: FeatureNetworkSettings = FeatureNetworkSettings()) -> FeatureNetwork:
    """The feature network of ``datamodule``: loaded from ``cache_dir`` when a file with its key is
    there and usable, else trained (seconds to a minute on a CPU) and saved there. Prints its held-out
    accuracy once.

    Args:
        datamodule: the image data (see :func:`metrics.feature_training.train_feature_network`).
        data_config: what configured it, e.g. ``{"name": "dsprites", "path": None, "dsprites": {...}}``.
        cache_dir: the cache folder (``~`` is expanded; created if missing).
        settings: architecture and training.
    """
    key = cache_key(data_config, datamodule, settings)
    path = cache_path(cache_dir, key)
    name = key["data"].get("name", "the data")
    if path.exists():
        network, stored, problem = _read(path, key, settings, datamodule.factor_sizes)
        if network is not None:
            print(describe(name, stored, f"cached at {path}"), flush=True)
            return network
        log.warning(f"feature network cache {path} is {problem}: training it again")
    else:
        print(f"feature network for {name}: not in the cache yet, training it on {settings.num_train} images "
              f"(seconds to a minute on a CPU, once per data configuration)", flush=True)
    network, report = train_feature_network(datamodule, settings)
    stored = {"key": key, "state_dict": network.state_dict(), **report}
    where = f"cached at {path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            torch.save(stored, partial)
            os.replace(partial, path)
        except BaseException:  # a signal or a full disk during the write leaves no partial file behind
            partial.unlink(missing_ok=True)
            raise
    except OSError as error:  # a read-only or full disk costs a retraining next time, not the run
        log.warning(f"could not write the feature network cache {path} ({error}); set "
                    f"callbacks.metrics.feature_cache to a writable folder to keep it")
        where = "not cached"
    print(describe(name, stored, where), flush=True)
    return network
