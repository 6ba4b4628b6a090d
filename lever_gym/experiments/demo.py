"""``lever-gym demo``: every method on the default library (30 s on 2 cores,
``benchmarks/results/demo.md``); d3rlpy CQL only when the ``baselines`` extra is installed.

The default library's 8x8 layouts are tuning layouts of the full protocol, so the demo
shows the methods at work, not held-out evidence (``docs/results.md`` has that).
"""

from __future__ import annotations

import importlib.util
import time
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from lever_gym.experiments.protocol import ProtocolConfig, Unit
from lever_gym.experiments.report import LEGEND
from lever_gym.experiments.runner import read_rows, run_unit
from lever_gym.reuse.decompose import SETUPS

CONFIG = ProtocolConfig(
    name="demo", sizes=(8,), tuning_layouts=(), heldout_layouts=(0, 1), library_seeds=(0,),
    signed=0, start_protocols=("fixed",), offline_layouts=1, offline_steps=300,
    quality_budgets=(1000, 10_000, 50_000), failure_case=False,
)  # fmt: skip


def run_demo(library: Path, out: Path) -> str:
    """Evaluate every method on the demo units (d3rlpy CQL if d3rlpy is installed); return
    the printed summary."""
    start = time.perf_counter()
    config = CONFIG if importlib.util.find_spec("d3rlpy") else replace(CONFIG, offline_layouts=0)
    print(
        "lever-gym demo: composing policies offline from the default library "
        f"({library}) for the paper's six setups on 8x8 layouts 0 and 1, both library "
        "gammas, from the fixed start; scored exactly (0 = random, 1 = the ceiling of the "
        "method's contract: the stationary reference, or the finite-horizon optimum for the "
        "time-indexed bcvi). Setups name the parts composed: P path, G gold, H hazard, L "
        "lever; 'PG+HL' composes a PathGold and a HazardLever policy.",
        flush=True,
    )
    if config.offline_layouts == 0:
        print(
            "  d3rlpy is not installed: the d3rlpy CQL baseline is left out "
            "(pip install 'lever-gym[baselines]' adds it).",
            flush=True,
        )
    if (out / "rows").is_dir() and any((out / "rows").iterdir()):
        print(
            f"  reusing the rows of an earlier run in {out / 'rows'} (delete {out} to run "
            "every method again)",
            flush=True,
        )
    for unit in config.units("heldout"):
        demo_unit = Unit(unit.size, unit.layout_seed, unit.library_seed, "demo")
        run_unit((asdict(config), asdict(demo_unit), str(library), str(out), [], "rows"))
        print(f"  layout {unit.layout_seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    return summary(read_rows(out / "rows"), time.perf_counter() - start)


def summary(rows: list[dict], seconds: float) -> str:
    """Mean normalised score per setup and method, and median build times."""
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    times: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        scores[r["task"], r["method"]].append(r["normalised"])
        times[r["method"]].append(r["seconds"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["", "| method | " + " | ".join(SETUPS) + " | median seconds |"]
    lines.append("|---" * (len(SETUPS) + 2) + "|")
    for m in methods:
        cells = [f"{np.mean(scores[s, m]):.2f}" if scores[s, m] else "–" for s in SETUPS]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {np.median(times[m]):.3f} |")
    lines += ["", "Methods:"] + [f"- {m}: {LEGEND[m]}" for m in methods if m in LEGEND]
    lines += ["", f"{len(rows)} rows in {seconds:.0f} s; held-out evidence: docs/results.md."]
    return "\n".join(lines)


NEURAL_LAYOUTS = 3
"""Held-out layouts of the demo's neural table."""


def neural_summary(library: Path) -> str:
    """The composed neural members and the best single member on ``NEURAL_LAYOUTS``
    held-out layouts, per setup (``lever_gym.experiments.neural``)."""
    from lever_gym.experiments.neural import COMPOSED, composed_scores, held_out, table
    from lever_gym.library.neural_store import NeuralLibrary

    start = time.perf_counter()
    lib = NeuralLibrary.load(library)
    layouts = held_out(lib.worlds, NEURAL_LAYOUTS)
    scores, seconds = composed_scores(lib, layouts)
    size = lib.worlds.size
    lines = [
        "",
        f"Neural members ({library}: {len(lib.members)} DQN members on {size}x{size} layouts "
        f"{lib.worlds.layout_seeds[0]}..{lib.worlds.layout_seeds[1] - 1:,}, "
        f"{lib.worlds.obs_mode} observations) composed on {NEURAL_LAYOUTS} held-out layouts "
        "no member trained on; scored exactly (0 = random, 1 = finite-horizon optimum):",
        "",
        *table(scores, [*COMPOSED, "best single"]),
        "",
        f"median composition {np.median(seconds) * 1000:.1f} ms; "
        f"{time.perf_counter() - start:.0f} s in all; benchmark: docs/results.md (neural).",
    ]
    return "\n".join(lines)
