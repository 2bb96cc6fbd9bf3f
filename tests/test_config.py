"""Configuration merging (schema <- base <- preset <- command line) and its one-line errors; renamed keys
(configs/loading.py, RENAMED_KEYS) still loading under their old names; the typed model settings the
models read, from the plain dict checkpoints store."""
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from configs.loading import (
    REMOVED_KEYS, RENAMED_KEYS, ConfigError, DeprecatedKeyWarning, load_config, model_config, presets, to_plain,
)
from configs.schema import ModelConfig, OptimizerConfig


def test_precedence_schema_base_preset_cli():
    cfg = load_config([])
    assert cfg.experiment == "gaussians"  # base.yaml picks the default preset
    assert cfg.model.latent.categorical == [25]  # from the preset
    assert cfg.model.infogan_lambda == 1.0  # schema default untouched by YAML
    cfg = load_config(["experiment=dsprites", "model.ot.blur=0.5", "model.latent.categorical=[3,4]"])
    assert cfg.data.name == "dsprites" and cfg.model.ot.blur == 0.5
    assert cfg.model.latent.categorical == [3, 4]


def test_every_preset_loads():
    assert {"gaussians", "dsprites", "digits", "mnist"} <= set(presets())
    for name in presets():
        assert load_config([f"experiment={name}"]).experiment == name


@pytest.mark.parametrize("name,reward", [("gaussians", 0.72), ("digits", 0.5), ("mnist", 1.0), ("dsprites", 0.5),
                                         ("dsprites64", 0.5), ("shapes3d", 0.7)])
def test_presets_set_the_reward_itself_so_a_new_blur_keeps_it(name, reward):
    """model.reward is lam (docs/method.md eq. 7: the cost is lowered by lam * pmi), whatever the blur."""
    assert load_config([f"experiment={name}"]).model.reward == reward
    assert load_config([f"experiment={name}", "model.ot.blur=0.5"]).model.reward == reward
    assert set(presets()) == {"gaussians", "digits", "mnist", "dsprites", "dsprites64", "shapes3d"}


def test_sinkhorn_baseline_is_informative_ot_without_regularization():
    cfg = load_config(["model.name=sinkhorn", "model.reward=0.5"])
    assert cfg.model.reward == 0.0


@pytest.mark.parametrize("args,info_weight,blur,reward", [
    (["model.info_weight=8"], 8.0, 0.3, 0.72),
    (["experiment=dsprites", "model.info_weight=31.1"], 31.1, 0.15, 0.69975),
    (["model.info_weight=31.1", "model.ot.blur=0.15"], 31.1, 0.15, 0.69975),
])
def test_old_info_weight_loads_as_the_reward_at_the_runs_blur_with_one_warning(args, info_weight, blur, reward):
    """info_weight was lam / eps: the same number times blur^2, the float the loss used to multiply the pmi by."""
    cfg, messages, sources = renamed_key_warnings(lambda: load_config(args))
    assert cfg.model.reward == info_weight * blur**2 == reward
    assert "info_weight" not in to_plain(cfg)["model"]
    assert len(messages) == 1 and sources == ["command line"]
    assert "model.info_weight" in messages[0] and "model.reward" in messages[0] and "\n" not in messages[0]


def test_old_info_weight_beside_the_reward_or_not_a_number_is_a_one_line_error():
    with pytest.raises(ConfigError, match="keep only model.reward"):
        load_config(["model.info_weight=8", "model.reward=0.5"])
    with pytest.raises(ConfigError, match="model.info_weight=abc"):
        load_config(["model.info_weight=abc"])


