"""Running a protocol: one job per unit, exact scores per cell, rows written per unit.

Each unit's rows go to their own JSON-lines file, written atomically when the unit is
done, so an interrupted run resumes where it stopped and a parallel run (processes or
Ray) merges into the same rows. Rows are plain dicts (see ``ROW_FIELDS``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lever_gym.eval.exact import MIN_SPAN, score
from lever_gym.experiments.methods import (
    COVERAGE_METHODS,
    METHODS,
    OFFLINE,
    TIME_AWARE,
    Built,
    Cell,
    compose,
    scratch_run,
)
from lever_gym.experiments.protocol import ProtocolConfig, Task, Unit
from lever_gym.library.format.files import atomic_path
from lever_gym.library.store import Library, layout_model
from lever_gym.reuse.config import ReuseConfig

ROW_FIELDS = (
    "split", "size", "layout_seed", "library_seed", "gamma", "task", "kind", "weights",
    "parts", "protocol", "method", "contract", "seconds", "mean_return", "optimal_return",
    "stationary_return", "random_return", "support_return", "normalised",
    "normalised_horizon", "normalised_stationary", "regret", "regret_horizon",
    "reference_coverage", "path_coverage", "pair_coverage", "bound_low", "bound_high",
    "chosen",
)  # fmt: skip
"""``kind`` is the task's family; ``contract`` the method's (``stationary`` or
``time-aware``); ``normalised`` and ``regret`` are against the ceiling of its contract (the
stationary reference or the finite-horizon optimum), ``*_horizon`` against the optimum; a
score is ``None`` where its ceiling is less than ``MIN_SPAN`` above random play."""


def unit_file(out: Path, kind: str, unit: Unit) -> Path:
    """Where one unit's rows of one kind (``rows``, ``tuning``, ``quality``) are kept."""
    return (
        out
        / kind
        / f"{unit.split}-{unit.size}x{unit.size}-s{unit.layout_seed}-lib{unit.library_seed}.jsonl"
    )


def run_unit(job: tuple[dict[str, Any], dict[str, Any], str, str, list[dict], str]) -> str:
    """Evaluate one unit (a picklable job: config, unit, library path, out folder, specs,
    the kind of rows written).

    With specs, rows score those composed variants; without, every method of ``METHODS``
    plus the scratch quality curve. Skips a unit whose file exists.
    """
    config_d, unit_d, library_path, out_s, specs_d, kind = job
    config, unit, out = ProtocolConfig(**config_d), Unit(**unit_d), Path(out_s)
    target = unit_file(out, kind, unit)
    if target.is_file():
        return str(target)
    library = Library.load(library_path)
    model = layout_model(unit.size, unit.layout_seed)
    rows: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    trained: dict[tuple[Any, ...], Any] = {}
    references: dict[tuple[str, str, str], float] = {}
    coverage = unit.split.startswith("coverage")
    for gamma in config.gammas:
        for task in config.tasks(unit):
            offline = config.offline(unit, task) and gamma == config.gammas[-1]
            for protocol in config.start_protocols:
                cell = Cell(
                    library, unit, model, task, gamma, protocol, config.seed,
                    config.offline_steps if offline else 0, trained, references=references,
                )  # fmt: skip
                if specs_d:
                    for spec in (ReuseConfig.from_dict(d) for d in specs_d):
                        rows.append(_row(cell, spec.label, compose(spec, cell)))
                    continue
                for name, method in METHODS.items():
                    skip = (name in OFFLINE and not offline) or (
                        coverage and name not in COVERAGE_METHODS
                    )
                    if not skip:
                        rows.append(_row(cell, name, method(cell)))
                if task.kind == "setup" and gamma == config.gammas[-1] and not coverage:
                    quality += _quality(cell, config)
    _write(target, rows)
    if quality:
        _write(unit_file(out, "quality", unit), quality)
    return str(target)


def _row(cell: Cell, method: str, built: Built) -> dict[str, Any]:
    horizon = cell.model.layout.n_cells
    s = score(built.policy, cell.model, cell.task.objective, cell.starts, horizon)
    contract = "time-aware" if method in TIME_AWARE else "stationary"
    stationary = cell.stationary
    ceiling = s.optimal_return if contract == "time-aware" else stationary
    path, pairs = cell.coverage
    low, high = built.bounds if built.bounds is not None else (None, None)
    return {
        **_cell_fields(cell), "method": method, "contract": contract, "seconds": built.seconds,
        "mean_return": s.mean_return, "optimal_return": s.optimal_return,
        "stationary_return": stationary, "random_return": s.random_return,
        "support_return": cell.support_ceiling,
        "normalised": _normalised(s.mean_return, s.random_return, ceiling),
        "normalised_horizon": _normalised(s.mean_return, s.random_return, s.optimal_return),
        "normalised_stationary": _normalised(s.mean_return, s.random_return, stationary),
        "regret": ceiling - s.mean_return, "regret_horizon": s.regret,
        "reference_coverage": _plain(built.reference_coverage), "path_coverage": path,
        "pair_coverage": pairs, "bound_low": low, "bound_high": high, "chosen": built.chosen,
    }  # fmt: skip


def _normalised(value: float, random: float, ceiling: float) -> float | None:
    """``(value - random) / (ceiling - random)``, or ``None`` where the ceiling is less than
    ``MIN_SPAN`` above random play (a normalised score would mean nothing there)."""
    span = ceiling - random
    return None if span < MIN_SPAN else float((value - random) / span)


def _cell_fields(cell: Cell) -> dict[str, Any]:
    task: Task = cell.task
    return {
        **{k: v for k, v in asdict(cell.unit).items()}, "gamma": cell.gamma, "task": task.name,
        "kind": task.kind, "weights": list(task.objective.weights), "parts": task.parts,
        "protocol": cell.protocol,
    }  # fmt: skip


def _quality(cell: Cell, config: ProtocolConfig) -> list[dict[str, Any]]:
    """Scratch Q-learning at each budget of ``quality_budgets``: its training time and score
    (against the stationary reference: it is a stationary policy)."""
    out = []
    horizon = cell.model.layout.n_cells
    for budget in config.quality_budgets:
        run = scratch_run(cell, budget)
        s = score(run.policy, cell.model, cell.task.objective, cell.starts, horizon)
        out.append(
            {**_cell_fields(cell), "budget": budget, "seconds": run.seconds,
             "normalised": _normalised(s.mean_return, s.random_return, cell.stationary)}
        )  # fmt: skip
    return out


def _plain(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row under ``folder`` (sorted files, file order kept)."""
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return rows
