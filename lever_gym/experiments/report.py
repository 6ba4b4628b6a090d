"""Tables and statistics of the results page, computed from benchmark rows (see
``lever_gym.experiments.runner`` for the row fields; ``page`` assembles them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from lever_gym.experiments.stats import holm, intervals, paired_test

DEFAULT = "lever (defaults)"
SINGLE = "best single (data)"
ORACLE = "best single (oracle)"
COVERED = 0.9
"""Reference coverage (share of the optimal path in the chosen data) of a covered cell."""
MARGIN = 0.02
THRESHOLDS = (0.9, 0.95)


def unit_key(r: dict[str, Any]) -> tuple[int, int, int]:
    """The unit of evidence of a row: (size, layout, library seed)."""
    return (r["size"], r["layout_seed"], r["library_seed"])


def matrix(rows: Iterable[dict[str, Any]], method: str) -> np.ndarray:
    """Normalised scores of ``method`` as (units, tasks): tasks are (γ, task, protocol) for
    the paper's setups; a unit's signed tasks differ from another's (each layout draws its
    own weights, and their families), so there a task is (γ, protocol) and its score the
    unit's mean over the family's weight vectors."""
    table: dict[tuple, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["method"] == method and r["normalised"] is not None:
            named = r["kind"] == "setup"
            column = (r["gamma"], r["task"] if named else "", r["protocol"])
            table[unit_key(r)][column].append(r["normalised"])
    if not table:
        return np.zeros((0, 0))
    columns = sorted(set.intersection(*(set(v) for v in table.values())))
    return np.array([[np.mean(table[u][c]) for c in columns] for u in sorted(table)])


def per_unit(rows: Iterable[dict[str, Any]], method: str) -> dict[tuple, float]:
    """Mean normalised score of ``method`` per unit."""
    acc: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r["method"] == method and r["normalised"] is not None:
            acc[unit_key(r)].append(r["normalised"])
    return {u: float(np.mean(v)) for u, v in acc.items()}


def select(rows: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    """Rows whose fields equal every ``where`` value (a tuple value: any of its items)."""
    out = []
    for r in rows:
        if all(r[k] in v if isinstance(v, tuple) else r[k] == v for k, v in where.items()):
            out.append(r)
    return out


def methods_of(rows: list[dict[str, Any]]) -> list[str]:
    """Methods in first-seen order."""
    return list(dict.fromkeys(r["method"] for r in rows))


def interval_table(rows: list[dict[str, Any]], groups: dict[str, list], seed: int) -> list[str]:
    """A Markdown table: per group and method, mean and IQM with 95% intervals over units."""
    lines = [
        "| task | method | units | mean [95% CI] | IQM [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for label, sel in groups.items():
        for method in methods_of(sel):
            m = matrix(sel, method)
            if not m.size:
                continue
            mean, iqm = intervals(m, seed)
            lines.append(f"| {label} | {method} | {len(m)} | {mean} | {iqm} |")
    return lines


def paired_table(
    rows: list[dict[str, Any]], method: str, against: str, groups: dict[str, list]
) -> tuple[list[str], list[tuple[str, Any]]]:
    """Paired Wilcoxon tests of ``method`` minus ``against`` per group, units as pairs,
    Holm-corrected across groups; returns the table lines and the tests."""
    tests, labels = [], []
    for label, sel in groups.items():
        a, b = per_unit(sel, method), per_unit(sel, against)
        units = sorted(set(a) & set(b))
        if units:
            tests.append(
                paired_test(np.array([a[u] for u in units]), np.array([b[u] for u in units]))
            )
            labels.append(label)
    tests = holm(tests)
    lines = [
        f"| task | units | {method} − {against} | wins / losses | p (Wilcoxon) | p (Holm) |",
        "|---|---|---|---|---|---|",
    ]
    for label, t in zip(labels, tests, strict=True):
        lines.append(
            f"| {label} | {t.n} | {t.mean_difference:+.3f} | {t.wins} / {t.losses} | "
            f"{t.p_value:.3g} | {t.p_holm:.3g} |"
        )
    return lines, list(zip(labels, tests, strict=True))


def cell_gaps(rows: list[dict[str, Any]], method: str, against: str) -> np.ndarray:
    """Per (unit, γ, task, protocol): ``method`` minus ``against`` normalised scores."""
    key = lambda r: (unit_key(r), r["gamma"], r["task"], r["protocol"])  # noqa: E731
    a = {key(r): r["normalised"] for r in rows if r["method"] == method}
    b = {key(r): r["normalised"] for r in rows if r["method"] == against}
    gaps = [a[k] - b[k] for k in a if k in b and a[k] is not None and b[k] is not None]
    return np.array(gaps)


def time_to_quality(
    rows: list[dict[str, Any]], quality: list[dict[str, Any]], method: str, threshold: float
) -> tuple[np.ndarray, int, int]:
    """Per setup cell where ``method`` reaches ``threshold``: scratch's time to reach it
    over ``method``'s build time (inf where scratch never does within its budgets); with
    how many cells each never reached it."""
    key = lambda r: (unit_key(r), r["gamma"], r["task"], r["protocol"])  # noqa: E731
    scratch: dict[tuple, float] = {}
    for r in sorted(quality, key=lambda r: r["budget"]):
        k = key(r)
        if k not in scratch and r["normalised"] is not None and r["normalised"] >= threshold:
            scratch[k] = r["seconds"]
    cells = {key(r) for r in quality}
    ratios, method_never = [], 0
    for r in rows:
        if r["method"] != method or key(r) not in cells:
            continue
        if r["normalised"] is None or r["normalised"] < threshold:
            method_never += 1
            continue
        ratios.append(scratch.get(key(r), np.inf) / max(r["seconds"], 1e-9))
    scratch_never = len(cells) - len(scratch)
    return np.array(ratios), method_never, scratch_never


LEGEND = {
    "lever (defaults)": "`LeverComposedPolicy.from_library` with `ReuseConfig()`: GPI over the "
    "layout's policies by successor features, every candidate, 10 rounds of improvement on "
    "the data (finite-horizon and discounted plans, the best on the data kept), the guard",
    "lever (paper: sum)": "the paper's rule: the sum of the parts' Q-values on the support, "
    "3 candidates per part scored offline",
    "gpi (parts)": "GPI by successor features over the split's candidates, nothing after it",
    "gpi (layout)": "GPI by successor features over the layout's policies (SF-GPI on the known "
    "features, the zero-shot comparator), nothing after it",
    "lever (time-aware)": "lever (defaults), then time-indexed policy iteration on the "
    "members' data to its fixed point, acting on the elapsed steps (time-aware)",
    "fb (zero-shot)": "a forward-backward representation fitted on the layout's pooled "
    "transitions without rewards, then zero-shot for each weight vector",
    "best single (data)": "the library policy whose successor features on its own data give "
    "the best value from the start",
    "best single (oracle)": "the library policy whose greedy return (recorded at build time "
    "in the true model) is best under the weights",
    "bcvi": "batch-constrained value iteration on the candidates' data: discounted (γ 0.99), "
    "greedy over recorded actions, action 0 off the data (stationary)",
    "bcvi (time-indexed)": "batch-constrained backward induction over steps left on the same "
    "data, acting on the elapsed steps (time-aware)",
    "scratch X1": "tabular Q-learning on the task itself, 10,000 episodes",
    "scratch Xk": "the same for 10,000 episodes per part of the split",
    "d3rlpy CQL": "d3rlpy DiscreteCQL on the candidates' datasets relabelled to the task "
    "(Adam 1e-3, target copied 40 times per fit)",
    "d3rlpy BCQ": "d3rlpy DiscreteBCQ, the same data, as its authors build it for vector "
    "observations (imitator network of its own, logit penalty 1e-2, threshold 0.3)",
    "d3rlpy BC": "d3rlpy DiscreteBC (behaviour cloning), the same data",
}
"""What each method label on the results page and in the demo means."""
FAMILY_COLUMNS = (
    "| method | contract | units | mean [95% CI] | IQM [95% CI] | < 0.5 | worst unit | "
    "mean regret | vs optimum |"
)


def family_table(rows: list[dict[str, Any]], seed: int) -> list[str]:
    """Per method: its contract, units, mean and IQM with intervals over units, the share of
    cells below 0.5, the worst unit mean, the mean regret (return units, its own ceiling) and
    the mean score against the finite-horizon optimum."""
    lines = [FAMILY_COLUMNS, "|---|---|---|---|---|---|---|---|---|"]
    for method in methods_of(rows):
        sel = select(rows, method=method)
        m = matrix(sel, method)
        if not m.size:
            continue
        mean, iqm = intervals(m, seed)
        scores = [r["normalised"] for r in sel if r["normalised"] is not None]
        horizon = [r["normalised_horizon"] for r in sel if r["normalised_horizon"] is not None]
        worst = min(per_unit(sel, method).values())
        lines.append(
            f"| {method} | {sel[0]['contract']} | {len(m)} | {mean} | {iqm} | "
            f"{np.mean(np.array(scores) < 0.5):.1%} | {worst:.3f} | "
            f"{np.mean([r['regret'] for r in sel]):.2f} | {np.mean(horizon):.3f} |"
        )
    return lines


def coverage_threshold(coverage: list[dict[str, Any]], margin: float = MARGIN) -> str:
    """The path coverage from which lever (defaults) stays within ``margin`` of the support
    ceiling in at least 90% of the coverage tiers' cells, said in one sentence."""
    cells = []
    for r in select(coverage, method=DEFAULT):
        if r["normalised"] is None:
            continue
        ceiling = r["stationary_return"]
        support = (r["support_return"] - r["random_return"]) / (ceiling - r["random_return"])
        cells.append((r["path_coverage"], r["normalised"] >= support - margin))
    if not cells:
        return ""
    cells.sort()
    for cov, _ in cells:
        above = [ok for c, ok in cells if c >= cov]
        if np.mean(above) >= 0.9:
            below = [ok for c, ok in cells if c < cov]
            tail = (f"; below it, {np.mean(below):.0%} of {len(below)} cells are" if below
                    else "")  # fmt: skip
            return (
                f"From a path coverage of {cov:.2f} up, lever (defaults) is within {margin:g} "
                f"of the support ceiling in {np.mean(above):.0%} of {len(above)} cells{tail}. "
                "Below that coverage composition stops matching what the data allows."
            )
    return (
        f"lever (defaults) is within {margin:g} of the support ceiling in fewer than 90% of "
        "the cells at every coverage."
    )