def test_model_config_gives_keys_an_old_checkpoint_lacks_their_defaults_and_values_their_types():
    """A checkpoint written before code_model.prior_mix existed stores a model dict without it."""
    saved = to_plain(load_config(["model.code_model.prior_mix=0.3", "model.critic.spectral_norm=true"]).model)
    del saved["code_model"]["prior_mix"]
    saved["reward"] = 1  # an int where the schema says float, as a hand-written dict may have
    cfg = model_config(saved)
    assert isinstance(cfg, ModelConfig) and isinstance(cfg.critic.optimizer, OptimizerConfig)
    assert cfg.code_model.prior_mix == 0.0  # the schema's default, not the 0.3 of the run
    assert cfg.reward == 1.0 and type(cfg.reward) is float
    assert cfg.critic.spectral_norm is True and cfg.latent.categorical == [25] and cfg.critic.optimizer.lr == 2e-4
    assert "prior_mix" not in saved["code_model"]  # the caller's dict is not filled in
    del saved["reward"]
    saved["info_weight"], saved["ot"]["blur"] = 22.2, 0.15  # a checkpoint from before model.reward
    assert model_config(saved).reward == 22.2 * 0.15**2 == 0.49949999999999994


def test_model_config_of_a_model_config_is_the_same_settings_and_converts_back_to_the_dict():
    cfg = load_config(["model.n_generator=3", "model.ot.diameter=4"]).model
    typed = OmegaConf.to_object(cfg)
    assert model_config(typed) == model_config(to_plain(cfg)) == typed
    assert model_config(typed).n_generator == 3 and model_config(typed).ot.diameter == 4.0
    assert to_plain(OmegaConf.structured(model_config(to_plain(cfg)))) == to_plain(cfg)  # what checkpoints store


