"""SIGINT (Ctrl-C) and SIGTERM (pre-emption, `scancel`, `kill`), honoured within seconds wherever they arrive.

* During start-up (data, model, Lightning's set-up, the feature network's training): the run stops at
  once with :class:`StartupInterrupted`; nothing new is written.
* During a training iteration or a checkpoint write: the iteration (or write) finishes, since stopping
  between iterations is what makes the checkpoint resumable exactly.
* During an evaluation or a traversal (rank 0's own work after an iteration): the work is abandoned on
  the spot (the handler raises inside it, as Ctrl-C's KeyboardInterrupt does) and nothing of it is
  logged; it only reads the model, so the model is still that of the finished iteration. Its score lines
  are shielded steps (:meth:`Signals.shielded`): a signal during one abandons the work after the line.

Then :class:`GracefulInterrupt`, the last callback of every iteration, writes `checkpoints/last.ckpt` (the
state after the last finished iteration) and stops with :class:`TrainingInterrupted`. Under DDP the other
ranks wait for rank 0's evaluation in a barrier of their own (no timeout: evaluations may be long), then
all ranks decide together whether any was signalled, so all stop at the same iteration.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator, TypeVar

import pytorch_lightning as pl

from callbacks.checkpoint import AtomicLastCheckpoint

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    def __init__(self, signal_name: str, iteration: int, checkpoint: str, abandoned: str = "") -> None:
        note = f" ({abandoned} abandoned, nothing of it logged)" if abandoned else ""
        super().__init__(f"stopped by {signal_name} after iteration {iteration}{note}; "
                         f"checkpoint saved to {checkpoint}")
        self.signal_name, self.iteration, self.checkpoint = signal_name, iteration, checkpoint


class StartupInterrupted(Exception):
    """A signal before the first iteration: the run stopped without writing anything new."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal_name} during start-up, before the first iteration")


class WorkAbandoned(Exception):
    """Raised by the signal handler inside :func:`Signals.interruptible` work; caught by :func:`abandon_on_signal`."""


class Signals:
    """The process's SIGINT/SIGTERM handler and what it has received (one instance: :data:`signals`).

    ``phase`` says what a signal does on arrival: ``"start-up"`` raises :class:`StartupInterrupted`,
    ``"training"`` only records it (unless :meth:`interruptible` work runs, which it abandons).
    ``interrupt_main`` lets another thread (the lost-rank watcher) stop the main thread the same way.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.phase = "idle"
        self.urgent = 0  # depth of interruptible work
        self.shield = 0  # depth of shielded steps inside it
        self.interrupt: Callable[[], BaseException] | None = None  # what interrupt_main raises
        self.abandoned: list[str] = []  # the work signals abandoned, for the final message
        self._previous: dict[int, object] = {}

    def install(self) -> bool:
        """Handle SIGINT and SIGTERM from now on (again, if Lightning replaced the handler); False off the
        main thread (a notebook executor, a test's thread), where signals are left alone."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for signum in SIGNALS:
            previous = signal.signal(signum, self._handle)
            if previous is not self._handle and signum not in self._previous:
                self._previous[signum] = previous
        return True

    def restore(self) -> None:
        """Give the signals back to their handlers from before :meth:`install` and forget what was received."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self.__init__()

    def _handle(self, signum, frame) -> None:
        if self.interrupt is not None:
            raise self.interrupt()
        self.received = signum
        if self.phase == "start-up":
            raise StartupInterrupted(signum)
        if self.urgent and not self.shield:
            raise WorkAbandoned(signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else "a signal on another rank"

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Work that a signal abandons at once (raising :class:`WorkAbandoned` from wherever it is)."""
        if self.received is not None:
            raise WorkAbandoned(self.received)
        self.urgent += 1
        try:
            yield
        finally:
            self.urgent -= 1  # first, and no call before it: nothing can raise in between

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """A short step of interruptible work that a signal must not cut in two - a write through tqdm's lock,
        which an exception raised inside it leaves broken (``RuntimeError: cannot release un-acquired lock``).
        A signal that arrives during the step is recorded and abandons the work once the step is done."""
        self.shield += 1
        try:
            yield
        finally:
            self.shield -= 1
        if self.urgent and not self.shield and self.received is not None:
            raise WorkAbandoned(self.received)

    def interrupt_main(self, exception: Callable[[], BaseException]) -> None:
        """From another thread: raise ``exception()`` in the main thread as soon as it runs Python code."""
        import _thread

        self.interrupt = exception
        _thread.interrupt_main(signal.SIGTERM)


signals = Signals()


def abandon_on_signal(pl_module: pl.LightningModule, what: str, work: Callable[[], T]) -> tuple[bool, T | None]:
    """``(True, work())``, or ``(False, None)`` when a signal abandoned it (``what`` it was goes into the
    final message); the model's training mode is restored either way (an abandoned evaluation may have
    left it in eval mode)."""
    was_training = pl_module.training
    try:
        with signals.interruptible():
            return True, work()
    except WorkAbandoned:
        pl_module.train(was_training)
        signals.abandoned.append(what)
        return False, None


class GracefulInterrupt(pl.Callback):
    """Stops the run after the first iteration at whose end a rank has received a signal.

    Must be the last callback: its end-of-iteration hook then runs after the evaluations and traversals
    of that iteration (abandoned or finished). ``solo_periods`` are the periods of the work rank 0 does
    alone (evaluations, traversals): at those iterations the other ranks first wait for rank 0 in a
    barrier of a side group without timeout, so that the collective timeout
    (``trainer.collective_timeout``) bounds real collectives only.
    """

    def __init__(self, checkpoint: AtomicLastCheckpoint, solo_periods: tuple[int, ...] = ()) -> None:
        self.checkpoint = checkpoint
        self.solo_periods = tuple(n for n in solo_periods if n > 0)
        self._waiting_group = None
        self._installed_here = False

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.world_size > 1:
            import torch.distributed as dist

            self._waiting_group = dist.new_group(backend="gloo", timeout=timedelta(days=365))

    def on_fit_start(self, trainer, pl_module) -> None:
        self.wait_for_rank_zero()  # which may have trained its feature network just now

    def on_train_start(self, trainer, pl_module) -> None:
        # train() installed the handler before start-up; Lightning replaced it since, or the callback runs
        # without train() (then it installs and restores it itself).
        self._installed_here = signals.phase == "idle"
        signals.install()
        signals.phase = "training"

    def wait_for_rank_zero(self) -> None:
        if self._waiting_group is not None:
            import torch.distributed as dist

            dist.barrier(group=self._waiting_group)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = pl_module.iteration
        if any(iteration % n == 0 for n in self.solo_periods):
            self.wait_for_rank_zero()
        if not trainer.strategy.reduce_boolean_decision(signals.received is not None, all=False):
            return
        signals.phase = "stopping"
        self.checkpoint.save_unless_current(trainer)
        raise TrainingInterrupted(signals.signal_name, iteration, str(self.checkpoint.last_path),
                                  " and ".join(dict.fromkeys(signals.abandoned)))

    def on_train_end(self, trainer, pl_module) -> None:
        # A signal during the end's own work (final checkpoint, evaluation, traversal), after the last iteration.
        if signals.received is not None:
            signals.phase = "stopping"
            raise TrainingInterrupted(signals.signal_name, pl_module.iteration, str(self.checkpoint.last_path),
                                      " and ".join(dict.fromkeys(signals.abandoned)))

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._waiting_group = None
        if self._installed_here:
            signals.restore()
            self._installed_here = False
