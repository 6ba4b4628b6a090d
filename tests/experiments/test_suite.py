"""The benchmark: a tiny quick-suite run end to end, and configuration errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lever_gym.cli import main
from lever_gym.errors import ConfigError
from lever_gym.experiments.report import COLUMNS
from lever_gym.experiments.suite import BenchConfig, suite_config

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


@pytest.mark.slow
def test_quick_suite_runs_end_to_end_and_writes_every_output(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "--suite", "quick", "--library", str(DEFAULT), "--sizes", "8"]
    args += ["--layout-seeds", "0", "1", "--gammas", "0", "--setups", "P+G", "PG+HL"]
    args += ["--episodes", "3", "--offline-algos", "bc", "--offline-steps", "50"]
    args += ["--scratch-budgets", "X1", "--out", str(out)]
    assert main(args) == 0
    for name in (
        "rows.csv",
        "summary.md",
        "significance.csv",
        "return_vs_time.png",
        "return_vs_coverage.png",
    ):
        assert (out / name).is_file(), name
    with open(out / "rows.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    methods = {r["method"] for r in rows}
    assert {"composed-targeted", "composed-exhaustive", "composed-hybrid3", "scratch-X1",
            "d3rlpy-bc", "best-single", "random", "optimum"} <= methods  # fmt: skip
    assert len(rows) == 2 * 2 * 2 * len(methods) - 2 * 2  # d3rlpy on the first layout only
    summary = (out / "summary.md").read_text()
    headings = ["return (mean ± 95% CI half-width)", "success", "normalised"]
    headings += ["speedup vs scratch X1", "coverage", "Wilcoxon"]
    for heading in headings:
        assert heading in summary
    assert "Benchmark (quick suite)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"setups": ("P+Q",)}, "setup must be one of .*got 'P\\+Q'"),
        ({"scratch_budgets": (0,)}, "scratch budgets .* must be a positive integer"),
        ({"layout_seeds": ()}, "layout_seeds must be a non-empty tuple"),
        ({"protocols": ("sideways",)}, "protocol must be one of"),
        ({"sizes": (12,)}, "size must be one of"),
        ({"offline_algos": ("dqn",)}, "offline algo must be one of"),
        ({"baselines": ("oracle",)}, "baseline must be one of"),
        ({"layout_seeds": (1, 1)}, "must not repeat"),
    ],
)
def test_bad_configuration_fails_before_any_work(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BenchConfig(**kwargs)


def test_unknown_suite_and_cli_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="suite must be one of"):
        suite_config("huge")
    out = tmp_path / "never"
    assert main(["benchmark", "--setups", "P+Q", "--out", str(out)]) == 2
    assert "setup must be one of" in capsys.readouterr().err
    assert not out.exists()