@pytest.mark.parametrize("model,fragment", [
    ({"no_such_key": 1}, "model.no_such_key"),
    ({"critic": {"spectrl_norm": True}}, "model.critic.spectrl_norm"),
    ({"ot": {"scaling": "fine"}}, "model.ot.scaling"),
])
def test_model_config_rejects_unknown_keys_and_wrong_types_in_one_line_naming_the_key(model, fragment):
    with pytest.raises(ConfigError) as error:
        model_config(model)
    message = str(error.value)
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize("args,fragment", [
    (["no_such_key=1"], "no_such_key"),
    (["model.ot.blurr=0.3"], "blurr"),
    (["trainer.max_steps=abc"], "trainer.max_steps"),
    (["experiment=nope"], "no such preset"),
    (["model.name=gan"], "model.name"),
    (["model.ot.scaling=1.5"], "model.ot.scaling"),
    (["model.code_model.prior_mix=1"], "model.code_model.prior_mix"),
    (["model.code_model.augment.scale=1"], "model.code_model.augment.scale"),
    (["model.code_model.augment.translation=-0.1"], "model.code_model.augment.translation"),
    (["model.code_model.augment.rotation_degrees=20"], "for data of points"),  # the gaussians preset
    (["model.simultaneous_updates=true", "model.n_generator=3"], "model.simultaneous_updates"),
    (["model.simultaneous_updates=true", "model.name=infogan"], "model.simultaneous_updates"),
    (["model.simultaneous_updates=true", "model.critic.kind=identity"], "model.simultaneous_updates"),
    (["model.critic.objective=wasserstein"], "model.critic.objective"),
    (["experiment=dsprites", "model.critic.kind=identity"], "pass model.critic.objective=adversarial"),
    (["experiment=digits", "model.critic.objective=energy_distance"], "alternating updates"),  # simultaneous
    (["experiment=dsprites", "data.batch_size=63"], "splits each batch in halves"),
    (["experiment=digits", "model.code_model.augment.invariant_continuous=3"], "model.latent.continuous (2)"),
    (["experiment=digits", "model.code_model.augment.invariant_continuous=1"], "set rotation_degrees, scale"),
    (["trainer.pause_at=0"], "trainer.pause_at"),
    (["trainer.max_steps=100", "trainer.pause_at=100"], "from 1 to trainer.max_steps - 1 (99)"),
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
    (["data.name=image_folder", "data.path=photos"], "a preset for images: digits"),
])
def test_command_line_exits_nonzero_with_one_line(args, fragment):
    result = subprocess.run([sys.executable, "train.py", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and fragment in result.stderr


def test_help_lists_presets():
    result = subprocess.run([sys.executable, "train.py", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "dsprites" in result.stdout and "model.reward" in result.stdout


def renamed_key_warnings(load):
    """``(result of load(), [messages of DeprecatedKeyWarning], [their filenames])``, every warning recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load()
    found = [w for w in caught if issubclass(w.category, DeprecatedKeyWarning)]
    return result, [str(w.message) for w in found], [w.filename for w in found]


def test_renamed_keys_table_points_from_gone_keys_to_schema_keys():
    defaults = load_config([])
    for old, new in RENAMED_KEYS.items():
        assert OmegaConf.select(defaults, new, default="absent") != "absent", f"{new} is not a key of the schema"
        assert OmegaConf.select(defaults, old, default="absent") == "absent", f"{old} is still a key of the schema"
    assert RENAMED_KEYS["callbacks.metrics.every_n_steps"] == "callbacks.metrics.every_n_iterations"  # issue 16


@pytest.mark.parametrize("old,new", sorted(RENAMED_KEYS.items()))
def test_old_key_on_the_command_line_loads_as_the_new_key_with_one_warning(old, new):
    new_cfg, new_warnings, _ = renamed_key_warnings(lambda: load_config(["experiment=gaussians", f"{new}=7"]))
    old_cfg, old_warnings, sources = renamed_key_warnings(lambda: load_config(["experiment=gaussians", f"{old}=7"]))
    assert OmegaConf.select(old_cfg, new) == OmegaConf.select(new_cfg, new) == 7
    assert to_plain(old_cfg) == to_plain(new_cfg)  # nothing else differs, and no old key is left in it
    assert new_warnings == []
    assert len(old_warnings) == 1 and sources == ["command line"]
    assert old in old_warnings[0] and new in old_warnings[0] and "removed" in old_warnings[0]
    assert "\n" not in old_warnings[0]


def old_run_folder(tmp_path, values: dict):
    """A run folder as an older version left it: its config.yaml holds ``values`` under the old names of
    the renamed keys (nothing under the new names), and an (empty) checkpoints/last.ckpt."""
    saved = to_plain(load_config(["experiment=gaussians"]))
    for old, new in RENAMED_KEYS.items():
        *groups, leaf = new.split(".")
        group = saved
        for name in groups:
            group = group[name]
        del group[leaf]
        group[old.rsplit(".", 1)[1]] = values[new]
    run_dir = tmp_path / "old_run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    OmegaConf.save(OmegaConf.create(saved), run_dir / "config.yaml")
    assert "every_n_steps" in (run_dir / "config.yaml").read_text()
    return run_dir


def test_saved_config_with_old_keys_resumes_and_inspects_under_the_new_keys(tmp_path):
    from inspect_checkpoint import run_config

    values = {new: 10 + i for i, new in enumerate(RENAMED_KEYS.values())}
    run_dir = old_run_folder(tmp_path, values)
    resumed, messages, sources = renamed_key_warnings(lambda: load_config([f"resume={run_dir}"]))
    inspected, inspect_messages, _ = renamed_key_warnings(lambda: run_config(run_dir))
    for cfg in (resumed, inspected):
        assert {new: OmegaConf.select(cfg, new) for new in RENAMED_KEYS.values()} == values
    assert resumed.run_dir == str(run_dir) and resumed.resume == str(run_dir / "checkpoints" / "last.ckpt")
    # One warning per old key, each naming it, its new name and the file it came from.
    assert len(messages) == len(RENAMED_KEYS) == len(inspect_messages)
    for (old, new), message in zip(RENAMED_KEYS.items(), messages):
        assert old in message and new in message
    assert set(sources) == {str(run_dir / "config.yaml")}
    # An old key on the command line of the resume still overrides the saved value.
    with pytest.warns(DeprecatedKeyWarning):
        overridden = load_config([f"resume={run_dir}", "callbacks.metrics.every_n_steps=3"])
    assert overridden.callbacks.metrics.every_n_iterations == 3
    assert overridden.callbacks.traversal.every_n_iterations == values["callbacks.traversal.every_n_iterations"]


@pytest.mark.parametrize("old,new", sorted(RENAMED_KEYS.items()))
def test_old_and_new_key_together_is_a_one_line_error_saying_which_to_keep(old, new):
    with pytest.raises(ConfigError) as error:
        load_config([f"{old}=5", f"{new}=7"])
    message = str(error.value)
    assert "\n" not in message and old in message and f"keep only {new}" in message


def test_old_and_new_key_in_a_saved_config_is_an_error(tmp_path):
    from inspect_checkpoint import InspectError, run_config

    run_dir = old_run_folder(tmp_path, {new: 10 for new in RENAMED_KEYS.values()})
    saved = OmegaConf.load(run_dir / "config.yaml")
    saved.callbacks.metrics.every_n_iterations = 20
    OmegaConf.save(saved, run_dir / "config.yaml")
    loads = {ConfigError: lambda: load_config([f"resume={run_dir}"]), InspectError: lambda: run_config(run_dir)}
    for error, load in loads.items():
        with warnings.catch_warnings(record=True) as caught, pytest.raises(error) as raised:
            warnings.simplefilter("always")
            load()
        message = str(raised.value)
        assert "\n" not in message and str(run_dir / "config.yaml") in message
        assert "both callbacks.metrics.every_n_steps and" in message
        assert "keep only callbacks.metrics.every_n_iterations" in message
        assert not [w for w in caught if issubclass(w.category, DeprecatedKeyWarning)]  # the error comes first


def test_command_line_shows_the_old_key_warning_as_one_line():
    """What a user sees: one warning line naming both keys (the run here stops on another key's error)."""
    result = subprocess.run([sys.executable, "train.py", "callbacks.metrics.every_n_steps=5", "trainer.max_steps=abc"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "trainer.max_steps" in lines[1]
    assert "callbacks.metrics.every_n_steps" in lines[0] and "callbacks.metrics.every_n_iterations" in lines[0]


def test_run_folder_saved_with_info_weight_resumes_and_inspects_with_the_reward_at_its_blur(tmp_path):
    from inspect_checkpoint import run_config

    saved = to_plain(load_config(["experiment=dsprites"]))
    del saved["model"]["reward"]
    saved["model"]["info_weight"] = 31.1  # as the dsprites preset's runs wrote it, at blur 0.15
    run_dir = tmp_path / "old_run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    OmegaConf.save(OmegaConf.create(saved), run_dir / "config.yaml")
    for load in (lambda: load_config([f"resume={run_dir}"]), lambda: run_config(run_dir)):
        cfg, messages, sources = renamed_key_warnings(load)
        assert cfg.model.reward == 31.1 * 0.15**2 == 0.69975
        assert len(messages) == 1 and sources == [str(run_dir / "config.yaml")]


# InfoGAN's best measured settings on the image presets (docs/studies.md), as the
# benchmarks ran it before the presets held them.
INFOGAN_IMAGE_SETTINGS = {"n_generator": 1, "spectral_norm": False, "simultaneous_updates": False, "critic_lr": 2e-4}


def image_settings(model) -> dict:
    return {"n_generator": model.n_generator, "spectral_norm": model.critic.spectral_norm,
            "simultaneous_updates": model.simultaneous_updates, "critic_lr": model.critic.optimizer.lr}


@pytest.mark.parametrize("preset", ["digits", "dsprites", "mnist", "dsprites64", "shapes3d"])
def test_a_preset_runs_infogan_at_its_own_benchmark_settings_and_the_method_at_the_presets(preset):
    infogan = load_config([f"experiment={preset}", "model.name=infogan"]).model
    assert image_settings(infogan) == INFOGAN_IMAGE_SETTINGS
    method = load_config([f"experiment={preset}"]).model
    assert method.critic.spectral_norm is True and method.n_generator == (1 if preset in ("digits", "mnist") else 3)
    # Everything else is the preset's model block, for every model: the comparison changes only these keys.
    assert infogan.latent == method.latent and infogan.generator == method.generator


def test_digits_and_dsprites_resolve_infogan_to_the_settings_the_benchmarks_measured():
    assert image_settings(load_config(["experiment=digits", "model.name=infogan"]).model) == {
        "n_generator": 1, "spectral_norm": False, "simultaneous_updates": False, "critic_lr": 2e-4}
    dsprites = load_config(["experiment=dsprites", "model.name=infogan"]).model
    assert image_settings(dsprites) == {"n_generator": 1, "spectral_norm": False, "simultaneous_updates": False,
                                        "critic_lr": 2e-4}
    # The preset's critic ascends the energy distance; InfoGAN's discriminator its own GAN loss.
    assert load_config(["experiment=dsprites"]).model.critic.objective == "energy_distance"
    assert dsprites.critic.objective == "adversarial"
    with pytest.raises(ConfigError, match="model.critic.objective=energy_distance: .*an OT model"):
        load_config(["model.name=infogan", "model.critic.kind=mlp", "model.critic.objective=energy_distance"])
    assert dsprites.generator.optimizer.lr == 5e-4  # the preset's, not InfoGAN's own
    gaussians = load_config(["model.name=infogan"]).model
    assert gaussians.generator.optimizer.lr == 2e-4 and load_config([]).model.generator.optimizer.lr == 1e-3


def test_the_command_line_overrides_a_models_preset_settings():
    cfg = load_config(["experiment=dsprites", "model.name=infogan", "model.critic.spectral_norm=true",
                       "model.n_generator=2"]).model
    assert cfg.critic.spectral_norm is True and cfg.n_generator == 2
    assert cfg.critic.optimizer.lr == 2e-4  # the other per-model settings still apply


def test_model_settings_are_not_a_key_of_the_run_and_name_models(tmp_path, monkeypatch):
    import configs.loading as loading

    with pytest.raises(ConfigError, match="model_settings"):
        load_config(["model_settings.infogan.n_generator=2"])
    assert "model_settings" not in to_plain(load_config(["experiment=digits"]))
    (tmp_path / "odd.yaml").write_text("model_settings:\n  gan:\n    n_generator: 2\n")
    monkeypatch.setattr(loading, "EXPERIMENT_DIR", tmp_path)
    with pytest.raises(ConfigError) as error:
        load_config(["experiment=odd"])
    assert "model_settings.gan: no such model" in str(error.value) and "infogan" in str(error.value)


def test_print_config_prints_the_resolved_configuration_without_training(tmp_path):
    run_dir = tmp_path / "never_made"
    result = subprocess.run([sys.executable, "train.py", "experiment=digits", "model.name=infogan",
                             f"run_dir={run_dir}", "--print-config"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    printed = OmegaConf.create(result.stdout)
    assert to_plain(printed) == to_plain(load_config(["experiment=digits", "model.name=infogan", f"run_dir={run_dir}"]))
    assert printed.model.critic.spectral_norm is False and printed.model.simultaneous_updates is False
    assert not run_dir.exists() and "run folder" not in result.stdout
    help_text = subprocess.run([sys.executable, "train.py", "--help"], capture_output=True, text=True, timeout=120).stdout
    assert "--print-config" in help_text


# The removed keys (CHANGELOG.md) and a value each that is not the "off" their runs kept.
REMOVED = {"model.info_warmup": 0.3, "model.critic.bound": "ball", "model.code_model.on_critic": True,
           "model.code_model.generated_weight": 1.0, "model.code_model.continuous_std": 1.0,
           "model.ot.extra_iterations": 2}


def test_removed_keys_are_no_keys_of_the_schema():
    assert set(REMOVED_KEYS) == set(REMOVED)
    defaults = load_config([])
    for key in REMOVED_KEYS:
        assert OmegaConf.select(defaults, key, default="absent") == "absent", key


@pytest.mark.parametrize("key", sorted(REMOVED))
def test_a_removed_key_on_the_command_line_is_a_one_line_error_naming_it(key):
    for value in (REMOVED[key], REMOVED_KEYS[key]):  # even the old "off" value: the key does nothing now
        with pytest.raises(ConfigError) as error:
            load_config([f"{key}={value}"])
        message = str(error.value)
        assert "\n" not in message and key in message and "removed" in message and "command line" in message


def saved_run_folder(tmp_path, **model_changes) -> Path:
    """A run folder as the version before the removals left it: every removed key in its config.yaml, at the
    "off" value unless ``model_changes`` (dotted key under model. -> value) says otherwise."""
    saved = to_plain(load_config(["experiment=digits"]))
    for key, off in REMOVED_KEYS.items():
        *groups, leaf = key.split(".")
        group = saved
        for name in groups:
            group = group[name]
        group[leaf] = model_changes.get(key, off)
    run_dir = tmp_path / "old_run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    OmegaConf.save(OmegaConf.create(saved), run_dir / "config.yaml")
    return run_dir


def test_old_run_folder_that_kept_removed_options_off_resumes_and_inspects(tmp_path):
    from inspect_checkpoint import run_config

    run_dir = saved_run_folder(tmp_path)
    assert "on_critic: false" in (run_dir / "config.yaml").read_text()
    expected = to_plain(load_config(["experiment=digits"]))["model"]
    for cfg in (load_config([f"resume={run_dir}"]), run_config(run_dir)):
        assert to_plain(cfg)["model"] == expected


@pytest.mark.parametrize("key", sorted(REMOVED))
def test_old_run_folder_that_used_a_removed_option_is_a_one_line_error(tmp_path, key):
    from inspect_checkpoint import InspectError, run_config

    run_dir = saved_run_folder(tmp_path, **{key: REMOVED[key]})
    for error, load in ((ConfigError, lambda: load_config([f"resume={run_dir}"])), (InspectError, lambda: run_config(run_dir))):
        with pytest.raises(error) as raised:
            load()
        message = str(raised.value)
        assert "\n" not in message and f"{key}={REMOVED[key]}" in message and "removed" in message
        assert str(run_dir / "config.yaml") in message


def test_checkpoint_model_settings_with_removed_keys_off_load_and_on_are_refused():
    saved = to_plain(load_config(["experiment=digits"]).model)
    old = {**saved, "info_warmup": 0.0, "code_model": {**saved["code_model"], "on_critic": False, "continuous_std": 0.5}}
    assert model_config(old) == model_config(saved)
    with pytest.raises(ConfigError, match="model.code_model.on_critic=True"):
        model_config({**saved, "code_model": {**saved["code_model"], "on_critic": True}})


@pytest.mark.parametrize("args,fragment,fitting", [
    (["data.name=image_folder", "data.path=photos"], "model.generator.kind=mlp", "digits, dsprites, dsprites64, mnist, shapes3d"),
    (["experiment=digits", "data.name=gaussians"], "model.generator.kind=conv", ": gaussians"),
    (["model.critic.kind=conv"], "model.critic.kind=conv", ": gaussians"),
])
def test_data_and_networks_that_do_not_fit_are_a_one_line_error_naming_the_presets_that_fit(args, fragment, fitting):
    """Before any network is built: image_folder under the default 2D preset would build conv networks of the
    MLP widths (about 200 M parameters at 64 x 64)."""
    with pytest.raises(ConfigError) as error:
        load_config(args)
    message = str(error.value)
    assert "\n" not in message and fragment in message and message.endswith(fitting) and "experiment=" in message


def test_image_presets_take_any_image_dataset_and_a_pixel_space_cost():
    cfg = load_config(["experiment=dsprites64", "data.name=image_folder", "data.path=photos"])
    assert cfg.model.generator.kind == "conv"
    pixel_cost = load_config(["experiment=dsprites", "model.critic.kind=identity", "model.critic.objective=adversarial"])
    assert pixel_cost.model.critic.kind == "identity"
