"""The cost benchmarks run (``--quick``) and print the tables they promise.

These check the scripts, not the numbers: quick runs are too short to measure speed. The one number
checked is exact arithmetic - with info_weight 0 our Sinkhorn divergence is geomloss's.
"""
from __future__ import annotations

import re

import pytest

from benchmarks import memory, ot_step, throughput


def table_rows(text: str) -> list[list[str]]:
    """Rows of the markdown tables in ``text``, as lists of cells (separator rows dropped)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if not set("".join(row)) <= set("-")]


@pytest.mark.slow
def test_quick_benchmarks_print_their_tables(capsys):
    text = ot_step.main(["--quick"])
    assert "torch threads: 1" in capsys.readouterr().out
    cells = {(row[0], row[1]): row for row in table_rows(text) if len(row) == 8 and row[0].isdigit()}
    assert set(cells) == {("64", "64"), ("256", "64")}
    for row in cells.values():
        assert float(row[4]) > 0  # the ratio
        assert float(row[7]) < 1e-4, f"info_weight 0 should match geomloss, got {row[7]}"
    assert re.search(r"^\| 64 \| -?\d+\.\d\d \| -?\d+\.\d\d \|$", text, re.M), "exponent row for d = 64"

    text = throughput.main(["--quick"])
    rows = {row[0]: row for row in table_rows(text) if row[0] in throughput.ITERATIONS}
    assert set(rows) == {"gaussians", "dsprites"}
    for row in rows.values():
        assert float(row[4]) > 0 and float(row[5]) > 0
        assert float(row[9]) == 0.0, "Lightning and the plain loop must end with the same weights"

    text = memory.main(["--quick"])
    rows = {row[0]: row for row in table_rows(text) if row[0] in memory.MODELS}
    assert set(rows) == set(memory.MODELS)
    for row in rows.values():
        assert float(row[2]) > 0  # torch peak allocations of a steady iteration
