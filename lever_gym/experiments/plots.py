"""The results page's figures: score against coverage, and against time to obtain a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _methods(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def _select(rows: list[dict[str, Any]], method: str, kind: str | None = None) -> list[dict]:
    return [r for r in rows if r["method"] == method and (kind is None or r["kind"] == kind)]


def plot(rows: list[dict[str, Any]], coverage: list[dict[str, Any]], figures: Path) -> None:
    """``results_coverage.png`` (score against the two coverages of the data, the coverage
    tiers and the held-out cells) and ``results_families.png`` (score by family)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lever_gym.experiments.protocol import FAMILIES

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    panels = ((axes[0], "path_coverage", "share of the optimal path's pairs"),
              (axes[1], "pair_coverage", "share of every reachable pair"))  # fmt: skip
    for ax, field, label in panels:
        for method in ("lever (defaults)", "bcvi (time-indexed)"):
            sel = [r for r in _select(coverage or rows, method)
                   if r["normalised"] is not None and r[field] is not None]  # fmt: skip
            ax.scatter([r[field] for r in sel], [r["normalised"] for r in sel], s=6, alpha=0.4,
                       label=method)  # fmt: skip
        ax.set_xlabel(f"{label} in the data")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("normalised score (its contract's ceiling)")
    fig.tight_layout()
    fig.savefig(figures / "results_coverage.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    methods = [m for m in _methods(rows) if not m.startswith("d3rlpy")]
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        means = [
            np.mean([r["normalised"] for r in _select(rows, method, fam)
                     if r["normalised"] is not None] or [np.nan])
            for fam in FAMILIES
        ]  # fmt: skip
        ax.bar(np.arange(len(FAMILIES)) + i * width, np.clip(means, -1, None), width,
               label=method)  # fmt: skip
    ax.set_xticks(np.arange(len(FAMILIES)) + 0.4 - width / 2, FAMILIES)
    _save(fig, ax, figures / "results_families.png", "family", "mean normalised score (≥ −1)")


def _save(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str) -> None:
    """Label, legend and write a figure without metadata (same data, same bytes)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
