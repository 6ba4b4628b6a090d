"""The benchmark's report: rows.csv, significance.csv, summary.md and the plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = (
    "size", "layout_seed", "failure_case", "gamma", "setup", "target", "protocol", "method",
    "seconds", "speedup_vs_scratch_x1", "mean_return", "ci_low", "ci_high", "success_rate",
    "normalised_score", "mean_length", "coverage", "reference_coverage", "chosen",
)  # fmt: skip


def write_report(rows: list[dict[str, Any]], config: Any, out: Path) -> None:
    """Write every output of the benchmark into ``out``."""
    with open(out / "rows.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    significance = significance_tests(rows)
    with open(out / "significance.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(significance[0]) if significance else ["setup"])
        writer.writeheader()
        writer.writerows(significance)
    (out / "summary.md").write_text(summary_markdown(rows, significance, config))
    plot(rows, out)


def significance_tests(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setup: paired Wilcoxon signed-rank test of composed (hybrid) against scratch X1
    on normalised scores, paired by size × layout × γ × protocol."""
    from scipy.stats import wilcoxon

    out = []
    hybrid = next((m for m in {r["method"] for r in rows} if m.startswith("composed-hybrid")), None)
    if hybrid is None:
        hybrid = next(
            (m for m in sorted({r["method"] for r in rows}) if m.startswith("composed-")), None
        )
    for setup in dict.fromkeys(r["setup"] for r in rows):
        key = lambda r: (r["size"], r["layout_seed"], r["gamma"], r["protocol"])  # noqa: E731
        comp = {
            key(r): r["normalised_score"]
            for r in rows
            if r["setup"] == setup and r["method"] == hybrid
        }
        scr = {
            key(r): r["normalised_score"]
            for r in rows
            if r["setup"] == setup and r["method"] == "scratch-X1"
        }
        pairs = [(comp[k], scr[k]) for k in comp if k in scr]
        if not pairs:
            continue
        a, b = np.array(pairs).T
        diff = a - b
        if np.allclose(diff, 0):
            p_two, p_less = 1.0, 1.0
        else:
            p_two = float(wilcoxon(a, b).pvalue)
            p_less = float(wilcoxon(a, b, alternative="less").pvalue)
        out.append(
            {"setup": setup, "method": hybrid, "baseline": "scratch-X1", "pairs": len(pairs),
             "mean_composed": float(a.mean()), "mean_scratch": float(b.mean()),
             "mean_difference": float(diff.mean()), "p_two_sided": p_two,
             "p_composed_worse": p_less}
        )  # fmt: skip
    return out


COVERED = 0.9
"""Reference coverage above which a setup counts as covered by the library's data."""


