"""The registries are the one place a model or dataset name is written: configs validate from them and
train.py builds from them."""
import subprocess
import sys

import pytest

from configs.loading import ConfigError, load_config
from configs.registry import DATAMODULES, MODELS, Registry
from datamodules import DSpritesDataModule


def test_choices_are_the_registry_keys():
    assert list(MODELS) == ["informative_ot", "sinkhorn", "infogan"]
    assert {"gaussians", "dsprites", "digits", "mnist"} <= set(DATAMODULES)
    for name in DATAMODULES:
        assert load_config([f"data.name={name}"]).data.name == name
    with pytest.raises(ConfigError, match=r"data.name=bars: must be one of gaussians, dsprites"):
        load_config(["data.name=bars"])


def test_registry_imports_a_class_on_first_lookup_and_names_the_key():
    registry = Registry("data.name", {"dsprites": "datamodules.dsprites:DSpritesDataModule"})
    assert registry._entries["dsprites"] == "datamodules.dsprites:DSpritesDataModule"  # nothing imported yet
    assert registry["dsprites"] is DSpritesDataModule and registry._entries["dsprites"] is DSpritesDataModule
    with pytest.raises(KeyError, match="data.name=spirals: must be one of dsprites"):
        registry["spirals"]


def test_loading_a_config_imports_neither_torch_nor_the_upper_floors():
    code = ("import sys, configs.loading; configs.loading.load_config(['experiment=dsprites']); "
            "print(sorted(m for m in ('torch', 'pytorch_lightning', 'datamodules', 'lightning_modules') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr
