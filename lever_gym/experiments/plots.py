"""The results page's figures: score against coverage, and against time to obtain a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _methods(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def _select(rows: list[dict[str, Any]], method: str, kind: str | None = None) -> list[dict]:
    return [r for r in rows if r["method"] == method and (kind is None or r["kind"] == kind)]


def plot(rows: list[dict[str, Any]], figures: Path) -> None:
    """``results_coverage.png`` and ``results_time.png`` in ``figures``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in [m for m in _methods(rows) if m.startswith(("lever", "gpi"))]:
        sel = [r for r in _select(rows, method, "setup")
               if r["normalised"] is not None and r["reference_coverage"] is not None]  # fmt: skip
        ax.scatter([r["reference_coverage"] for r in sel], [r["normalised"] for r in sel],
                   s=8, alpha=0.4, label=method)  # fmt: skip
    _save(fig, ax, figures / "results_coverage.png",
          "share of the optimal path in the chosen datasets",
          "normalised score (1 = finite-horizon optimum)")  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in _methods(rows):
        sel = [r for r in _select(rows, method) if r["normalised"] is not None and r["seconds"] > 0]
        if sel:
            seconds = np.median([r["seconds"] for r in sel])
            ax.scatter(seconds, np.mean([r["normalised"] for r in sel]), label=method)
    ax.set_xscale("log")
    _save(fig, ax, figures / "results_time.png", "median seconds to obtain the policy (log)",
          "mean normalised score")  # fmt: skip


def _save(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str) -> None:
    """Label, legend and write a figure without metadata (same data, same bytes)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
