"""W&B sweep files in configs/sweeps/: checked locally, without a W&B server.

A sweep file is only read by the W&B server and the `wandb agent`, so a mistake in it (a key our config
does not have, a value of the wrong type, ``${args}`` instead of ``${args_no_hyphens}``, a metric no run
logs) shows up only on a cluster, run after run. These tests catch it here: every file parses as
`wandb sweep` reads it, every parameter is a key of our configuration and every value it can take loads
with `configs.loading.load_config`, the metric is one our runs log, and the command the agent builds
from the file trains (one short run per file).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch
import yaml

from configs.loading import ConfigError, load_config
from configs.schema import Config, MetricsConfig

REPO = Path(__file__).resolve().parents[1]
SWEEP_DIR = REPO / "configs" / "sweeps"
SWEEP_FILES = sorted(SWEEP_DIR.glob("*.yaml"))
REQUIRED_SWEEPS = {"dsprites_reward_blur.yaml", "gaussians_reward_blur.yaml", "baselines_seeds.yaml"}

# The eval/... scalars our runs log, by kind of data. A sweep may only optimize one of these: the W&B
# server reads the metric from each run's summary, and a name no run logs leaves it nothing to rank.
#
# 2D Gaussian mixtures: callbacks/mixture_metrics.py logs "eval/" + the keys of
# metrics.mixture.mixture_quality (MixtureQuality.compute), every callbacks.metrics.every_n_iterations
# iterations and at the end of training.
MIXTURE_EVAL_KEYS = ("eval/modes_captured", "eval/high_quality_frac", "eval/code_purity")
# Image data with two or more ground-truth factors (dsprites): callbacks/disentanglement.py logs "eval/" +
# metrics.evaluate.SCORE_NAMES (the scores of evaluate_disentanglement).
DISENTANGLEMENT_EVAL_KEYS = (
    "eval/mig",
    "eval/factor_vae",
    "eval/beta_vae",
    "eval/dci_disentanglement",
    "eval/dci_completeness",
    "eval/dci_informativeness",
    "eval/sap",
)
# Image data with a single label (digits, mnist): the same callback logs the accuracy of the first
# categorical code after matching its values to the labels.
LABEL_EVAL_KEYS = ("eval/unsupervised_accuracy",)
LOGGED_EVAL_KEYS = {"gaussians": MIXTURE_EVAL_KEYS, "dsprites": DISENTANGLEMENT_EVAL_KEYS, "digits": LABEL_EVAL_KEYS,
                    "mnist": LABEL_EVAL_KEYS}

# What the W&B sweep configuration accepts (docs.wandb.ai, "Sweep configuration options").
TOP_LEVEL_KEYS = {"program", "method", "metric", "parameters", "command", "name", "description", "project",
                  "entity", "run_cap", "early_terminate"}
METHODS = {"grid", "random", "bayes"}
GOALS = {"minimize", "maximize"}
FLOAT_DISTRIBUTIONS = {"uniform", "log_uniform_values", "inv_log_uniform_values", "q_uniform", "q_log_uniform_values",
                       "normal", "q_normal", "log_normal", "q_log_normal"}
# Macros the agent replaces in `command` (wandb_agent.Agent._command_run).
MACROS = {"${env}", "${interpreter}", "${program}", "${args}", "${args_no_hyphens}", "${args_no_boolean_flags}",
          "${args_json}", "${args_json_file}", "${args_no_equals}", "${args_append_hydra}", "${args_override_hydra}"}

# Appended after the sweep's arguments for the end-to-end run. The agent appends nothing itself, but
# our loader merges left to right, so these win over the sweep's values (as a later key=value would).
# The evaluation sizes keep dSprites' disentanglement scores (rendered samples, DCI fits) to ~15 s.
SHORT_RUN = ["trainer.max_steps=3", "data.batch_size=16", "logger.mode=disabled", "trainer.enable_progress_bar=false",
             "callbacks.metrics.num_generated=2000", "callbacks.metrics.num_train=20", "callbacks.metrics.num_test=10",
             "callbacks.metrics.fidelity_samples=100"]
if "dci_n_estimators" in {f.name for f in dataclasses.fields(MetricsConfig)}:
    SHORT_RUN.append("callbacks.metrics.dci_n_estimators=2")


def load_sweep(path: Path) -> dict:
    """The sweep as `wandb sweep` reads it: yaml.safe_load (wandb.sdk.launch.sweeps.utils.load_sweep_config)."""
    with open(path) as handle:
        sweep = yaml.safe_load(handle)
    assert isinstance(sweep, dict) and sweep, f"{path.name}: empty or not a mapping"
    return sweep


def schema_type(key: str):
    """The annotated type of a dotted key of our configuration (configs/schema.py), or fail naming it."""
    cls, parts = Config, key.split(".")
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        assert part in hints, f"{key}: {part!r} is not a key of {cls.__name__} (configs/schema.py)"
        kind = hints[part]
        if dataclasses.is_dataclass(kind):
            assert i < len(parts) - 1, f"{key}: is a group of keys, not a value; sweep one of its keys"
            cls = kind
        else:
            assert i == len(parts) - 1, f"{key}: {'.'.join(parts[:i + 1])} is a value, not a group"
            return kind
    raise AssertionError(key)


def base_type(kind):
    """float for float and Optional[float], list for List[...], etc."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is typing.Union and len(args) == 1:
        kind = args[0]
    return typing.get_origin(kind) or kind


