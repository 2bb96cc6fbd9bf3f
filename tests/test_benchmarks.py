"""The benchmarks run (``--quick``) and print the tables they promise.

These check the scripts, not the numbers: quick runs are too short to measure speed. The numbers checked
are exact arithmetic - with reward 0 our Sinkhorn divergence is geomloss's; the equal wall-clock budget.
"""
from __future__ import annotations

import re

import pytest

from benchmarks import data_loading, digits, dsprites, gaussians, memory, ot_step, quality, throughput
from benchmarks.quality import IMAGE_MODELS, equal_time_iterations, image_benchmark_parser, image_models
from callbacks.training_clock import TRAINING_SECONDS, TRAINING_SPEED


def table_rows(text: str) -> list[list[str]]:
    """Rows of the markdown tables in ``text``, as lists of cells (separator rows dropped)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if not set("".join(row)) <= set("-")]


def test_equal_time_budget_scales_by_the_median_training_speeds_of_the_equal_step_runs():
    """OT's seeds train at 10, 12 and 11 it/s (median 11), InfoGAN's at 36, 30 and 33 (median 33): 3000
    OT iterations take the time of 9000 InfoGAN ones; a model as fast as OT gets the same 3000."""
    results = {"informative_ot": [{TRAINING_SPEED: v} for v in (10.0, 12.0, 11.0)],
               "infogan": [{TRAINING_SPEED: v} for v in (36.0, 30.0, 33.0)],
               "sinkhorn": [{TRAINING_SPEED: v} for v in (11.0, 11.0, 11.0)]}
    assert equal_time_iterations(results, "informative_ot", 3000, ["infogan", "sinkhorn"]) == {
        "infogan": 9000, "sinkhorn": 3000}


def test_benchmark_runs_go_seed_by_seed_and_give_baselines_the_equal_time_budget(monkeypatch, tmp_path):
    """Runs alternate models within each seed (a load change then slows every model alike), and the
    equal-time runs get the iterations the equal-step runs' speeds imply: OT 10 it/s, InfoGAN 20 it/s."""
    calls = []

    def fake_run(preset, model, seed, out, overrides):
        calls.append((model, seed, out.name, overrides[-1]))
        return {TRAINING_SPEED: 10.0 if model == "informative_ot" else 20.0}

    monkeypatch.setattr(quality, "train_run", fake_run)
    settings = {"informative_ot": [], "infogan": ["model.simultaneous_updates=false"]}
    quality.benchmark_runs("digits", [0, 1], tmp_path, settings, steps=300, equal_time=True)
    assert calls == [("informative_ot", 0, tmp_path.name, "trainer.max_steps=300"),
                     ("infogan", 0, tmp_path.name, "trainer.max_steps=300"),
                     ("informative_ot", 1, tmp_path.name, "trainer.max_steps=300"),
                     ("infogan", 1, tmp_path.name, "trainer.max_steps=300"),
                     ("infogan", 0, "equal_time", "trainer.max_steps=600"),
                     ("infogan", 1, "equal_time", "trainer.max_steps=600")]


@pytest.mark.slow
def test_quick_benchmarks_print_their_tables(capsys):
    text = ot_step.main(["--quick"])
    assert "torch threads: 1" in capsys.readouterr().out
    cells = {(row[0], row[1]): row for row in table_rows(text) if len(row) == 8 and row[0].isdigit()}
    assert set(cells) == {("64", "64"), ("256", "64")}
    for row in cells.values():
        assert float(row[4]) > 0  # the ratio
        assert float(row[7]) < 1e-4, f"reward 0 should match geomloss, got {row[7]}"
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


@pytest.mark.slow
def test_quick_quality_benchmarks_tabulate_every_model(capsys):
    text = gaussians.main(["--quick"])
    rows = {row[0]: row for row in table_rows(text) if row[0] in gaussians.MODELS}
    assert set(rows) == set(gaussians.MODELS)
    for row in rows.values():
        modes, quality, purity = (float(cell.split(" ± ")[0]) for cell in row[1:4])
        assert 0 <= modes <= 25 and 0 <= quality <= 1 and 0 <= purity <= 1
        assert row[4] == f"{modes:.3g} / {quality:.3g} / {purity:.3g}", "one seed: the worst seed is the mean"

    text = dsprites.main(["--quick"])
    rows = {row[0]: row for row in table_rows(text) if row[0] in IMAGE_MODELS}
    assert set(rows) == set(IMAGE_MODELS)
    for row in rows.values():
        scores = [float(cell.split(" ± ")[0]) for cell in row[1:6]]
        assert all(0 <= s <= 1 for s in scores), row
    assert_fidelity_columns(text, rows, 6)
    assert "InfoGAN-CR" in text, "published figures are printed beside ours"

    text = digits.main(["--quick"])
    rows = {row[0]: row for row in table_rows(text) if row[0] in IMAGE_MODELS}
    assert set(rows) == set(IMAGE_MODELS)
    for row in rows.values():
        # Hungarian matching of 10 values to 10 classes: at least chance-level 0.1 can always be matched, on
        # real digits (Q's code) as on generated ones (the code drawn, the digit a classifier reads).
        assert table_rows(text)[0][1:3] == ["unsupervised accuracy", "generated accuracy"]
        assert all(0.1 <= float(cell.split(" ± ")[0]) <= 1 for cell in row[1:3]), row
    assert_fidelity_columns(text, rows, 3)


