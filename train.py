"""Train an informative GAN: ``python train.py [experiment=NAME] [key=value ...]``.

``train(cfg)`` does the work and is what tests, sweeps and benchmarks call; ``main()`` only reads the
command line. Every run writes, under ``run_dir``: ``config.yaml`` (resolved), ``checkpoints/last.ckpt``
and ``summary.json`` (final value of every logged scalar, run time, iterations).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
import uuid
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from configs.loading import ConfigError, load_config, locate_run, presets, to_plain
from configs.registry import DATAMODULES, MODELS

HELP = """\
usage: python train.py [experiment=NAME] [key=value ...] [--print-config]

Trains the model of the preset (default: gaussians) and writes config.yaml, summary.json and
checkpoints/last.ckpt under run_dir (default runs/<timestamp>). A preset runs each model at its own
settings (model.name=infogan: InfoGAN's; the preset's model_settings), and key=value pairs override them.

  --print-config         print the resolved configuration of the command and exit: no training, no run folder

presets (experiment=...): {presets}

main keys (configs/schema.py documents all of them):
  model.name             {models}
  model.reward           lam, the reward for pairing a code with data it is informative of (0 = plain Sinkhorn GAN)
  model.ot.blur          sqrt(eps), the entropic blur of the Sinkhorn divergence (the reward does not change with it)
  model.latent.*         categorical=[K,...], continuous=N, noise=N
  data.name              {datasets} (data.path=... for files)
  trainer.max_steps      training iterations (n_critic critic + n_generator generator updates each)
  trainer.pause_at       stop after this iteration, resumable with resume=RUN_DIR (learning rates still decay over max_steps)
  trainer.devices / trainer.strategy / trainer.accelerator
  logger.mode            offline | online | disabled
  seed, run_dir

examples: python train.py experiment=dsprites model.reward=1.0 trainer.max_steps=500
          python train.py experiment=digits model.name=infogan --print-config