def candidate_values(spec: dict) -> list:
    """Values a parameter can take that the tests try: all listed values, or both ends of a range."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return list(spec["values"])
    return [spec["min"], spec["max"]]


def first_value(spec: dict):
    return candidate_values(spec)[0]


def render_arg(key: str, value) -> str:
    """One argument of ${args_no_hyphens}: f"{param}={value}" of the value as the server sends it."""
    return f"{key}={value}"


def agent_command(sweep: dict, params: dict, interpreter: str = "python") -> list[str]:
    """The command `wandb agent` runs for one set of parameter values, by W&B's documented macros:
    ``${env}`` -> /usr/bin/env, ``${interpreter}`` -> python (the one on PATH), ``${program}`` -> the
    sweep's program, ``${args_no_hyphens}`` -> key=value per parameter, ``${args}`` -> --key=value; any
    other item is passed as written."""
    macros = {
        "${env}": ["/usr/bin/env"],
        "${interpreter}": [interpreter],
        "${program}": [sweep["program"]],
        "${args}": ["--" + render_arg(k, v) for k, v in params.items()],
        "${args_no_hyphens}": [render_arg(k, v) for k, v in params.items()],
    }
    command: list[str] = []
    for item in sweep["command"]:
        command += macros.get(str(item), [str(item)])
    return command


def sweep_data_name(sweep: dict) -> str:
    fixed = [render_arg(k, s["value"]) for k, s in sweep["parameters"].items() if "value" in s]
    return load_config(fixed).data.name


@pytest.fixture(params=SWEEP_FILES, ids=lambda p: p.name)
def sweep_file(request) -> Path:
    return request.param


def test_the_project_sweeps_exist():
    assert REQUIRED_SWEEPS <= {p.name for p in SWEEP_FILES}


def test_logged_eval_keys_match_the_metric_code():
    """The lists above follow the code that produces the names; update them together."""
    from metrics.evaluate import SCORE_NAMES
    from metrics.mixture import mixture_quality

    scores = mixture_quality(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.zeros(1, 2), 0.05, 1)
    assert set(MIXTURE_EVAL_KEYS) == {f"eval/{name}" for name in scores}
    assert set(DISENTANGLEMENT_EVAL_KEYS) == {f"eval/{name}" for name in SCORE_NAMES}


def test_sweep_has_the_fields_wandb_needs(sweep_file):
    sweep = load_sweep(sweep_file)
    assert set(sweep) <= TOP_LEVEL_KEYS, f"unknown top-level keys {set(sweep) - TOP_LEVEL_KEYS}"
    assert sweep["program"] == "train.py" and (REPO / sweep["program"]).exists()
    assert sweep["method"] in METHODS
    assert isinstance(sweep["metric"], dict) and set(sweep["metric"]) <= {"name", "goal", "target"}
    assert sweep["metric"]["goal"] in GOALS
    assert isinstance(sweep["parameters"], dict) and sweep["parameters"]
    if "run_cap" in sweep:
        assert isinstance(sweep["run_cap"], int) and sweep["run_cap"] > 0
    if sweep["method"] == "bayes":
        assert "run_cap" in sweep, "a Bayesian search never ends on its own: set run_cap"
    if sweep["method"] == "grid":
        ranged = [k for k, s in sweep["parameters"].items() if "value" not in s and "values" not in s]
        assert not ranged, f"grid search needs value/values, not a distribution: {ranged}"


def test_command_passes_key_value_pairs(sweep_file):
    """Our loader reads key=value (configs/loading.py rejects --key=value): ${args_no_hyphens}, not ${args}."""
    command = [str(item) for item in load_sweep(sweep_file)["command"]]
    assert command == ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
    assert "${args}" not in command
    assert all(item in MACROS or "${" not in item for item in command)


def test_parameters_are_config_keys_with_values_of_the_right_type(sweep_file):
    sweep = load_sweep(sweep_file)
    parameters = sweep["parameters"]
    fixed = [render_arg(k, s["value"]) for k, s in parameters.items() if "value" in s]
    load_config(fixed)
    for key, spec in parameters.items():
        assert isinstance(spec, dict), f"{key}: write {{value: ...}}, {{values: [...]}} or {{min: ..., max: ...}}"
        kind = base_type(schema_type(key))
        allowed = {"value", "values", "probabilities", "distribution", "min", "max", "q", "mu", "sigma"}
        assert set(spec) <= allowed, f"{key}: unknown keys {set(spec) - allowed}"
        assert ("value" in spec) + ("values" in spec) + ("min" in spec) == 1, f"{key}: one of value, values, min/max"
        if "values" in spec:
            assert isinstance(spec["values"], list) and spec["values"], f"{key}: values must be a non-empty list"
            assert len(set(map(repr, spec["values"]))) == len(spec["values"]), f"{key}: repeated values"
        if "min" in spec:
            assert "max" in spec and spec["min"] < spec["max"], f"{key}: needs min < max"
            # Without `distribution`, W&B samples integers when min and max are both ints.
            both_int = isinstance(spec["min"], int) and isinstance(spec["max"], int)
            distribution = spec.get("distribution", "int_uniform" if both_int else "uniform")
            if kind is float:
                assert distribution in FLOAT_DISTRIBUTIONS, f"{key} is a float: write min/max as floats ({distribution})"
            elif kind is int:
                assert distribution == "int_uniform", f"{key} is an int: use int min/max ({distribution})"
            else:
                raise AssertionError(f"{key} ({kind}): ranges only make sense for numbers")
        for value in candidate_values(spec):
            assert value is not None, f"{key}: W&B passes None as the string 'None'; leave the key out instead"
            try:
                cfg = load_config(fixed + [render_arg(key, value)])
            except ConfigError as error:
                pytest.fail(f"{sweep_file.name}: {key}={value}: {error}")
            loaded = cfg
            for part in key.split("."):
                loaded = loaded[part]
            if kind in (int, float, bool) and not (key == "model.reward" and cfg.model.name == "sinkhorn"):
                assert loaded == value, f"{key}={value} loaded as {loaded!r}"


def test_every_grid_point_loads(sweep_file):
    """Every combination a grid sweep runs, or the corners of a random / Bayesian search space."""
    parameters = load_sweep(sweep_file)["parameters"]
    keys = list(parameters)
    for combination in itertools.product(*(candidate_values(parameters[k]) for k in keys)):
        args = [render_arg(k, v) for k, v in zip(keys, combination)]
        try:
            load_config(args)
        except ConfigError as error:
            pytest.fail(f"{sweep_file.name}: {' '.join(args)}: {error}")


def test_metric_is_logged_by_the_runs(sweep_file):
    sweep = load_sweep(sweep_file)
    data = sweep_data_name(sweep)
    assert sweep["metric"]["name"] in LOGGED_EVAL_KEYS[data], (
        f"{sweep_file.name}: runs on {data} log {LOGGED_EVAL_KEYS[data]}, not {sweep['metric']['name']}")
    assert sweep["metric"]["goal"] == "maximize"  # every eval/ score above is better when larger


def test_run_dir_and_run_id_follow_the_agent(sweep_file, monkeypatch):
    """The agent gives each run its id in WANDB_RUN_ID: one run folder per W&B run (agents on one machine
    start runs in the same second, runs/<timestamp> would be shared), and config.yaml records the W&B run
    id, so that resume=FOLDER continues the same W&B run."""
    parameters = load_sweep(sweep_file)["parameters"]
    args = [render_arg(k, first_value(s)) for k, s in parameters.items()]
    monkeypatch.setenv("WANDB_RUN_ID", "abc123")
    cfg = load_config(args)
    assert (cfg.run_dir, cfg.logger.run_id) == ("runs/sweeps/abc123", "abc123")
    monkeypatch.delenv("WANDB_RUN_ID")
    cfg = load_config(args)
    assert (cfg.run_dir, cfg.logger.run_id) == ("runs/sweeps/local", None)  # outside an agent: train.py draws an id


def test_rendering_matches_the_installed_wandb_agent():
    """Our rendering of the macros is the one of the installed wandb (wandb/wandb_agent.py)."""
    utils = pytest.importorskip("wandb.sdk.launch.sweeps.utils")
    sweep = load_sweep(SWEEP_DIR / "gaussians_reward_blur.yaml")
    params = {k: first_value(s) for k, s in sweep["parameters"].items()}
    wandb_vars = utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    command = agent_command(sweep, params)
    assert command[:3] == ["/usr/bin/env", "python", "train.py"]
    assert command[3:] == wandb_vars["args_no_hyphens"]
    assert agent_command({**sweep, "command": ["${args}"]}, params) == wandb_vars["args"]
    assert utils.create_sweep_command(list(sweep["command"])) == sweep["command"]  # no ${envvar:...} in ours
    assert all(not arg.startswith("-") for arg in command[3:])


@pytest.mark.slow
def test_agent_command_trains(sweep_file, tmp_path):
    """The command the agent would run for the first value of every parameter, shortened, exits 0."""
    sweep = load_sweep(sweep_file)
    params = {k: first_value(s) for k, s in sweep["parameters"].items()}
    run_dir = tmp_path / "run"
    command = agent_command(sweep, params, interpreter=sys.executable) + SHORT_RUN + [f"run_dir={run_dir}"]
    env = {**os.environ, "WANDB_MODE": "disabled", "WANDB_RUN_ID": "sweeptest",
           "WANDB_DIR": str(tmp_path / "wandb"), "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache"),
           "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"), "WANDB_DATA_DIR": str(tmp_path / "wandb_data")}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr[-3000:]}"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["iterations"] == 3
    metric = sweep["metric"]["name"]
    if metric not in summary:
        data = sweep_data_name(sweep)
        if data != "gaussians" and not any(k in summary for k in LOGGED_EVAL_KEYS[data]):
            pytest.xfail(f"runs on {data} log no eval/ scores yet (callbacks/disentanglement.py not in this checkout)")
        pytest.fail(f"{sweep_file.name}: the run logged no {metric}; it logged {sorted(summary)}")
    assert math.isfinite(summary[metric])