def summary_markdown(
    rows: list[dict[str, Any]], significance: list[dict[str, Any]], config: Any
) -> str:
    """The Markdown report: per protocol, setup × method means; significance; coverage."""
    lines = [
        f"# Benchmark ({config.suite} suite)",
        "",
        f"Sizes {list(config.sizes)}, layouts {list(config.layout_seeds)}"
        + (
            " plus the detour failure case (16x16, layout 132)"
            if any(r["failure_case"] for r in rows)
            else ""
        )
        + f", library gammas {list(config.gammas)}, {config.episodes} seeded episodes per "
        "evaluation. Normalised score: 0 = uniform random, 1 = exact optimum (gamma 0.99) on "
        "the same episodes. "
        "Time: wall-clock to obtain the policy (composition: retrieval + scoring + composition; "
        "scratch: training; d3rlpy: conversion + fit). Speedup: scratch X1 time / method time, "
        "per cell, median.",
        "",
    ]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        lines += [
            f"## Start protocol: {protocol}",
            "",
            "| setup | method | cells | return (mean ± 95% CI half-width) | success | normalised "
            "| time (s, median) | speedup vs scratch X1 | coverage |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for setup in dict.fromkeys(r["setup"] for r in rows):
            for method in methods:
                sel = [r for r in rows if r["protocol"] == protocol and r["setup"] == setup
                       and r["method"] == method and not r["failure_case"]]  # fmt: skip
                if not sel:
                    continue
                ret = np.mean([r["mean_return"] for r in sel])
                half = np.mean([(r["ci_high"] - r["ci_low"]) / 2 for r in sel])
                cov = (
                    np.nanmean([r["coverage"] for r in sel])
                    if method.startswith("composed")
                    else float("nan")
                )
                lines.append(
                    f"| {setup} | {method} | {len(sel)} | {ret:.1f} ± {half:.1f} | "
                    f"{np.mean([r['success_rate'] for r in sel]):.2f} | "
                    f"{np.mean([r['normalised_score'] for r in sel]):.3f} | "
                    f"{np.nanmedian([r['seconds'] for r in sel]):.4f} | "
                    f"{np.nanmedian([r['speedup_vs_scratch_x1'] for r in sel]):.2f} | "
                    f"{'' if np.isnan(cov) else f'{cov:.2f}'} |"
                )
        lines.append("")
    lines += [
        "## Composed (hybrid) against scratch X1: paired Wilcoxon signed-rank tests",
        "",
        "| setup | pairs | composed | scratch X1 | mean difference | p (two-sided) "
        "| p (composed worse) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in significance:
        lines.append(
            f"| {s['setup']} | {s['pairs']} | {s['mean_composed']:.3f} | {s['mean_scratch']:.3f} | "
            f"{s['mean_difference']:+.3f} | {s['p_two_sided']:.3g} | {s['p_composed_worse']:.3g} |"
        )
    composed = [r for r in rows if r["method"].startswith("composed-hybrid")]
    covered = [r for r in composed if r["reference_coverage"] >= COVERED]
    uncovered = [r for r in composed if r["reference_coverage"] < COVERED]
    lines += [
        "",
        f"## Coverage (threshold: {COVERED} of the optimal trajectory recorded in the chosen "
        "datasets)",
        "",
    ]
    for label, sel in (("covered", covered), ("not covered", uncovered)):
        if sel:
            lines.append(
                f"- {label}: {len(sel)} cells, composed (hybrid) mean normalised score "
                f"{np.mean([r['normalised_score'] for r in sel]):.3f}, success "
                f"{np.mean([r['success_rate'] for r in sel]):.2f}"
            )
    failure = [r for r in rows if r["failure_case"]]
    if failure:
        lines += ["", "## Failure case: the detour layout (16x16, layout 132)", "",
                  "| setup | gamma | protocol | method | normalised | success "
                  "| reference coverage |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in failure:
            if r["method"].startswith(("composed-hybrid", "scratch", "d3rlpy", "optimum")):
                ref = r["reference_coverage"]
                lines.append(
                    f"| {r['setup']} | {r['gamma']:g} | {r['protocol']} | {r['method']} | "
                    f"{r['normalised_score']:.3f} | {r['success_rate']:.2f} | "
                    f"{'' if np.isnan(ref) else f'{ref:.2f}'} |"
                )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    """``return_vs_time.png`` and ``return_vs_coverage.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [
        m for m in dict.fromkeys(r["method"] for r in rows) if m not in ("random", "optimum")
    ]
    fig, ax = plt.subplots(figsize=(8, 5))
    for method in methods:
        sel = [r for r in rows if r["method"] == method and r["seconds"] > 0]
        if sel:
            ax.scatter(
                [r["seconds"] for r in sel],
                [r["normalised_score"] for r in sel],
                s=12,
                alpha=0.5,
                label=method,
            )
    ax.set_xscale("log")
    ax.set_xlabel("time to obtain the policy (s, log scale)")
    ax.set_ylabel("normalised score (0 random, 1 optimum)")
    ax.set_title("Return against build time")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "return_vs_time.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 5))
    composed = [r for r in rows if r["method"].startswith("composed-hybrid")]
    normal = [r for r in composed if not r["failure_case"]]
    failure = [r for r in composed if r["failure_case"]]
    ax.scatter(
        [r["reference_coverage"] for r in normal],
        [r["normalised_score"] for r in normal],
        s=14,
        alpha=0.6,
        label="composed (hybrid)",
    )
    if failure:
        ax.scatter(
            [r["reference_coverage"] for r in failure],
            [r["normalised_score"] for r in failure],
            s=40,
            marker="x",
            color="red",
            label="detour failure case",
        )
    ax.set_xlabel("coverage of the optimal trajectory by the chosen datasets")
    ax.set_ylabel("normalised score")
    ax.set_title("Return against coverage")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "return_vs_coverage.png", dpi=90)
    plt.close(fig)