@pytest.mark.slow
def test_quick_data_loading_benchmark_has_a_row_per_dataset():
    text = data_loading.main(["--quick", "--workers", "0"])
    rows = {row[0].split(" (")[0]: row for row in table_rows(text)[1:]}
    assert set(rows) == {"dsprites", "digits", "shapes3d", "image_folder"}
    assert all(row[1] == "0" and float(row[2]) > 0 for row in rows.values())


def assert_fidelity_columns(text: str, rows: dict, first: int) -> None:
    """Columns ``first`` .. ``first + 2`` are FID (> 0) and precision and recall (in [0, 1])."""
    assert table_rows(text)[0][first:first + 3] == ["FID", "precision", "recall"]
    for row in rows.values():
        fid, precision, recall = (float(cell.split(" ± ")[0]) for cell in row[first:first + 3])
        assert fid > 0 and 0 <= precision <= 1 and 0 <= recall <= 1, row


def test_pixel_cost_runs_only_the_models_that_have_an_ot_cost():
    parser = image_benchmark_parser("test", "quick")
    assert image_models(parser, parser.parse_args([])) == list(IMAGE_MODELS)
    assert image_models(parser, parser.parse_args(["--cost", "pixel"])) == ["informative_ot", "sinkhorn"]
    with pytest.raises(SystemExit):
        image_models(parser, parser.parse_args(["--cost", "pixel", "--models", "infogan"]))


def test_curve_summary_is_the_mean_and_range_over_seeds_at_each_evaluation():
    from benchmarks.curves import summarize

    seeds = [[{TRAINING_SECONDS: 10.0, "eval/a": 0.2}, {TRAINING_SECONDS: 20.0, "eval/a": 0.6}],
             [{TRAINING_SECONDS: 12.0, "eval/a": 0.4}, {TRAINING_SECONDS: 22.0, "eval/a": 0.5},
              {TRAINING_SECONDS: 30.0, "eval/a": 0.9}]]  # one evaluation more: cut to the shorter seed
    x, mean, low, high = summarize(seeds, "eval/a")
    assert x == [11.0, 21.0] and mean == pytest.approx([0.3, 0.55]) and low == [0.2, 0.5] and high == [0.4, 0.6]


def test_curve_plot_is_written_and_names_every_model(tmp_path):
    from PIL import Image

    from benchmarks.curves import DATASETS, plot

    point = {TRAINING_SECONDS: 1.0, "eval/mig": 0.1, "eval/fid": 50.0}
    curves = {"informative_ot": [[point, {**point, TRAINING_SECONDS: 2.0}]], "infogan": [[point]]}
    plot(curves, DATASETS["dsprites"], tmp_path / "curves.png", "dsprites")
    image = Image.open(tmp_path / "curves.png")
    assert image.text["Models"] == "informative_ot, infogan" and image.size[0] > image.size[1]


@pytest.mark.slow
def test_quick_curves_have_one_point_per_evaluation_with_increasing_training_seconds():
    """20 iterations evaluated twice: points at iterations 10 and 20, training seconds increasing, every
    digits score at each point, for both models."""
    from benchmarks import curves

    result = curves.main(["--quick"])
    assert set(result) == {"informative_ot", "infogan"}
    for (curve,) in result.values():
        assert [point["iteration"] for point in curve] == [10.0, 20.0]
        seconds = [point[TRAINING_SECONDS] for point in curve]
        assert 0 < seconds[0] < seconds[1]
        for point in curve:
            assert {"eval/unsupervised_accuracy", "eval/fid", "eval/generated_accuracy"} <= set(point)


def test_a_benchmark_replaces_only_its_own_section_of_the_results_page():
    from benchmarks.report import replace_section

    page = ("# Results\n\n## digits\n<!-- results:digits_critic begin -->\nold table\n<!-- results:digits_critic end -->\n"
            "What the table shows (commentary).\n<!-- results:memory begin -->\nmemory\n<!-- results:memory end -->\n")
    updated = replace_section(page, "digits_critic", "new table")
    assert updated == page.replace("old table", "new table")
    added = replace_section(updated, "mnist_curves", "curves")
    assert added.startswith(updated.rstrip()) and added.endswith(
        "## mnist_curves\n\n<!-- results:mnist_curves begin -->\ncurves\n<!-- results:mnist_curves end -->\n")


