"""Where a benchmark's table goes: printed always, and saved to benchmarks/results/<name>.md on full runs
(quick runs only check that the script works, so their figures are not kept)."""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def publish(text: str, name: str, save: bool) -> str:
    print(text)
    if save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.md").write_text(text + "\n")
    return text
