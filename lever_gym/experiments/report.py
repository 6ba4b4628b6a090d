"""The results page, regenerated from committed rows: tables, statistics, plots, reading.

``write_page(results, page, figures)`` reads ``tuning``/``rows``/``quality`` rows (see
``lever_gym.experiments.runner``) and writes the Markdown page and its figures. Every
number of the page, its reading paragraphs included, is computed here from the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lever_gym.experiments.plots import plot
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
    """Normalised scores of ``method`` as (units, tasks): tasks are (γ, task, protocol)."""
    table: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    for r in rows:
        if r["method"] == method and r["normalised"] is not None:
            table[unit_key(r)][(r["gamma"], r["task"], r["protocol"])] = r["normalised"]
    if not table:
        return np.zeros((0, 0))
    columns = sorted(set.intersection(*(set(v) for v in table.values())))
    return np.array([[table[u][c] for c in columns] for u in sorted(table)])


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


def write_page(results: Path, page: Path, figures: Path, seed: int = 0) -> str:
    """Write the results page (and its figures) from the rows in ``results``; return it."""
    from lever_gym.experiments.suite import load_rows

    rows = load_rows(results / "rows.jsonl.gz")
    tuning = (
        load_rows(results / "tuning.jsonl.gz") if (results / "tuning.jsonl.gz").is_file() else []
    )
    quality = (
        load_rows(results / "quality.jsonl.gz") if (results / "quality.jsonl.gz").is_file() else []
    )
    figures.mkdir(parents=True, exist_ok=True)
    lines = _header(rows, tuning)
    lines += _tuning_section(tuning)
    lines += _main_section(rows, seed)
    lines += _single_section(rows)
    lines += _headroom_section(rows)
    lines += _coverage_section(rows)
    lines += _time_section(rows, quality)
    lines += _offline_section(rows)
    plot(rows, figures)
    lines += [
        "",
        f"![normalised score against the coverage of the optimal path]"
        f"({(figures / 'results_coverage.png').relative_to(page.parent).as_posix()})",
        "",
        f"![normalised score against the time to obtain the policy]"
        f"({(figures / 'results_time.png').relative_to(page.parent).as_posix()})",
    ]
    text = "\n".join(lines) + "\n"
    page.write_text(text)
    return text


def _header(rows: list[dict[str, Any]], tuning: list[dict[str, Any]]) -> list[str]:
    units = sorted({unit_key(r) for r in rows})
    sizes = sorted({u[0] for u in units})
    layouts = sorted({u[1] for u in units})
    seeds = sorted({u[2] for u in units})
    tuned = sorted({r["layout_seed"] for r in tuning})
    return [
        "# Results",
        "",
        "Generated by `lever-gym report` from the rows in `docs/results/` (written by "
        "`lever-gym benchmark --protocol full`); do not edit by hand.",
        "",
        f"- **Units of evidence**: {len(units)} (grid size × layout × library seed): sizes "
        f"{sizes}, held-out layouts {layouts[0]}–{layouts[-1]} ({len(layouts)}, fixed in "
        f"advance), library seeds {seeds}. A library seed re-draws every training run and "
        "dataset of the library.",
        f"- **Defaults tuned** on layouts {tuned} only (library seed 0); nothing below was "
        "chosen on the held-out layouts.",
        "- **Scores are exact**: LeverGrid is deterministic, so each policy's return is "
        "computed from every start of the protocol (fixed: the layout's start; random: every "
        "floor cell, uniformly) with no episode noise. Normalised score: 0 = uniformly random "
        "actions, 1 = the exact finite-horizon optimum (best undiscounted return within the "
        "N² horizon, by backward induction) from the same starts; nothing can exceed 1. Tasks "
        "whose optimum is less than 10 return units above random get no normalised score.",
        "- **Intervals**: rliable's stratified bootstrap over units (tasks = library γ × "
        "task × start protocol), mean and interquartile mean. **Tests**: Wilcoxon "
        "signed-rank over units (each unit's mean over its cells), Holm-corrected across "
        "the tasks of a table.",
        "",
    ]


def _tuning_section(tuning: list[dict[str, Any]]) -> list[str]:
    if not tuning:
        return []
    lines = [
        "## Tuning (tuning layouts only)",
        "",
        "| composed variant | setups | headroom | all |",
        "|---|---|---|---|",
    ]
    scores = []
    for method in methods_of(tuning):
        cols = [
            np.mean([r["normalised"] for r in select(tuning, method=method, kind=kind)
                     if r["normalised"] is not None])
            for kind in ("setup", "headroom")
        ]  # fmt: skip
        total = float(np.nanmean([r["normalised"] for r in select(tuning, method=method)
                                  if r["normalised"] is not None]))  # fmt: skip
        scores.append((total, method))
        lines.append(f"| {method} | {cols[0]:.3f} | {cols[1]:.3f} | {total:.3f} |")
    best = max(scores)
    lines += ["", f"Best on the tuning layouts: **{best[1]}** ({best[0]:.3f}); "
              "`from_library`'s defaults are set to it.", ""]  # fmt: skip
    return lines


def _groups(rows: list[dict[str, Any]]) -> dict[str, list]:
    groups = {
        s: select(rows, task=s)
        for s in dict.fromkeys(r["task"] for r in rows if r["kind"] == "setup")
    }
    groups["headroom (all)"] = select(rows, kind="headroom")
    return groups


def _main_section(rows: list[dict[str, Any]], seed: int) -> list[str]:
    lines = ["## Held-out layouts: every method", ""]
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        sel = select(rows, protocol=protocol)
        lines += [f"### Start protocol: {protocol}", ""]
        lines += interval_table(sel, _groups(sel), seed)
        lines.append("")
    return lines


def _single_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Against reusing the single best library policy", ""]
    for against in (SINGLE, ORACLE):
        table, tests = paired_table(rows, DEFAULT, against, _groups(rows))
        gaps = cell_gaps(select(rows, kind="setup"), DEFAULT, against)
        below = int(np.sum(gaps < -MARGIN))
        lines += [
            *table,
            "",
            f"Cells (unit × γ × setup × start protocol) where {DEFAULT} is more than "
            f"{MARGIN} below {against}: **{below} of {len(gaps)}** "
            f"(worst gap {gaps.min():+.3f}; mean gap {gaps.mean():+.3f}).",
            "",
        ]
        losing = [label for label, t in tests if t.mean_difference < -MARGIN]
        if losing:
            lines += [
                f"{DEFAULT} loses to {against} by more than {MARGIN} on average on: "
                f"{', '.join(losing)}.",
                "",
            ]
    return lines


def _headroom_section(rows: list[dict[str, Any]]) -> list[str]:
    sel = select(rows, kind="headroom")
    if not sel:
        return []
    gaps = cell_gaps(sel, DEFAULT, SINGLE)
    spans = [r["optimal_return"] - r["random_return"] for r in sel if r["method"] == DEFAULT]
    skipped = sum(1 for r in sel if r["method"] == DEFAULT and r["normalised"] is None)
    lines = [
        "## Headroom tasks",
        "",
        "Ten signed, non-unit weight vectors per layout (weights uniform in [-1, 2], rounded "
        "to 0.1), composed from their primitives. Mean normalised score and regret (return "
        "units) over cells:",
        "",
        "| method | normalised | regret |",
        "|---|---|---|",
    ]
    for method in methods_of(sel):
        m = select(sel, method=method)
        norm = [r["normalised"] for r in m if r["normalised"] is not None]
        lines.append(
            f"| {method} | {np.mean(norm):.3f} | {np.mean([r['regret'] for r in m]):.1f} |"
        )
    lines += [
        "",
        f"{DEFAULT} minus {SINGLE}: mean {gaps.mean():+.3f} over {len(gaps)} cells "
        f"(target ≥ +0.05); {skipped} of {len(spans)} cells have an optimum less than 10 above "
        f"random and no normalised score (median span {np.median(spans):.1f}).",
        "",
    ]
    return lines


def _coverage_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Coverage", ""]
    composed = [m for m in methods_of(rows) if m.startswith(("lever", "gpi"))]
    lines += ["| method | covered cells | score (covered) | other cells | score (other) |",
              "|---|---|---|---|---|"]  # fmt: skip
    for method in composed:
        sel = [r for r in select(rows, method=method, kind="setup")
               if r["normalised"] is not None and r["reference_coverage"] is not None]  # fmt: skip
        cov = [r["normalised"] for r in sel if r["reference_coverage"] >= COVERED]
        rest = [r["normalised"] for r in sel if r["reference_coverage"] < COVERED]
        lines.append(
            f"| {method} | {len(cov)} | {np.mean(cov) if cov else float('nan'):.3f} | "
            f"{len(rest)} | {np.mean(rest) if rest else float('nan'):.3f} |"
        )
    lines += ["", f"A cell is covered when at least {COVERED:.0%} of the optimal path from the "
              "start is in the chosen datasets.", ""]  # fmt: skip
    return lines


def _time_section(rows: list[dict[str, Any]], quality: list[dict[str, Any]]) -> list[str]:
    if not quality:
        return []
    lines = [
        "## Time to quality",
        "",
        "Scratch Q-learning is trained at budgets of "
        f"{sorted({r['budget'] for r in quality})} episodes (each run timed); its time to a "
        "quality is the training time of the smallest budget reaching it. A composed "
        "policy's time is its build time. Setups, the last library γ.",
        "",
        "| method | threshold | cells reached | scratch never reached | median scratch time / "
        "method time |",
        "|---|---|---|---|---|",
    ]
    for method in [m for m in methods_of(rows) if m.startswith(("lever", "gpi"))]:
        for threshold in THRESHOLDS:
            ratios, never, scratch_never = time_to_quality(rows, quality, method, threshold)
            med = f"{np.median(ratios):.0f}×" if len(ratios) else "–"
            lines.append(
                f"| {method} | {threshold} | {len(ratios)} (never: {never}) | {scratch_never} "
                f"| {med} |"
            )
    return [*lines, ""]


def _offline_section(rows: list[dict[str, Any]]) -> list[str]:
    sel = select(rows, method="d3rlpy CQL")
    if not sel:
        return []
    units = {unit_key(r) for r in sel}
    paired = [r for r in rows if unit_key(r) in units]
    lines = ["## Offline RL on the same cells", "",
             f"d3rlpy DiscreteCQL trained on the retrieved datasets of {len(units)} units "
             "(the same cells as every other method):", "",
             "| method | mean normalised |", "|---|---|"]  # fmt: skip
    for method in methods_of(paired):
        vals = [
            r["normalised"] for r in select(paired, method=method) if r["normalised"] is not None
        ]
        lines.append(f"| {method} | {np.mean(vals):.3f} |")
    return [*lines, ""]
