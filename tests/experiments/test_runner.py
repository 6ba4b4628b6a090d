"""A unit of the protocol run end to end on the default library; the report from its rows."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from lever_gym.experiments.methods import METHODS
from lever_gym.experiments.page import write_page
from lever_gym.experiments.protocol import ProtocolConfig, Unit
from lever_gym.experiments.runner import ROW_FIELDS, read_rows, run_unit, unit_file
from lever_gym.experiments.suite import K_GRID, load_rows, write_rows

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"
CONFIG = ProtocolConfig(
    name="test", sizes=(8,), tuning_layouts=(), heldout_layouts=(1,), library_seeds=(0,),
    gammas=(0.99,), setups=("P+G", "PG+HL"), signed=1, start_protocols=("fixed", "random"),
    offline_layouts=0, quality_budgets=(1000, 10_000),
)  # fmt: skip


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("protocol")
    unit = Unit(8, 1, 0, "heldout")
    run_unit((asdict(CONFIG), asdict(unit), str(DEFAULT), str(out), [], "rows"))
    before = unit_file(out, "rows", unit).read_bytes()
    run_unit((asdict(CONFIG), asdict(unit), str(DEFAULT), str(out), [], "rows"))  # resumes: no work
    assert unit_file(out, "rows", unit).read_bytes() == before
    k_specs = [spec.to_dict() for spec in K_GRID if spec.retrieval.k == 1]
    run_unit((asdict(CONFIG), asdict(unit), str(DEFAULT), str(out), k_specs, "k"))
    return out


def test_every_method_is_scored_exactly_and_never_above_the_ceiling(rows):
    data = read_rows(rows / "rows")
    assert all(set(r) == set(ROW_FIELDS) for r in data)
    methods = {r["method"] for r in data}
    assert methods == {m for m in METHODS if not m.startswith("d3rlpy")}
    assert len(data) == len(methods) * 3 * 2  # tasks x start protocols
    for r in data:
        assert r["mean_return"] <= r["optimal_return"] + 1e-9  # nothing beats the optimum
        assert r["stationary_return"] <= r["optimal_return"] + 1e-9
        timed = r["method"] in ("bcvi (time-indexed)", "lever (time-aware)")
        assert r["contract"] == ("time-aware" if timed else "stationary")
        if r["normalised_horizon"] is not None:
            assert r["normalised_horizon"] <= 1 + 1e-9
        if r["bound_low"] is not None and r["protocol"] == "fixed":
            assert r["bound_low"] - 1e-6 <= r["mean_return"] <= r["bound_high"] + 1e-6
    quality = read_rows(rows / "quality")
    assert {r["budget"] for r in quality} == {1000, 10_000}


def test_results_page_is_written_from_the_rows(rows, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    write_rows(results / "rows.jsonl.gz", read_rows(rows / "rows"))
    write_rows(results / "quality.jsonl.gz", read_rows(rows / "quality"))
    write_rows(results / "tuning.jsonl.gz", read_rows(rows / "k"))
    assert load_rows(results / "rows.jsonl.gz") == read_rows(rows / "rows")
    text = write_page(results, tmp_path / "results.md", tmp_path / "figures")
    for heading in ("## Reading", "## Targets", "## Tuning", "## Held-out layouts, by family",
                    "## Paired comparisons", "## Time to quality", "## Method labels"):  # fmt: skip
        assert heading in text
    assert (tmp_path / "figures" / "results_coverage.png").is_file()
    assert "| sum h1 |" in text and "| gpi h1 +improve10 +guard |" in text


def test_a_library_the_benchmark_cannot_open_says_to_delete_it(tmp_path):
    import json
    import shutil

    from lever_gym.errors import LibraryError
    from lever_gym.experiments.suite import run

    old = tmp_path / "libraries" / "seed0-8x8"
    shutil.copytree(DEFAULT, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 2}))
    with pytest.raises(LibraryError, match=r"schema version 2.*delete .*seed0-8x8 and run again"):
        run(CONFIG, tmp_path, stages=("report",))
    assert (old / "manifest.json").is_file()  # nothing removed


@pytest.mark.slow
def test_the_committed_results_page_is_the_one_its_committed_rows_give(tmp_path):
    """Every number of docs/results.md comes from the rows in docs/results/ (and the
    report's seeded statistics): writing the page again gives it to the letter."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    text = write_page(docs / "results", tmp_path / "results.md", tmp_path / "figures")
    assert text == (docs / "results.md").read_text()


def test_the_demo_leaves_out_cql_and_says_so_when_d3rlpy_is_missing(tmp_path, monkeypatch, capsys):
    """A core install (no ``baselines`` extra) still runs ``lever-gym demo``."""
    import importlib.util

    from lever_gym.experiments import demo

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "d3rlpy" else real(name, *a)
    )
    text = demo.run_demo(Path(__file__).resolve().parents[2] / "datasets", tmp_path / "demo")
    assert "| lever (defaults) |" in text and "d3rlpy CQL" not in text
    assert "d3rlpy is not installed" in capsys.readouterr().out
