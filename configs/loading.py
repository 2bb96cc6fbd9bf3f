"""Build a run's configuration: schema <- configs/base.yaml <- configs/experiment/<name>.yaml <- the preset's
``model_settings`` of the chosen model <- command line.

The command line is a list of dotted ``key=value`` pairs (the form W&B sweeps pass with
``${args_no_hyphens}``); ``experiment=<name>`` picks the preset. Any problem - an unknown key, a value of
the wrong type, an unknown preset or choice - raises :class:`ConfigError` with a one-line message.

A preset's ``model:`` block holds its settings for the method; its top-level ``model_settings:`` maps a
model name (``infogan``, ...) to the keys of ``model:`` that model runs with instead, its own best measured
settings, applied when ``model.name`` names it (:func:`model_settings`). So ``experiment=digits
model.name=infogan`` runs InfoGAN as the benchmarks do, and a ``model.*`` on the command line still wins.
``model_settings`` is read from presets only; the resolved configuration (``config.yaml``) holds the
merged ``model:`` block, not the table.

Every source of keys (the YAML files, a run's saved ``config.yaml``, the command line) is read through
:func:`read_yaml` or :func:`read_overrides`, which move keys listed in :data:`RENAMED_KEYS` to their new
names, so old sweeps, command lines and run folders keep working after a rename; :func:`merge_sources`
merges them over the schema and converts the old ``model.info_weight`` to ``model.reward``
(:func:`reward_of_info_weight`).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from configs.registry import DATAMODULES, MODELS, OBSERVATIONS
from configs.schema import Config, GeneratorConfig, ModelConfig, transforms_images

CONFIG_DIR = Path(__file__).resolve().parent
EXPERIMENT_DIR = CONFIG_DIR / "experiment"

CRITIC_KINDS = ("identity", "mlp", "conv")
CRITIC_OBJECTIVES = ("adversarial", "energy_distance")
LOGGER_MODES = (None, "offline", "online", "disabled")


# Keys that were renamed: old dotted key -> new dotted key. An old key still loads, with one
# DeprecatedKeyWarning per source that uses it; giving both names in one source is a ConfigError.
# A future rename adds a row here (and its test in tests/test_config.py); a row is removed with the old name.
RENAMED_KEYS = {
    # One name per idea (2026-11-29): these periods count training iterations (the callbacks'
    # every_n_iterations), not Lightning's optimizer steps.
    "callbacks.traversal.every_n_steps": "callbacks.traversal.every_n_iterations",
    "callbacks.metrics.every_n_steps": "callbacks.metrics.every_n_iterations",
    "callbacks.checkpoint.every_n_steps": "callbacks.checkpoint.every_n_iterations",
}


# A key replaced by one of another meaning. model.info_weight was lam / eps with eps = blur^2, so the same
# value meant another reward at another blur; model.reward is lam itself. The old key still loads, with one
# DeprecatedKeyWarning per source, converted at the blur of the merged configuration (the product the loss
# used to take); giving both in one source is a ConfigError.
INFO_WEIGHT, REWARD = "model.info_weight", "model.reward"


def reward_of_info_weight(info_weight: float, blur: float) -> float:
    """lam of an old ``model.info_weight`` (lam / eps) at ``blur``: ``info_weight * blur^2``, the very float
    the loss multiplied the pmi by, so a converted run trains bit for bit as before."""
    return info_weight * blur**2


# Keys that were removed, each with the value that meant "off" (its old default, which every preset kept).
# CHANGELOG.md says why (each was neutral or harmful where measured). A run folder's config.yaml or a
# checkpoint's model settings holding that value still load, the key dropped; any other value there, or the
# key in any other source (the command line, a preset), is a one-line ConfigError naming it.
REMOVED_KEYS = {
    "model.info_warmup": 0.0,
    "model.critic.bound": "sphere",
    "model.code_model.on_critic": False,
    "model.code_model.generated_weight": 0.0,
    "model.code_model.continuous_std": 0.5,
    "model.ot.extra_iterations": 0,
}


def drop_removed_keys(tree: dict, source: str, saved_run: bool, prefix: str = "") -> None:
    """Take the keys of :data:`REMOVED_KEYS` out of ``tree`` (nested dicts of one source, whose keys lie under
    ``prefix``, e.g. ``"model."`` for a checkpoint's model settings).

    Raises:
        ConfigError: a removed key in a source that is not a saved run (``saved_run``), or a saved run that
            used it with another value than "off" (this version cannot train it as it was trained).
    """
    for key, off in REMOVED_KEYS.items():
        if not key.startswith(prefix) or not _has(tree, key[len(prefix):]):
            continue
        parent, leaf = _parent(tree, key[len(prefix):])
        value = parent.pop(leaf)
        if not saved_run:
            raise ConfigError(f"{key} was removed (see CHANGELOG.md): drop it from the {source}")
        if value != off:
            raise ConfigError(f"{source} sets {key}={value}, an option that was removed (see CHANGELOG.md): this run "
                              "can only be resumed by the version that trained it; start a new run here")


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line and names the key."""


class DeprecatedKeyWarning(FutureWarning):
    """An old name of a renamed key (:data:`RENAMED_KEYS`), or the old ``model.info_weight``, was used. A
    FutureWarning rather than a DeprecationWarning because it is meant for the person running train.py, and
    Python hides DeprecationWarnings raised outside ``__main__``."""


def presets() -> list[str]:
    return sorted(p.stem for p in EXPERIMENT_DIR.glob("*.yaml"))


def _one_line(error: OmegaConfBaseException, prefix: str = "") -> str:
    """OmegaConf's first message line, led by the key when the line does not name it; ``prefix`` completes
    the key of a part of the configuration (``"model."``) to the dotted name a user writes."""
    message = str(error).strip().splitlines()[0]
    key = getattr(error, "full_key", None)
    key = f"{prefix}{key}" if key else None
    return f"{key}: {message}" if key and key not in message else message


def _parent(tree: dict, dotted: str, create: bool = False) -> tuple[dict | None, str]:
    """``(the dict holding dotted's last part, that part)`` in nested dicts; ``None`` for a missing group
    unless ``create`` makes the missing groups."""
    *groups, leaf = dotted.split(".")
    for group in groups:
        if create:
            tree.setdefault(group, {})
        tree = tree.get(group)
        if not isinstance(tree, dict):
            return None, leaf
    return tree, leaf


def _has(tree: dict, dotted: str) -> bool:
    """Whether nested dicts hold a value at ``dotted``."""
    parent, leaf = _parent(tree, dotted)
    return parent is not None and leaf in parent


def _move(tree: dict, old: str, new: str) -> None:
    """Move the value at ``old`` to ``new`` in nested dicts."""
    parent, leaf = _parent(tree, old)
    value = parent.pop(leaf)
    parent, leaf = _parent(tree, new, create=True)
    parent[leaf] = value


def rename_old_keys(cfg: DictConfig, source: str, saved_run: bool = False) -> DictConfig:
    """``cfg`` (one source of keys, named by ``source`` in messages) with each old key of
    :data:`RENAMED_KEYS` moved to its new name, and one :class:`DeprecatedKeyWarning` per old key found;
    removed keys are dropped where ``saved_run`` used them "off" (:func:`drop_removed_keys`).

    Raises:
        ConfigError: the source gives both the old and the new name of a key (checked before any warning),
            or a removed key.
    """
    if not isinstance(cfg, DictConfig):
        return cfg  # not a mapping: the merge with the schema reports it
    tree = OmegaConf.to_container(cfg, resolve=False)  # interpolations stay as written
    removed = [key for key in REMOVED_KEYS if _has(tree, key)]
    drop_removed_keys(tree, source, saved_run)
    found = {old: new for old, new in RENAMED_KEYS.items() if _has(tree, old)}
    for old, new in [*found.items(), *([(INFO_WEIGHT, REWARD)] if _has(tree, INFO_WEIGHT) else [])]:
        if _has(tree, new):
            raise ConfigError(f"{source} gives both {old} and {new}: keep only {new} (the old name is deprecated)")
    for old, new in found.items():
        _move(tree, old, new)
        # warn_explicit with line 0: one line naming the source, without a line of our code under it.
        warnings.warn_explicit(f"{old} is deprecated and will be removed; use its new name {new} "
                               "(the value is taken over unchanged)", DeprecatedKeyWarning, source, 0)
    if _has(tree, INFO_WEIGHT):
        parent, leaf = _parent(tree, INFO_WEIGHT)
        if isinstance(parent[leaf], bool) or not isinstance(parent[leaf], (int, float)):
            raise ConfigError(f"{INFO_WEIGHT}={parent[leaf]} ({source}): must be a number; better, set {REWARD} "
                              "(lam) instead")
        warnings.warn_explicit(f"{INFO_WEIGHT} (lam / eps) is deprecated and will be removed; set {REWARD} (lam) "
                               f"instead (converted here: {REWARD} = info_weight * blur^2 at the run's blur)",
                               DeprecatedKeyWarning, source, 0)
    return OmegaConf.create(tree) if found or removed else cfg


def read_yaml(path: Path, saved_run: bool = False) -> DictConfig:
    """A configuration file (base.yaml, a preset, or with ``saved_run`` a run's config.yaml) with renamed keys
    under their new names and the removed keys a saved run used "off" dropped."""
    return rename_old_keys(OmegaConf.load(path), str(path), saved_run)


def read_overrides(overrides: Sequence[str]) -> DictConfig:
    """Command-line ``key=value`` pairs as a configuration, with renamed keys under their new names."""
    return rename_old_keys(OmegaConf.from_dotlist(list(overrides)), "command line")


def merge_sources(*sources: DictConfig) -> DictConfig:
    """The schema with ``sources`` (from :func:`read_yaml` and :func:`read_overrides`) merged over it in
    order, each later one winning; a source's old ``model.info_weight`` becomes ``model.reward`` at the merged
    blur, unless a later source sets ``model.reward``. Not yet validated."""
    cfg = OmegaConf.structured(Config)
    info_weight = None
    for source in sources:
        if OmegaConf.select(source, INFO_WEIGHT, default=None) is not None:
            tree = OmegaConf.to_container(source, resolve=False)
            parent, leaf = _parent(tree, INFO_WEIGHT)
            info_weight = parent.pop(leaf)
            source = OmegaConf.create(tree)
        elif OmegaConf.select(source, REWARD, default=None) is not None:
            info_weight = None
        cfg = OmegaConf.merge(cfg, source)
    if info_weight is not None:
        cfg.model.reward = reward_of_info_weight(info_weight, cfg.model.ot.blur)
    return cfg


def model_settings(table: DictConfig | None, name: str, path: Path) -> DictConfig:
    """The settings for model ``name`` in a preset's ``model_settings`` ``table`` (read from ``path``) as a
    source of keys, ``{"model": {...}}``; empty when the preset has none for it."""
    table = table or {}
    unknown = [model for model in table if model not in MODELS]
    if unknown:
        raise ConfigError(f"{path}: model_settings.{unknown[0]}: no such model; keys are model names: {', '.join(MODELS)}")
    return OmegaConf.create({"model": table.get(name, {})})


def saved_config(run_dir: Path, cli: DictConfig) -> DictConfig:
    """A run's saved ``config.yaml`` over the schema, with ``cli`` on top (resuming, inspect_checkpoint.py);
    not yet validated."""
    return merge_sources(read_yaml(run_dir / "config.yaml", saved_run=True), cli)


RESUMABLE_GROUPS = ("trainer.", "logger.", "callbacks.")


def locate_run(path: str | Path) -> tuple[Path, Path]:
    """``(checkpoint, run folder)`` named by ``path``: a run folder (its ``checkpoints/last.ckpt``) or a
    checkpoint inside ``<run folder>/checkpoints/``. The layout only; the callers check what exists."""
    target = Path(path)
    if target.is_dir():
        return target / "checkpoints" / "last.ckpt", target
    return target, target.resolve().parent.parent


def resolve_resume(path: str) -> tuple[Path, Path]:
    """``(checkpoint, run folder)`` for ``resume=`` given a run folder or a checkpoint inside one."""
    if not Path(path).exists():
        raise ConfigError(f"resume={path}: no such run folder or checkpoint")
    checkpoint, run_dir = locate_run(path)
    if not checkpoint.is_file():
        raise ConfigError(f"resume={path}: no checkpoints/last.ckpt in this run folder (was it started?)")
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"resume={path}: {run_dir / 'config.yaml'} is missing; pass a checkpoint inside its run folder")
    return checkpoint, run_dir


