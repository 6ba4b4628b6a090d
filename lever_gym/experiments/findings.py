"""The results page's findings: the reading in words and the issue's targets, each figure
computed from the rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from lever_gym.experiments.protocol import FAMILIES
from lever_gym.experiments.report import DEFAULT, MARGIN, methods_of, per_unit, select

STATIONARY_BASELINES = (
    "lever (paper: sum)", "gpi (parts)", "gpi (layout)", "fb (zero-shot)",
    "best single (data)", "best single (oracle)", "bcvi", "scratch X1", "scratch Xk",
)  # fmt: skip
"""The stationary methods lever (defaults) is compared with under the same contract."""
SIGNED = ("goal-reaching", "stalling pays", "hazard bonus")
TIME_AWARE_LEVER = "lever (time-aware)"


def _scores(rows: list[dict[str, Any]], field: str = "normalised", **where: Any) -> np.ndarray:
    return np.array([r[field] for r in select(rows, **where) if r[field] is not None])


def _mean(rows: list[dict[str, Any]], **where: Any) -> float:
    values = _scores(rows, **where)
    return float(values.mean()) if len(values) else float("nan")


def _support_mean(rows: list[dict[str, Any]]) -> float:
    """The support ceiling's mean score over ``rows``, normalised as each row's own score (by
    its contract's ceiling; rows without a normalised score left out)."""
    values = []
    for r in rows:
        if r["normalised"] is None:
            continue
        top = r["optimal_return"] if r["contract"] == "time-aware" else r["stationary_return"]
        values.append((r["support_return"] - r["random_return"]) / (top - r["random_return"]))
    return float(np.mean(values)) if values else float("nan")


def reading_section(rows: list[dict[str, Any]], coverage: list[dict[str, Any]]) -> list[str]:
    """The page's findings in words; every figure computed from the rows."""
    lines = ["## Reading", ""]
    for fam in FAMILIES:
        sel = select(rows, kind=fam)
        if not sel:
            continue
        ranked = sorted(((m, _mean(sel, method=m)) for m in methods_of(sel)),
                        key=lambda x: -x[1] if np.isfinite(x[1]) else np.inf)  # fmt: skip
        text = "; ".join(f"{m} {v:.3f}" for m, v in ranked if np.isfinite(v))
        lines.append(f"- **{fam}** (mean normalised score against each method's own "
                     f"contract's ceiling): {text}.")  # fmt: skip
    lines += _losses(rows)
    lever = select(rows, method=DEFAULT)
    stall = [r for r in select(lever, kind="stalling pays") if r["normalised_horizon"] is not None]
    if stall:
        gap = np.mean([r["stationary_return"] - r["optimal_return"] for r in stall])
        lines.append(
            f"- Where stalling pays, the stationary reference is {-gap:.1f} return units below "
            "the finite-horizon optimum on average: no stationary policy can wander and stop "
            f"at step H. Against the optimum, lever (defaults) scores "
            f"{np.mean([r['normalised_horizon'] for r in stall]):.3f} there, and the "
            f"time-indexed bcvi, which reads the elapsed steps, "
            f"{np.mean(_scores(rows, method='bcvi (time-indexed)', kind='stalling pays')):.3f}."
        )
    return [*lines, ""]


def _losses(rows: list[dict[str, Any]]) -> list[str]:
    """Where lever (defaults) loses to a stationary baseline by more than the margin, cell by
    cell, and to which."""
    key = lambda r: (r["size"], r["layout_seed"], r["library_seed"], r["gamma"], r["task"],  # noqa: E731
                     r["protocol"])  # fmt: skip
    mine = {key(r): r["normalised"] for r in select(rows, method=DEFAULT)}
    lines = []
    for against in STATIONARY_BASELINES:
        theirs = {key(r): r["normalised"] for r in select(rows, method=against)}
        pairs = [(mine[k], v) for k, v in theirs.items()
                 if k in mine and mine[k] is not None and v is not None]  # fmt: skip
        if not pairs:
            continue
        a = np.array(pairs)
        behind, ahead = (
            int(np.sum(a[:, 0] < a[:, 1] - MARGIN)),
            int(np.sum(a[:, 0] > a[:, 1] + MARGIN)),
        )
        lines.append(f"- lever (defaults) against {against}, cell by cell: ahead by more than "
                     f"{MARGIN:g} in {ahead} of {len(a)} cells, behind in {behind}.")  # fmt: skip
    return lines


def targets_section(rows: list[dict[str, Any]], coverage: list[dict[str, Any]]) -> list[str]:
    """The issue's targets with the measured figures (and the reason where one is missed)."""
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

    def add(target: str, measured: str, met: bool) -> None:
        lines.append(f"| {target} | {measured} | {'yes' if met else 'no'} |")

    signed = select(rows, method=DEFAULT, kind=SIGNED)
    below = _scores(signed) < 0.5
    if len(below):
        add("lever (defaults): at most 2% of cells below 0.5 (tasks of every sign)",
            f"{below.mean():.1%} of {len(below)} cells", bool(below.mean() <= 0.02))  # fmt: skip
    for fam in FAMILIES:
        sel = select(rows, kind=fam)
        mine = _mean(sel, method=DEFAULT)
        best = max(((m, _mean(sel, method=m)) for m in STATIONARY_BASELINES
                    if select(sel, method=m)), key=lambda x: x[1], default=None)  # fmt: skip
        if best is not None and np.isfinite(mine):
            add(f"{fam}: lever (defaults) mean ≥ every stationary baseline − {MARGIN:g}",
                f"{mine:.3f} against {best[0]} {best[1]:.3f}",
                mine >= best[1] - MARGIN)  # fmt: skip
    stall = _mean(rows, method=DEFAULT, kind="stalling pays")
    if np.isfinite(stall):
        add("stalling pays: lever (defaults) mean ≥ 0.9 against the stationary reference",
            f"{stall:.3f}", stall >= 0.9)  # fmt: skip
    for fam in ("setup", "goal-reaching"):
        value = _mean(rows, method=DEFAULT, kind=fam)
        if np.isfinite(value):
            ceiling = _support_mean(select(rows, method=DEFAULT, kind=fam))
            planned = _mean(rows, method="bcvi (time-indexed)", kind=fam)
            add(f"{fam}: lever (defaults) mean ≥ 0.98",
                f"{value:.4f}; the best plan on the same data (bcvi (time-indexed)) "
                f"{planned:.4f}; on the layout's whole data, the target's own policies "
                f"included, {ceiling:.4f}", value >= 0.98)  # fmt: skip
    for fam in FAMILIES:
        sel = select(rows, kind=fam)
        timed = _mean(sel, method=TIME_AWARE_LEVER)
        theirs = _mean(sel, method="bcvi (time-indexed)")
        if np.isfinite(timed) and np.isfinite(theirs):
            add(f"{fam}, time-aware contract: {TIME_AWARE_LEVER} mean ≥ bcvi (time-indexed) "
                f"− {MARGIN:g}", f"{timed:.3f} against {theirs:.3f}",
                timed >= theirs - MARGIN)  # fmt: skip
    over = [r for r in select(rows, method=DEFAULT) + select(coverage, method=DEFAULT)
            if r["mean_return"] > r["support_return"] + 1e-6]  # fmt: skip
    add("lever (defaults) at or below the support ceiling everywhere",
        f"{len(over)} cells above it", not over)  # fmt: skip
    fb = [fam for fam in FAMILIES if select(rows, method="fb (zero-shot)", kind=fam)]
    if fb:
        gaps = {f: _mean(rows, method=DEFAULT, kind=f) - _mean(rows, method="fb (zero-shot)",
                                                                 kind=f) for f in fb}  # fmt: skip
        add(
            "the forward-backward comparator on every family, lever ≥ it",
            "; ".join(f"{f} {g:+.3f}" for f, g in gaps.items()),
            min(gaps.values()) >= 0,
        )
    bounded = [
        r for r in select(rows, method=DEFAULT, protocol="fixed") if r["bound_low"] is not None
    ]
    inside = [r["bound_low"] - 1e-6 <= r["mean_return"] <= r["bound_high"] + 1e-6 for r in bounded]
    if bounded:
        add("the true value within the reported bounds in every tested cell",
            f"{sum(inside)} of {len(inside)} cells", all(inside))  # fmt: skip
    units = per_unit(select(rows, method=DEFAULT), DEFAULT)
    if units:
        add("(for the record) lever (defaults)'s worst unit", f"{min(units.values()):.3f}", True)
    return [*lines, ""]
