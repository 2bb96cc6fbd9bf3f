"""`checkpoints/last.ckpt`, written every N iterations and at the end, atomically (write, then rename),
so a run killed during a save still has its previous checkpoint intact; and read back without running
anything stored in it.

A checkpoint of this project holds only tensors and plain Python values (dicts, lists, tuples, numbers,
strings): the model's settings are stored as a plain dict, and Lightning's loop, optimizer and scheduler
states are plain too. So every checkpoint is read with ``torch.load(weights_only=True)``, whose unpickler
builds those types and nothing else, and no type needs allow-listing. A file that asks for anything
else (a class, a function such as ``os.system``) did not come from this project and is refused before
any of it runs.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytorch_lightning as pl
import torch


class AtomicLastCheckpoint(pl.Callback):
    def __init__(self, dirpath: str | Path, every_n_iterations: int) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations
        self.saved_at: int | None = None  # Lightning's step of the last checkpoint written

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def save(self, trainer: pl.Trainer) -> None:
        if trainer.fast_dev_run:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        partial = self.dirpath / "last.ckpt.partial"
        # weights_only=False: the full training state (optimizers, loops, callbacks), which exact resume needs;
        # saying so also keeps Lightning from logging that it chose this default.
        trainer.save_checkpoint(partial, weights_only=False)  # every rank takes part; rank 0 writes
        if trainer.is_global_zero:
            os.replace(partial, self.last_path)
        trainer.strategy.barrier("atomic-checkpoint")
        self.saved_at = trainer.global_step

    def save_unless_current(self, trainer: pl.Trainer) -> None:
        """Save, unless the periodic save has already written this step (a run that stops here)."""
        if self.saved_at != trainer.global_step:
            self.save(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # While updates are being skipped for non-finite values, keep the checkpoint from before.
        if pl_module.nonfinite.consecutive > 0:
            return
        if self.every_n_iterations > 0 and pl_module.iteration % self.every_n_iterations == 0:
            self.save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self.save(trainer)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line and says what to do."""


def read_checkpoint(path: str | Path, model: torch.nn.Module) -> dict:
    """Load a checkpoint on the CPU and check that its weights fit ``model`` (names and shapes).

    Raises :class:`CheckpointError` for an unreadable (e.g. truncated) file, a file that holds anything but
    tensors and plain values (nothing of it is run), a file that is not a checkpoint of this project, or
    weights of another model configuration.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"refused {path}: it holds {_foreign_types(path)}, which no checkpoint of this project "
                              "holds, so it did not come from this project (nothing in it was run); "
                              "use a checkpoint written by train.py") from None
    except Exception as error:  # torch raises several types for damaged files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path} ({reason}); it may be truncated or not a checkpoint: "
                              "use another checkpoint or start a new run") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a checkpoint of this project (no state_dict)")
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in checkpoint["state_dict"].items()}
    problems = [f"missing {n}" for n in expected if n not in found]
    problems += [f"unexpected {n}" for n in found if n not in expected]
    problems += [f"{n} has shape {found[n]} but the model expects {expected[n]}"
                 for n in expected if n in found and found[n] != expected[n]]
    if problems:
        raise CheckpointError(f"checkpoint {path} does not fit the model of this configuration "
                              f"({len(problems)} differences, first: {problems[0]}); was it written with another config?")
    return checkpoint


def _foreign_types(path: str | Path) -> str:
    """The types a checkpoint asks the unpickler to build beyond tensors and plain values, for the refusal."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # a damaged file: the refusal still stands
        names = []
    return ", ".join(names) if names else "objects other than tensors and plain values"