def test_the_stamp_marks_changed_code_but_not_the_benchmarks_own_outputs(monkeypatch, tmp_path):
    """A rerun overwrites tracked pictures before writing its stamp: those must not mark the commit."""
    import subprocess

    from benchmarks import report

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "docs" / "results").mkdir(parents=True)
    for name in ("train.py", "docs/results.md", "docs/results/curve.png"):
        (tmp_path / name).write_text("v1")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "v1")
    monkeypatch.setattr(report, "ROOT", tmp_path)
    monkeypatch.setattr(report, "RESULTS_PAGE", tmp_path / "docs" / "results.md")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "docs" / "results")
    (tmp_path / "docs" / "results.md").write_text("v2")
    (tmp_path / "docs" / "results" / "curve.png").write_text("v2")
    assert not report.commit().endswith("+changes")
    (tmp_path / "train.py").write_text("v2")
    assert report.commit().endswith(" +changes")


# A run's curve: evaluations at 300, 650 and 900 training seconds.
EVALUATED_TO_900_SECONDS = [{"iteration": 100.0, TRAINING_SECONDS: 300.0, "eval/mig": 0.1},
                            {"iteration": 200.0, TRAINING_SECONDS: 650.0, "eval/mig": 0.2},
                            {"iteration": 300.0, TRAINING_SECONDS: 900.0, "eval/mig": 0.3}]


def test_runs_are_compared_at_their_last_evaluation_within_the_budget():
    """A run slowed by load went on past the budget: its scores are read where its training seconds were
    within it (10% tolerance); a run whose first evaluation is already past it is read there."""
    from benchmarks.curves import Score, at_budget, budget_table, reading_time

    slowed = EVALUATED_TO_900_SECONDS
    assert reading_time({"m": [slowed]}, 600.0) == pytest.approx(660.0)
    assert at_budget(slowed, 660.0)["iteration"] == 200.0
    assert at_budget(slowed, 100.0)["iteration"] == 100.0

    rows = table_rows(budget_table({"m": [slowed, slowed[:1]]}, (Score("eval/mig", "MIG"),), 660.0))
    assert rows[1] == ["m", "0.15 / 0.1 / 0.2", "475", "150"]


def test_no_run_is_read_after_more_training_than_the_shortest_run_had():
    """A model that ran faster than its probe said ended at 650 s of a 900 s budget: every run is read at
    650 s at most, the slower model at its evaluation of 650 s, not its last one of 900 s."""
    from benchmarks.curves import Score, budget_table, reading_time

    full = EVALUATED_TO_900_SECONDS
    short = full[:2]
    curves = {"slow": [full], "fast": [short]}
    assert reading_time(curves, 900.0) == 650.0
    rows = table_rows(budget_table(curves, (Score("eval/mig", "MIG"),), reading_time(curves, 900.0)))
    assert rows[1] == ["slow", "0.2 / 0.2 / 0.2", "650", "200"]


def test_parallel_runs_give_the_same_curves_as_runs_one_at_a_time(tmp_path):
    """Runs in worker processes (``--jobs 2``) are the same runs: every score of every evaluation equal to
    those of the runs made here, one at a time (training is deterministic on one thread)."""
    import torch

    from benchmarks import curves

    settings = ["callbacks.metrics.fidelity_samples=200", "trainer.deterministic=true"]
    iterations = {"informative_ot": 6, "infogan": 6}
    threads = torch.get_num_threads()
    try:
        one = curves.run_curves("digits", ["informative_ot", "infogan"], [0], 0, 2, tmp_path / "one", settings,
                                iterations, threads=1)
    finally:
        torch.set_num_threads(threads)
    two = curves.run_curves("digits", ["informative_ot", "infogan"], [0], 0, 2, tmp_path / "two", settings, iterations,
                            jobs=2, threads=1)
    for model in iterations:
        for here, there in zip(one[model][0], two[model][0], strict=True):
            assert {k: v for k, v in here.items() if k.startswith("eval/")} == pytest.approx(
                {k: v for k, v in there.items() if k.startswith("eval/")}, rel=1e-6)


def test_saved_grids_replace_those_of_an_earlier_run_with_more_codes(tmp_path, monkeypatch):
    """A rerun of a run name whose latent lost a code leaves no grid of that code behind, and touches
    neither another name's grids (a prefix of it) nor other files."""
    from benchmarks import quality

    monkeypatch.setattr(quality, "RESULTS", tmp_path)
    run_dir = tmp_path / "run"
    (run_dir / "traversals").mkdir(parents=True)
    for code in ("cat0", "cont0"):
        (run_dir / "traversals" / f"traversal_{code}_final.png").write_text("new")
    grids = tmp_path / "curves_traversals"
    grids.mkdir()
    for name in ("ot_seed1_cat0.png", "ot_seed1_cont0.png", "ot_seed1_cont2.png", "ot_seed10_cont2.png", "notes.txt"):
        (grids / name).write_text("old")

    quality.save_traversals({"run_dir": run_dir}, "curves_traversals", "ot_seed1")

    assert {p.name: p.read_text() for p in grids.iterdir()} == {
        "ot_seed1_cat0.png": "new", "ot_seed1_cont0.png": "new", "ot_seed10_cont2.png": "old", "notes.txt": "old"}
