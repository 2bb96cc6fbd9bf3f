"""Where a benchmark's results go: printed always, and on full runs (quick runs only check that the script
works, so their figures are not kept) into its own section of docs/results.md, with pictures beside it in
docs/results/.

Each benchmark owns the section between ``<!-- results:NAME begin -->`` and ``<!-- results:NAME end -->``
and replaces only that; what the page says outside the markers (what a table shows, the grids looked at)
is never overwritten. A section starts with its stamp: the command, date, commit, torch threads and
machine, so every number can be traced to the code and the conditions that produced it.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PAGE = ROOT / "docs" / "results.md"
RESULTS = ROOT / "docs" / "results"  # pictures and curve data, next to the page that shows them


def command_line() -> str:
    """The command that is running, as a user would type it (``python -m benchmarks.NAME ...``)."""
    script = Path(sys.argv[0])
    if script.parent.name == "benchmarks":
        return " ".join(["python -m", f"benchmarks.{script.stem}", *sys.argv[1:]])
    return " ".join(["python", *sys.argv])


def commit() -> str:
    """The checkout's commit, marked ``+changes`` when files differ from it (the numbers are then of code
    that no commit holds). The benchmarks' own outputs (docs/results.md, docs/results/) do not count: a
    benchmark writes its pictures before its stamp, and a rerun overwrites tracked ones."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return head + (" +changes" if git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                          f":!{RESULTS.relative_to(ROOT)}", f":!{RESULTS_PAGE.relative_to(ROOT)}") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp() -> str:
    """One line: command, date, commit, torch threads, machine and its load at the end of the run."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"`{command_line()}` · {date.today().isoformat()} · commit {commit()} · torch threads "
            f"{torch.get_num_threads()} · {platform.machine()}, {os.cpu_count()} cores{load}")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} begin -->", f"<!-- results:{name} end -->"


def replace_section(page: str, name: str, body: str) -> str:
    """``page`` with the section ``name`` holding ``body``; a section the page lacks is added at its end
    under a heading of its name."""
    begin, end = markers(name)
    section = f"{begin}\n{body.strip()}\n{end}"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        return head + section + rest.split(end, 1)[1]
    return page.rstrip() + f"\n\n## {name}\n\n{section}\n"


def publish(text: str, name: str, save: bool) -> str:
    """Print ``text``; with ``save``, write it, stamped, into section ``name`` of docs/results.md."""
    print(text)
    if save:
        RESULTS_PAGE.parent.mkdir(parents=True, exist_ok=True)
        page = RESULTS_PAGE.read_text() if RESULTS_PAGE.exists() else "# Results\n"
        RESULTS_PAGE.write_text(replace_section(page, name, f"{stamp()}\n\n{text}"))
    return text