"""


def _devices(value: str) -> Any:
    """trainer.devices as Lightning wants it: an int, "auto", or a list of indices."""
    value = str(value).strip()
    if value.isdigit():
        return int(value)
    if value.startswith("["):
        return [int(v) for v in value.strip("[]").split(",") if v.strip()]
    return value


def _shared_default(variable: str, make) -> str:
    """A default drawn once and shared with DDP's worker processes, which re-run this command line with
    the parent's environment (a timestamp or random id drawn in each would differ). On several nodes
    each node draws its own: pass run_dir explicitly there."""
    if os.environ.get("LOCAL_RANK", "0") != "0" and variable in os.environ:
        return os.environ[variable]
    os.environ[variable] = make()
    return os.environ[variable]


def claim_run_dir(parent: Path, stamp: str) -> Path:
    """A new, empty folder ``parent/stamp``, or ``stamp-2``, ``stamp-3``, ... when a run started in the same
    second holds it: claimed by creating it, so runs started together never share (and overwrite) a folder."""
    for number in itertools.count(1):
        candidate = parent / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue


def resolve_run_dir(cfg: DictConfig) -> Path:
    if cfg.run_dir is None:
        cfg.run_dir = _shared_default(
            "INFORMATIVE_OT_GAN_RUN_DIR",
            lambda: str(claim_run_dir(Path("runs"), datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))))
    if cfg.logger.run_id is None:
        cfg.logger.run_id = _shared_default("INFORMATIVE_OT_GAN_RUN_ID", lambda: uuid.uuid4().hex[:12])
    return Path(cfg.run_dir)


def build_datamodule(cfg: DictConfig):
    """The datamodule ``data.name`` names (configs/registry.py), built by its own ``from_config``."""
    from datamodules import DATAMODULES

    return DATAMODULES[cfg.data.name].from_config(cfg.data, cfg.seed)


def build_model(cfg: DictConfig, observation_shape: tuple[int, ...]):
    from lightning_modules import MODELS

    return MODELS[cfg.model.name](to_plain(cfg.model), observation_shape, cfg.seed)


class _LightningMessages(logging.Filter):
    """Drops Lightning's advertising tips ("💡 Tip: ... install litlogger"), which say nothing about the run,
    and says Lightning's "`Trainer.fit` stopped: `max_steps=22500` reached" in iterations: Lightning counts
    every optimizer step (:attr:`steps_per_iteration` of them per iteration, set by :func:`train`)."""

    steps_per_iteration = 1
    MAX_STEPS = re.compile(r"`Trainer.fit` stopped: `max_steps=(\d+)` reached")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        steps = self.MAX_STEPS.match(message)
        if steps:
            iterations = int(steps[1]) // self.steps_per_iteration
            record.msg = f"training stopped after {iterations} iterations (trainer.max_steps)"
            record.args = ()
        return not message.startswith("💡 Tip")


def silence_known_noise() -> None:
    """Silence third-party messages that tell a user nothing about their run; real warnings still show.

    * Lightning's litlogger tip (logged through its rank-zero loggers), and its end-of-fit line counted in
      optimizer steps (said in iterations instead);
    * Lightning 2.6's own use of torch's deprecated ``LeafSpec`` (a DeprecationWarning inside Lightning).
    W&B's "anonymous setting" warning is avoided where the logger is built (:func:`build_loggers`), and
    Lightning's "weights_only was not set" by our checkpoint callback saying what it saves.
    """
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LightningMessages) for f in logger.filters):
            logger.addFilter(_LightningMessages())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", module=r"pytorch_lightning\.")


def build_loggers(cfg: DictConfig, run_dir: Path, start_iteration: int = 0) -> list:
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    # Lightning's CSV logger empties an existing folder: a resumed run logs to a folder of its own.
    csv_folder = "csv" if start_iteration == 0 else f"csv-resumed-at-{start_iteration}"
    loggers: list = [CSVLogger(save_dir=str(run_dir), name="", version=csv_folder)]
    mode = cfg.logger.mode or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    if mode != "disabled":
        loggers.append(
            WandbLogger(
                project=cfg.logger.project,
                entity=cfg.logger.entity,
                name=cfg.logger.name or run_dir.name,
                tags=list(cfg.logger.tags),
                save_dir=str(run_dir),
                mode=mode,
                id=cfg.logger.run_id,
                resume="allow",  # a resumed run continues the same W&B run
            )
        )
        # Lightning passes anonymous=None to wandb.init, which wandb (>= 0.19) answers with a warning that
        # the setting "has no effect"; leaving it out is what wandb asks for.
        loggers[-1]._wandb_init.pop("anonymous", None)
    for logger in loggers:
        logger.log_hyperparams(to_plain(cfg))
    return loggers


def build_callbacks(cfg: DictConfig, run_dir: Path, datamodule) -> list:
    from callbacks import build_callbacks as build

    return build(cfg, run_dir, datamodule)


class _RunFolder:
    """The run being trained in a folder: its model, once built, tells whether training has started."""

    model: Any = None

    @property
    def started(self) -> bool:
        return self.model is not None and self.model.iteration > 0


@contextmanager
def run_folder(run_dir: Path, remove_on_failure: bool):
    """Create ``run_dir`` for a run; if the run fails before its first iteration in a folder it created
    (a configuration or data error), remove the folder again, so failed attempts leave no empty run folders.
    An empty folder counts as created here (:func:`claim_run_dir` creates the default one before)."""
    fresh = not run_dir.exists() or not any(run_dir.iterdir())
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = _RunFolder()
    try:
        yield folder
    except BaseException:
        if fresh and remove_on_failure and not folder.started:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train one run of ``cfg`` (from :func:`configs.loading.load_config`); returns the summary."""
    from callbacks.interrupt import signals

    silence_known_noise()
    # From here a signal stops start-up at once; from the first iteration on, it stops the run at the end of
    # an iteration with a checkpoint (callbacks/interrupt.py).
    signals.install()
    signals.phase = "start-up"
    try:
        return _train(cfg)
    finally:
        signals.restore()