def _resume_config(cli: DictConfig, overrides: list[str]) -> DictConfig:
    checkpoint, run_dir = resolve_resume(str(cli.resume))
    changed = [item.split("=", 1)[0] for item in overrides]
    fixed = [key for key in changed if key != "resume" and not key.startswith(RESUMABLE_GROUPS)]
    if fixed:
        raise ConfigError(f"{fixed[0]}: a resumed run keeps its configuration; only trainer.*, logger.* and "
                          "callbacks.* may change (start a new run to change the rest)")
    cfg = saved_config(run_dir, cli)
    cfg.resume, cfg.run_dir = str(checkpoint), str(run_dir)
    return cfg


def load_config(overrides: list[str] | None = None) -> DictConfig:
    """The merged, validated configuration for command-line ``overrides`` such as ``["model.lr=1e-3"]``."""
    overrides = list(overrides or [])
    for item in overrides:
        if "=" not in item or item.startswith("-"):
            raise ConfigError(f"cannot read argument {item!r}: write key=value, e.g. trainer.max_steps=100")
    try:
        cli = read_overrides(overrides)
        if cli.get("resume") is not None:
            cfg = _resume_config(cli, overrides)
            validate(cfg)
            return cfg
        base = read_yaml(CONFIG_DIR / "base.yaml")
        sources = [base]
        experiment = cli.get("experiment", base.get("experiment"))
        if experiment is not None:
            path = EXPERIMENT_DIR / f"{experiment}.yaml"
            if not path.exists():
                raise ConfigError(f"experiment={experiment}: no such preset; choose one of {', '.join(presets())}")
            preset = read_yaml(path)
            table = preset.pop("model_settings", None)  # not a key of the run: the model block takes its row
            name = OmegaConf.select(cli, "model.name", default=None) or merge_sources(base, preset).model.name
            sources += [preset, model_settings(table, name, path)]
        cfg = merge_sources(*sources, cli)
    except OmegaConfBaseException as error:
        raise ConfigError(_one_line(error)) from None
    validate(cfg)
    if cfg.model.name == "sinkhorn":
        cfg.model.reward = 0.0  # the baseline is the same model without the regularization
    return cfg


