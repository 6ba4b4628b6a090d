"""The results page's findings: the reading in words and the issue's targets, each figure
computed from the rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from lever_gym.experiments.report import (
    COVERED,
    DEFAULT,
    MARGIN,
    ORACLE,
    SINGLE,
    cell_gaps,
    methods_of,
    select,
    time_to_quality,
    unit_key,
)


def _mean(rows: list[dict[str, Any]], **where: Any) -> float:
    values = [r["normalised"] for r in select(rows, **where) if r["normalised"] is not None]
    return float(np.mean(values)) if values else float("nan")


def reading_section(rows: list[dict[str, Any]]) -> list[str]:
    """The page's findings in words; every figure computed from the rows."""
    out = ["## Reading", ""]
    for kind, label in (("setup", "the paper's six setups"), ("headroom", "the headroom tasks")):
        scores = {m: _mean(rows, kind=kind, method=m) for m in methods_of(rows)}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        out.append(
            f"- On {label} of the held-out layouts, mean normalised scores (all units, γ and "
            "start protocols): "
            + "; ".join(f"{m} {v:.3f}" for m, v in ranked if np.isfinite(v))
            + "."
        )
    gaps = cell_gaps(select(rows, kind="setup"), DEFAULT, SINGLE)
    losing = [r for r in select(rows, kind="setup", method=DEFAULT) if r["normalised"] is not None]
    key = lambda r: (unit_key(r), r["gamma"], r["task"], r["protocol"])  # noqa: E731
    single = {key(r): r["normalised"] for r in select(rows, kind="setup", method=SINGLE)}
    worse = [r for r in losing if key(r) in single and r["normalised"] < single[key(r)] - MARGIN]
    better = [r for r in losing if key(r) in single and r["normalised"] >= single[key(r)] - MARGIN]

    def cov(sel: list[dict[str, Any]]) -> float:
        return float(np.mean([r["reference_coverage"] for r in sel
                              if r["reference_coverage"] is not None]))  # fmt: skip

    if len(gaps):
        out.append(
            f"- {DEFAULT} against {SINGLE}, cell by cell on the setups: ahead by more than "
            f"{MARGIN} in {int(np.sum(gaps > MARGIN))} of {len(gaps)} cells, within {MARGIN} in "
            f"{int(np.sum(np.abs(gaps) <= MARGIN))}, behind by more than {MARGIN} in "
            f"{len(worse)}."
        )
    if worse and better:
        lo, hi = cov(worse), cov(better)
        if lo < hi:
            out.append(
                f"- Where {DEFAULT} loses, the chosen datasets hold less of the optimal path: "
                f"mean reference coverage {lo:.2f} in the cells it loses against {hi:.2f} in the "
                "others. Off the data the composed policy falls back on Q-values trained for "
                "other objectives, and nothing offline can tell it the way: the coverage "
                "dependence the paper reports."
            )
        else:
            out.append(
                f"- Coverage does not explain where {DEFAULT} loses: mean reference coverage "
                f"{lo:.2f} in the cells it loses against {hi:.2f} in the others."
            )
    return [*out, ""]


def _unit_setup_gaps(rows: list[dict[str, Any]], method: str, against: str) -> np.ndarray:
    """Per (unit, setup): ``method`` minus ``against``, each averaged over γ and protocols."""
    acc: dict[tuple, list[float]] = {}
    key = lambda r: (unit_key(r), r["task"])  # noqa: E731
    scores: dict[str, dict[tuple, list[float]]] = {m: {} for m in (method, against)}
    for r in select(rows, kind="setup", method=(method, against)):
        if r["normalised"] is not None:
            scores[r["method"]].setdefault(key(r), []).append(r["normalised"])
    for k, a in scores[method].items():
        if k in scores[against]:
            acc[k] = [float(np.mean(a) - np.mean(scores[against][k]))]
    return np.array([v[0] for v in acc.values()])


def _covered(rows: list[dict[str, Any]], method: str) -> list[float]:
    return [
        r["normalised"]
        for r in select(rows, method=method, kind="setup")
        if r["normalised"] is not None
        and r["reference_coverage"] is not None
        and r["reference_coverage"] >= COVERED
    ]


def targets_section(rows: list[dict[str, Any]], quality: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, each with the measured figure."""
    out = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

    def add(target: str, measured: str, met: bool) -> None:
        out.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")

    for against in (SINGLE, ORACLE):
        gaps = _unit_setup_gaps(rows, DEFAULT, against)
        if len(gaps):
            below = int(np.sum(gaps < -MARGIN))
            add(
                f"{DEFAULT} ≥ {against} − {MARGIN} on every setup of every unit",
                f"{below} of {len(gaps)} (unit, setup) pairs below; worst {gaps.min():+.3f}",
                below == 0,
            )
    head = cell_gaps(select(rows, kind="headroom"), DEFAULT, SINGLE)
    if len(head):
        mean = float(head.mean())
        add(f"{DEFAULT} ≥ {SINGLE} + 0.05 on the headroom tasks",
            f"{mean:+.3f} on average over {len(head)} cells", mean >= 0.05)  # fmt: skip
    for method, floor in (("gpi (layout)", 0.95), (DEFAULT, 0.98)):
        cov = _covered(rows, method)
        if cov:
            add(f"{method} ≥ {floor} on covered cells (reference coverage ≥ {COVERED})",
                f"{np.mean(cov):.3f} over {len(cov)} cells",
                bool(np.mean(cov) >= floor))  # fmt: skip
    ratios, never, _ = time_to_quality(rows, quality, DEFAULT, 0.95)
    if len(ratios):
        finite = ratios[np.isfinite(ratios)]
        both = (
            f"{np.median(finite):.2g}× over the {len(finite)} cells both reach it"
            if len(finite)
            else "no cell where both reach it"
        )
        add(f"{DEFAULT} reaches 0.95 ≥ 100× sooner than scratch (median)",
            f"{np.median(ratios):.3g}× over the {len(ratios)} cells it reaches 0.95 in "
            f"(scratch never, within its budgets: {np.sum(~np.isfinite(ratios))} of them; "
            f"{both}); {never} cells where {DEFAULT} stays below 0.95",
            np.median(ratios) >= 100)  # fmt: skip
    return [*out, ""]
