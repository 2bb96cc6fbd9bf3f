"""The registries are the one place a model or dataset name is written: configs validate from them, train.py
builds from them, and a dataset registered in that one place trains end to end."""
import subprocess
import sys

import pytest
import torch

from configs.loading import ConfigError, load_config
from configs.registry import DATAMODULES, MODELS, OBSERVATIONS, Registry
from datamodules import DSpritesDataModule
from datamodules.base import FactorDataModule
from datamodules.factor_grid import FactorGrid, FactorGridDataset
from train import build_datamodule, train


class BarsDataModule(FactorDataModule):
    """A toy dataset written only here: 8 x 8 images of one horizontal and one vertical white bar, the
    bars' rows and columns being its two factors (8 values each)."""

    factor_names = ("row", "column")
    factor_sizes = (8, 8)
    observation_shape = (1, 8, 8)

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.grid = FactorGrid(self.factor_names, self.factor_sizes, (None, None))

    def render(self, factors: torch.Tensor) -> torch.Tensor:
        images = torch.zeros(len(factors), 1, 8, 8)
        images[torch.arange(len(factors)), 0, factors[:, 0], :] = 1
        images[torch.arange(len(factors)), 0, :, factors[:, 1]] = 1
        return images

    def sample_factors(self, n, generator):
        return self.grid.sample(n, generator)

    def observations_from_factors(self, factors, generator):
        return self.render(factors)

    def train_dataset(self):
        return FactorGridDataset(self.grid, self.render)


def test_choices_are_the_registry_keys():
    assert list(MODELS) == ["informative_ot", "sinkhorn", "infogan"]
    assert {"gaussians", "dsprites", "digits", "mnist"} <= set(DATAMODULES)
    assert set(OBSERVATIONS) == set(DATAMODULES)  # every dataset says whether it holds points or images
    for name in DATAMODULES:
        preset = "gaussians" if OBSERVATIONS[name] == "points" else "dsprites"
        assert load_config([f"experiment={preset}", f"data.name={name}"]).data.name == name
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


def test_a_dataset_registered_in_one_place_trains(monkeypatch, tmp_path):
    monkeypatch.setitem(DATAMODULES, "bars", BarsDataModule)  # the one place
    cfg = load_config(["experiment=digits", "data.name=bars", "data.batch_size=16", "trainer.max_steps=3",
                       "model.latent.categorical=[]", "model.latent.continuous=2", "model.generator.hidden=8",
                       "model.critic.hidden=8", "model.code_model.hidden=8", "callbacks.metrics.fidelity=false",
                       "callbacks.metrics.num_train=100", "callbacks.metrics.num_test=50", "logger.mode=disabled",
                       "trainer.enable_progress_bar=false", f"run_dir={tmp_path / 'bars'}"])
    datamodule = build_datamodule(cfg)
    assert isinstance(datamodule, BarsDataModule) and datamodule.batch_size == 16 and datamodule.seed == cfg.seed
    summary = train(cfg)
    assert summary["iterations"] == 3
    # The factor scores apply to the toy's two factors with no code of its own: they were computed.
    assert 0 <= summary["eval/mig"] <= 1 and 0 <= summary["eval/factor_vae"] <= 1
    assert sorted(p.name for p in (tmp_path / "bars" / "traversals").glob("*_final.png")) == [
        "traversal_cont0_final.png", "traversal_cont1_final.png"]