def _choice(cfg: DictConfig, key: str, choices: tuple) -> None:
    value = OmegaConf.select(cfg, key)
    if value not in choices:
        shown = ", ".join(str(c) for c in choices if c is not None)
        raise ConfigError(f"{key}={value}: must be one of {shown}")


# The generator each kind of observations needs (the critic may be identity on images too: a pixel-space cost).
GENERATOR_KINDS = {"points": "mlp", "images": "conv"}


def presets_for(observations: str) -> list[str]:
    """The presets whose networks are made for ``observations`` (``"points"`` or ``"images"``)."""
    kind = GENERATOR_KINDS[observations]
    return [name for name in presets()
            if OmegaConf.select(OmegaConf.load(EXPERIMENT_DIR / f"{name}.yaml"), "model.generator.kind",
                                default=GeneratorConfig.kind) == kind]


def check_networks_fit_data(cfg: DictConfig) -> None:
    """A dataset of images with the MLPs of 2D points, or points with conv networks, is an error naming the
    presets that fit, before any network is built."""
    observations = OBSERVATIONS.get(cfg.data.name)
    if observations is None:
        return
    generator, critic = cfg.model.generator.kind, cfg.model.critic.kind
    wrong = generator != GENERATOR_KINDS[observations] or (observations == "points" and critic == "conv")
    if wrong:
        key, value = ("model.generator.kind", generator) if generator != GENERATOR_KINDS[observations] else \
            ("model.critic.kind", critic)
        raise ConfigError(f"data.name={cfg.data.name} holds {observations}, which {key}={value} does not fit: add "
                          f"experiment=NAME with a preset for {observations}: {', '.join(presets_for(observations))}")