def _train(cfg: DictConfig) -> dict[str, Any]:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import WandbLogger
    from pytorch_lightning.utilities import rank_zero_only

    from callbacks.checkpoint import read_checkpoint
    from callbacks.lost_rank import WatchedDDPStrategy
    from callbacks.progress import IterationProgressBar

    run_dir = resolve_run_dir(cfg)
    with run_folder(run_dir, remove_on_failure=rank_zero_only.rank == 0) as folder:
        if rank_zero_only.rank == 0:
            print(f"run folder: {run_dir}", flush=True)
            OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)

        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        try:
            datamodule = build_datamodule(cfg)
            model = folder.model = build_model(cfg, datamodule.observation_shape)
        except ValueError as error:  # sizes that do not fit together (resolution, latent layout, ...)
            raise ConfigError(str(error)) from error
        _LightningMessages.steps_per_iteration = model.optimizer_steps_per_iteration
        if cfg.resume:
            checkpoint = read_checkpoint(cfg.resume, model)
            datamodule.start_iteration = checkpoint["global_step"] // model.optimizer_steps_per_iteration
            print(f"resuming from {cfg.resume} at iteration {datamodule.start_iteration}", flush=True)
        strategy = cfg.trainer.strategy
        if strategy == "ddp":
            # The GAN's updates each use a subset of the parameters (the critic step leaves the generator
            # without gradients and vice versa), which plain DDP rejects. A lost rank stops the others
            # (callbacks/lost_rank.py).
            strategy = WatchedDDPStrategy(cfg.trainer.collective_timeout, find_unused_parameters=True)
        trainer = pl.Trainer(
            # Lightning counts every optimizer step under manual optimization; max_steps counts iterations.
            max_steps=cfg.trainer.max_steps * model.optimizer_steps_per_iteration,
            max_epochs=-1,
            accelerator=cfg.trainer.accelerator,
            devices=_devices(cfg.trainer.devices),
            strategy=strategy,
            num_nodes=cfg.trainer.num_nodes,
            precision=cfg.trainer.precision,
            deterministic=cfg.trainer.deterministic,
            log_every_n_steps=cfg.trainer.log_every_n_steps,
            enable_progress_bar=cfg.trainer.enable_progress_bar,
            fast_dev_run=cfg.trainer.fast_dev_run,
            default_root_dir=str(run_dir),
            logger=build_loggers(cfg, run_dir, datamodule.start_iteration),
            callbacks=build_callbacks(cfg, run_dir, datamodule)
            + ([IterationProgressBar()] if cfg.trainer.enable_progress_bar else []),
            enable_checkpointing=False,  # callbacks/checkpoint.py writes checkpoints atomically
            use_distributed_sampler=False,  # the datamodule's sampler shards batches by rank itself
        )
        start = time.time()
        # read_checkpoint has refused a file that would run code; Lightning reads it again, just as safely.
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.resume, weights_only=True)
        elapsed = time.time() - start

        summary: dict[str, Any] = {
            key: float(value) for key, value in sorted(trainer.callback_metrics.items()) if value.numel() == 1
        }
        summary.update({
            "time/seconds": elapsed,
            "time/iterations_per_second": model.iteration / elapsed if elapsed > 0 else 0.0,
            "iterations": model.iteration,
            "optimizer_steps": trainer.global_step,
        })
        if trainer.is_global_zero:
            partial = run_dir / "summary.json.partial"
            partial.write_text(json.dumps(summary, indent=2) + "\n")
            os.replace(partial, run_dir / "summary.json")
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.experiment.summary.update(summary)
            print(final_report(summary, run_dir), flush=True)
        return summary


