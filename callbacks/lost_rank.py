"""A rank lost under DDP (killed, out of memory, crashed): every other rank stops within seconds with one
line that names the lost rank, and the last checkpoint stays as it was (it is written atomically).

How the survivors learn of it:

* a collective with a dead peer fails at once on gloo (its connection is reset) and after
  ``trainer.collective_timeout`` seconds at most on NCCL; :func:`lost_rank` turns that error into a
  :class:`RankLost` that names the rank;
* on each node, the launching process (local rank 0) watches the ranks it started (:class:`RankWatcher`,
  in place of Lightning's observer, which would kill it without a word): when one ends with an error
  during rank 0's own work (an evaluation) or start-up, the main thread stops at once; if it is stuck in
  a collective that does not fail (NCCL), the process ends after ``GRACE_SECONDS`` with the same line.
* a rank whose launching process died finds itself with another parent.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers.subprocess_script import (
    _SubprocessScriptLauncher,
    _set_num_threads_if_needed,
)

from callbacks.interrupt import signals

EXIT_CODE = 4
POLL_SECONDS = 0.5
GRACE_SECONDS = 30.0
# Words of the errors gloo and NCCL raise when a peer is gone or silent.
PEER_ERRORS = ("connection reset", "connection closed", "closed by peer", "broken pipe", "timed out", "timeout",
               "nccl", "gloo", "socket", "peer")

PARENT_PID = os.getppid()  # a rank launched by another finds a different parent once that one is gone


class RankLost(Exception):
    def __init__(self, rank: int | str, how: str) -> None:
        self.rank = rank
        super().__init__(f"rank {rank} was lost ({how})")


def describe_exit(code: int) -> str:
    """What a lost rank's exit code says, in words."""
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", which the out-of-memory killer sends too" if name == "SIGKILL" else "")
    if code in (130, 143):
        return "stopped by a signal of its own"
    return f"ended with exit code {code}; its error is printed above"


class RankWatcher(threading.Thread):
    """Polls the ranks this process launched; the first to end with an error is :data:`lost`."""

    watching: RankWatcher | None = None  # the watcher of this process, if it launched ranks

    def __init__(self, processes: list, first_rank: int) -> None:
        super().__init__(daemon=True, name="rank-watcher")
        self.processes, self.first_rank = processes, first_rank
        self.lost: RankLost | None = None

    def check(self) -> RankLost | None:
        for offset, process in enumerate(self.processes):
            code = process.poll()
            if code:
                self.lost = RankLost(self.first_rank + offset, describe_exit(code))
                return self.lost
        return None

    def run(self) -> None:
        while self.check() is None:
            time.sleep(POLL_SECONDS)
        if signals.phase in ("stopping", "idle") or signals.received is not None:
            return  # a stop all ranks agreed on, or this rank's own: its message says what happened
        lost = self.lost
        if signals.urgent or signals.phase == "start-up":
            signals.interrupt_main(lambda: lost)  # not inside a collective: stop the main thread right away
        time.sleep(GRACE_SECONDS)
        # Still running: the main thread waits in a collective that did not fail. End the process.
        print(f"error: {lost_rank_message(lost)}", file=sys.stderr, flush=True)
        self.end_others()
        os._exit(EXIT_CODE)

    def end_others(self) -> None:
        """The ranks this process launched that still run would wait for the lost one: end them."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()


class WatchedLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher of the other ranks on this node, watched by a :class:`RankWatcher`."""

    def launch(self, function, *args, trainer=None, **kwargs):
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            first = self.cluster_environment.node_rank() * self.num_processes + 1
            RankWatcher.watching = RankWatcher(self.procs, first)
            RankWatcher.watching.start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


class WatchedDDPStrategy(DDPStrategy):
    """DDP whose launched ranks are watched (:class:`WatchedLauncher`), with a collective timeout."""

    running: WatchedDDPStrategy | None = None  # the strategy of this process's run, once set up

    def __init__(self, collective_timeout: float, **kwargs) -> None:
        super().__init__(timeout=timedelta(seconds=collective_timeout), **kwargs)
        self.collective_timeout = collective_timeout

    def setup_environment(self) -> None:
        super().setup_environment()
        WatchedDDPStrategy.running = self

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if isinstance(self._launcher, _SubprocessScriptLauncher):
            launcher = self._launcher
            self._launcher = WatchedLauncher(launcher.cluster_environment, launcher.num_processes, launcher.num_nodes)


def lost_rank(error: BaseException) -> RankLost | None:
    """The :class:`RankLost` behind ``error``, or None if it is not about a lost peer of a DDP run."""
    if isinstance(error, RankLost):
        return error
    strategy = WatchedDDPStrategy.running
    if strategy is None or strategy.world_size <= 1:
        return None
    rank, timeout = strategy.global_rank, strategy.collective_timeout
    text = f"{type(error).__name__} {error}".lower()
    if not any(word in text for word in PEER_ERRORS):
        return None
    watcher = RankWatcher.watching
    if watcher is not None:
        for _ in range(int(2 / POLL_SECONDS)):  # a killed rank's exit shows within moments
            if watcher.lost or watcher.check():
                return watcher.lost
            time.sleep(POLL_SECONDS)
    if rank != 0 and os.getppid() != PARENT_PID:
        return RankLost(0, "its process ended")
    reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
    if "timed out" in text or "timeout" in text:
        return RankLost("?", f"a collective waited trainer.collective_timeout={timeout:g} s for it: {reason}")
    return RankLost("?", f"a collective failed: {reason}")


def lost_rank_message(lost: RankLost, run_dir: str | None = None) -> str:
    """The line a rank's loss ends the run with: what to do next, if the run folder is known."""
    if run_dir is None:
        return f"{lost}; the last checkpoint, if any, is intact"
    if not (Path(run_dir) / "checkpoints" / "last.ckpt").exists():
        return f"{lost} before the first checkpoint was written: run the command again"
    return f"{lost}; the last checkpoint is intact: resume with: python train.py resume={run_dir}"