def validate(cfg: DictConfig) -> None:
    """Checks the schema's types cannot express: choices (model and data names from configs/registry.py),
    networks that fit the data, and ranges."""
    _choice(cfg, "model.name", tuple(MODELS))
    _choice(cfg, "data.name", tuple(DATAMODULES))
    _choice(cfg, "model.critic.kind", CRITIC_KINDS)
    _choice(cfg, "model.critic.objective", CRITIC_OBJECTIVES)
    _choice(cfg, "model.generator.kind", ("mlp", "conv"))
    _choice(cfg, "logger.mode", LOGGER_MODES)
    check_networks_fit_data(cfg)
    augment = cfg.model.code_model.augment
    checks = [
        ("model.ot.blur", cfg.model.ot.blur > 0, "must be > 0"),
        ("model.ot.scaling", 0 < cfg.model.ot.scaling < 1, "must be in (0, 1); 0.7-0.9 is the useful range"),
        ("model.reward", cfg.model.reward >= 0, "must be >= 0 (lam; 0 is the plain Sinkhorn GAN)"),
        ("model.code_model.prior_mix", 0 <= cfg.model.code_model.prior_mix < 1,
         "must be in [0, 1): the weight of the prior in the mixture (1 - a) Q + a p(c); 0 uses Q itself"),
        ("model.code_model.augment.rotation_degrees", augment.rotation_degrees >= 0, "must be >= 0"),
        ("model.code_model.augment.scale", 0 <= augment.scale < 1, "must be in [0, 1): factors 1 +- scale"),
        ("model.code_model.augment.translation", 0 <= augment.translation <= 0.5,
         "must be in [0, 0.5]: a fraction of the image's size"),
        ("model.code_model.augment",
         OBSERVATIONS.get(cfg.data.name) != "points" or not transforms_images(augment),
         "transforms images: leave its rotation_degrees, scale and translation at 0 for data of points"),
        ("model.code_model.augment.invariant_continuous",
         0 <= augment.invariant_continuous <= cfg.model.latent.continuous,
         f"must be from 0 to model.latent.continuous ({cfg.model.latent.continuous}): how many continuous codes Q "
         "reads from the copies"),
        ("model.code_model.augment.invariant_continuous",
         augment.invariant_continuous == 0 or transforms_images(augment),
         "reads codes from transformed copies: set rotation_degrees, scale or translation as well"),
        ("model.n_critic", cfg.model.n_critic >= 1, "must be >= 1"),
        ("model.n_generator", cfg.model.n_generator >= 1, "must be >= 1"),
        ("model.simultaneous_updates",
         not cfg.model.simultaneous_updates or (cfg.model.n_critic == 1 and cfg.model.n_generator == 1
                                                and cfg.model.name != "infogan"
                                                and cfg.model.critic.kind != "identity"),
         "needs model.n_critic=1, model.n_generator=1, a learned critic (model.critic.kind mlp or conv) and "
         "an OT model (informative_ot or sinkhorn); otherwise pass model.simultaneous_updates=false"),
        ("model.critic.objective",
         cfg.model.critic.objective != "energy_distance" or (cfg.model.name != "infogan"
                                                             and cfg.model.critic.kind != "identity"
                                                             and not cfg.model.simultaneous_updates),
         "energy_distance needs an OT model (informative_ot or sinkhorn) with a learned critic "
         "(model.critic.kind mlp or conv) and alternating updates (model.simultaneous_updates=false); "
         "otherwise pass model.critic.objective=adversarial"),
        ("data.batch_size", cfg.model.critic.objective != "energy_distance" or cfg.data.batch_size % 2 == 0,
         "must be even: model.critic.objective=energy_distance splits each batch in halves"),
        ("model.generator.average", 0 <= cfg.model.generator.average < 1,
         "must be in [0, 1): the moving average's beta, e.g. 0.999; 0 turns it off"),
        ("model.lr_decay_start", 0 <= cfg.model.lr_decay_start <= 1, "must be in [0, 1]"),
        ("data.batch_size", cfg.data.batch_size >= 2, "must be >= 2"),
        ("trainer.max_steps", cfg.trainer.max_steps >= 1, "must be >= 1"),
        ("trainer.pause_at", cfg.trainer.pause_at is None or 1 <= cfg.trainer.pause_at < cfg.trainer.max_steps,
         f"must be null or from 1 to trainer.max_steps - 1 ({cfg.trainer.max_steps - 1})"),
        ("callbacks.metrics.fidelity_samples", cfg.callbacks.metrics.fidelity_samples >= 4,
         "must be >= 4 (precision and recall need more than k = 3 neighbours; FID wants thousands)"),
    ]
    for key, ok, requirement in checks:
        if not ok:
            raise ConfigError(f"{key}={OmegaConf.select(cfg, key)}: {requirement}")