def final_report(summary: dict[str, Any], run_dir: Path) -> str:
    """What a run prints at its end: its final ``eval/...`` scores, where its traversal grids are, and its
    folder (the last line, which scripts read)."""
    lines = [f"{key:<28} {value:.4g}" for key, value in summary.items() if key.startswith("eval/")]
    grids = sorted((run_dir / "traversals").glob("*_final.png"))
    if grids:
        lines.append(f"traversal grids: {len(grids)} in {run_dir / 'traversals'} (*_final.png)")
    lines.append(f"run folder: {run_dir}")
    return "\n".join(lines)


PRINT_CONFIG = "--print-config"


def _stop_while_importing(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _signal_exit_code(signal_name: str) -> int:
    return 130 if signal_name == "SIGINT" else 143


def main(argv: list[str] | None = None) -> int:
    # Until train() installs its own handler, SIGTERM stops the imports as Ctrl-C does, with a line saying so.
    previous = {signum: signal.signal(signum, _stop_while_importing) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help", "help") for arg in argv):
        print(HELP.format(presets=", ".join(presets()), models=" | ".join(MODELS), datasets=" | ".join(DATAMODULES)))
        return 0
    print_only = PRINT_CONFIG in argv
    try:
        cfg = load_config([arg for arg in argv if arg != PRINT_CONFIG])
        if print_only:
            print(OmegaConf.to_yaml(cfg, resolve=True), end="")
            return 0
        from callbacks import StartupInterrupted, TrainingInterrupted, TrainingPaused
        from callbacks.checkpoint import CheckpointError
        from callbacks.lost_rank import EXIT_CODE, RankWatcher, lost_rank, lost_rank_message
        from datamodules import MissingDataError
        from lightning_modules.nonfinite import DivergenceError
        from pytorch_lightning.utilities import rank_zero_only
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(startup_stopped(str(stop) or "SIGINT"), file=sys.stderr)
        return _signal_exit_code(str(stop) or "SIGINT")

    try:
        train(cfg)
    except (MissingDataError, ConfigError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (StartupInterrupted, KeyboardInterrupt) as stop:
        name = getattr(stop, "signal_name", str(stop) or "SIGINT")
        if rank_zero_only.rank == 0:
            print(startup_stopped(name, cfg.resume and cfg.run_dir), file=sys.stderr)
        if RankWatcher.watching is not None:  # the ranks it launched have nothing to save either
            RankWatcher.watching.end_others()
        return _signal_exit_code(name)
    except TrainingPaused as pause:
        if rank_zero_only.rank == 0:  # every rank paused at the same iteration; one says so
            print(f"{pause}\nresume with: python train.py resume={cfg.run_dir}\nrun folder: {cfg.run_dir}", flush=True)
        return 0
    except TrainingInterrupted as stop:
        if rank_zero_only.rank == 0:  # every rank stopped at the same iteration; one says so
            print(f"{stop}\nresume with: python train.py resume={cfg.run_dir}", file=sys.stderr)
        return _signal_exit_code(stop.signal_name)
    except DivergenceError as error:
        last = locate_run(cfg.run_dir)[0]
        kept = f"; the last checkpoint before it is kept: {last}" if last.exists() else ""
        print(f"error: {error}{kept}", file=sys.stderr)
        return 3
    except Exception as error:
        lost = lost_rank(error)
        if lost is None:
            raise
        if rank_zero_only.rank == 0 or lost.rank == 0:  # one line, from rank 0 or, if it was lost, from each other
            print(f"error: {lost_rank_message(lost, cfg.run_dir)}", file=sys.stderr, flush=True)
        if RankWatcher.watching is not None:
            RankWatcher.watching.end_others()
        return EXIT_CODE
    return 0


def startup_stopped(signal_name: str, resumable: str | None = None) -> str:
    """The line a signal before the first iteration ends with: how to resume, or that there is nothing to."""
    stopped = f"stopped by {signal_name} during start-up, before the first iteration"
    if resumable:
        return f"{stopped}; the checkpoint is as it was: resume with: python train.py resume={resumable}"
    return f"{stopped}; nothing was trained (no checkpoint to resume): run the command again"


if __name__ == "__main__":
    sys.exit(main())
