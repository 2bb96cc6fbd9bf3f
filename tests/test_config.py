"""Configuration merging (schema <- base <- preset <- command line) and its one-line errors."""
import subprocess
import sys

import pytest

from configs.loading import ConfigError, load_config, presets


def test_precedence_schema_base_preset_cli():
    cfg = load_config([])
    assert cfg.experiment == "gaussians"  # base.yaml picks the default preset
    assert cfg.model.latent.categorical == [25]  # from the preset
    assert cfg.model.code_model.continuous_std == 0.5  # schema default untouched by YAML
    cfg = load_config(["experiment=dsprites", "model.ot.blur=0.5", "model.latent.categorical=[3,4]"])
    assert cfg.data.name == "dsprites" and cfg.model.ot.blur == 0.5
    assert cfg.model.latent.categorical == [3, 4]


def test_every_preset_loads():
    assert {"gaussians", "dsprites", "digits", "mnist"} <= set(presets())
    for name in presets():
        assert load_config([f"experiment={name}"]).experiment == name


def test_sinkhorn_baseline_is_informative_ot_without_regularization():
    cfg = load_config(["model.name=sinkhorn", "model.info_weight=8"])
    assert cfg.model.info_weight == 0.0


@pytest.mark.parametrize("args,fragment", [
    (["no_such_key=1"], "no_such_key"),
    (["model.ot.blurr=0.3"], "blurr"),
    (["trainer.max_steps=abc"], "trainer.max_steps"),
    (["experiment=nope"], "no such preset"),
    (["model.name=gan"], "model.name"),
    (["model.ot.scaling=1.5"], "model.ot.scaling"),
    (["model.critic.bound=cube"], "model.critic.bound"),
    (["--model.lr=1"], "key=value"),
])
def test_bad_input_gives_one_line_error_naming_the_key(args, fragment):
    with pytest.raises(ConfigError) as error:
        load_config(args)
    message = str(error.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("args,fragment", [
    (["no_such_key=1"], "no_such_key"),
    (["trainer.max_steps=abc"], "trainer.max_steps"),
])
def test_command_line_exits_nonzero_with_one_line(args, fragment):
    result = subprocess.run([sys.executable, "train.py", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and fragment in result.stderr


def test_help_lists_presets():
    result = subprocess.run([sys.executable, "train.py", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "dsprites" in result.stdout and "model.info_weight" in result.stdout