def to_plain(cfg: DictConfig) -> dict:
    """The resolved configuration as plain Python containers (what loggers and checkpoints store)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def model_config(model: dict | ModelConfig) -> ModelConfig:
    """The model settings, typed: the one conversion from the plain dict that checkpoints store (and that
    Lightning's ``load_from_checkpoint`` passes back to a model) or from a :class:`ModelConfig`.

    Keys a dict lacks - settings added after its checkpoint was written - take the schema's defaults, and
    values take the schema's types, so the models read ``cfg.ot.blur`` without converting anything; an old
    ``info_weight`` becomes the ``reward`` at the dict's blur, and removed keys left "off" are dropped.

    Raises:
        ConfigError: an unknown key, a value of the wrong type or a removed option in use, in one line
            naming the key.
    """
    try:
        if isinstance(model, dict):  # a checkpoint's, perhaps from an older version: upgrade a copy
            model = OmegaConf.to_container(OmegaConf.create(model))
            drop_removed_keys(model, "checkpoint's model settings", saved_run=True, prefix="model.")
            if "info_weight" in model:
                blur = model.get("ot", {}).get("blur", ModelConfig().ot.blur)
                model["reward"] = reward_of_info_weight(model.pop("info_weight"), blur)
        typed = OmegaConf.merge(OmegaConf.structured(ModelConfig), model)
        return OmegaConf.to_object(typed)  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        raise ConfigError(_one_line(error, "model.")) from None
