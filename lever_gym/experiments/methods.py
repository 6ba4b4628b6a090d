"""The methods a protocol compares, each a way to obtain a policy for one cell, timed.

A ``Cell`` is one task on one unit at one library γ and start protocol. Composed methods
are ``ReuseConfig`` presets (the settings of ``LeverComposedPolicy.from_library``); the
baselines come from ``lever_gym.eval.baselines``. ``METHODS`` names every method a report
shows; tuning evaluates a grid of ``ReuseConfig`` on the tuning layouts.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lever_gym.envs.model import TabularModel
from lever_gym.eval.baselines import (
    Baseline,
    bcvi,
    best_single,
    best_single_data,
    offline_rl,
    scratch,
)
from lever_gym.experiments.protocol import Task, Unit
from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.store import Library
from lever_gym.mdp.horizon import reference_values, start_states
from lever_gym.mdp.rollout import Trajectory, greedy_trajectory
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import PAPER, ReuseConfig
from lever_gym.train.tabular import BUDGETS

SCORING_STARTS = {"fixed": 1, "random": 16}


@dataclass(eq=False)
class Cell:
    """One task on one unit, at one library γ and start protocol."""

    library: Library
    unit: Unit
    model: TabularModel
    task: Task
    gamma: float
    protocol: str
    seed: int
    offline_steps: int = 0
    trained: dict[tuple[Any, ...], Baseline] = field(default_factory=dict)
    """Scratch runs shared by the cells of a unit (training does not depend on the start
    protocol of the evaluation)."""
    pool: list[PolicyRecord] = field(default_factory=list)
    """Candidates retrieved for the task (set by the first composed method)."""

    @property
    def starts(self) -> np.ndarray:
        """The start states the protocol evaluates from."""
        return start_states(self.model, self.protocol == "random")

    @functools.cached_property
    def optimal_path(self) -> Trajectory:
        """An optimal trajectory from the layout's start: one-step lookahead on the exact
        finite-horizon values."""
        return optimal_trajectory(self.model, self.task.objective)

    @property
    def records(self) -> list[PolicyRecord]:
        """The layout's library policies at this γ (the target itself is never one)."""
        return [
            r
            for r in self.library.filter(
                size=self.unit.size, layout_seed=self.unit.layout_seed, gamma=self.gamma
            )
            if r.objective != self.task.objective.name
        ]


@dataclass(frozen=True, eq=False)
class Built:
    """A method's policy for a cell, its build time and notes for the rows."""

    policy: Any
    seconds: float
    chosen: str = ""
    reference_coverage: float = float("nan")


def compose(config: ReuseConfig, cell: Cell) -> Built:
    """Build the composed policy of ``config`` for ``cell`` (its library γ, split, scoring
    starts and seed), timed from the open library to the policy being ready."""
    start = time.perf_counter()
    policy = LeverComposedPolicy.from_library(
        cell.library, cell.task.objective, layout=(cell.unit.size, cell.unit.layout_seed),
        config=config.with_options(
            gamma=cell.gamma, parts=cell.task.parts, n_starts=SCORING_STARTS[cell.protocol],
            seed=cell.seed,
        ),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if not cell.pool:
        ids = {pid for c in policy.explanation.candidates.values() for pid, _ in c}
        cell.pool = [cell.library[pid] for pid in sorted(ids)]
    path = cell.optimal_path
    return Built(
        policy,
        seconds,
        " ".join(policy.explanation.chosen.policies),
        float(policy.covers(path.states, path.actions).mean()),
    )


@functools.lru_cache(maxsize=64)
def optimal_trajectory(model: TabularModel, objective: Objective) -> Trajectory:
    """The trajectory from the start of acting greedily on ``r + V*_H(next)``."""
    horizon = model.layout.n_cells
    v_opt = reference_values(model, objective, horizon)[1]
    lookahead = model.reward(objective) + np.where(model.terminated, 0.0, v_opt[model.next_state])
    return greedy_trajectory(model, np.argmax(lookahead, axis=1), model.start_state, horizon)


def _baseline(b: Baseline) -> Built:
    return Built(b.policy, b.seconds, b.chosen)


def scratch_run(cell: Cell, budget: int) -> Baseline:
    """Q-learning from scratch on the cell's objective for ``budget`` episodes (shared)."""
    key = (cell.task.objective, cell.gamma, budget)
    if key not in cell.trained:
        cell.trained[key] = scratch(
            cell.model, cell.task.objective, budget, gamma=cell.gamma, seed=cell.seed
        )
    return cell.trained[key]


def _scratch(cell: Cell, multiple: int) -> Built:
    return _baseline(scratch_run(cell, BUDGETS["X1"] * multiple))


GPI_PARTS = PAPER.with_options(operator="gpi", strategy="exhaustive")
"""GPI over the candidates of the split's blocks, nothing after it."""

METHODS: dict[str, Callable[[Cell], Built]] = {
    "lever (defaults)": lambda cell: compose(ReuseConfig(), cell),
    "lever (paper: sum)": lambda cell: compose(PAPER, cell),
    "gpi (parts)": lambda cell: compose(GPI_PARTS, cell),
    "gpi (layout)": lambda cell: compose(GPI_PARTS.with_options(pool="layout"), cell),
    "best single (data)": lambda cell: _baseline(
        best_single_data(cell.library, cell.records, cell.task.objective, cell.starts)[1]
    ),
    "best single (oracle)": lambda cell: _baseline(
        best_single(cell.library, cell.records, cell.task.objective)[1]
    ),
    "bcvi": lambda cell: _baseline(
        bcvi(cell.library, cell.pool or cell.records, cell.task.objective, cell.model)
    ),
    "scratch X1": lambda cell: _scratch(cell, 1),
    "scratch Xk": lambda cell: _scratch(cell, len(cell.task.parts.split("+"))),
    "d3rlpy CQL": lambda cell: _baseline(
        offline_rl(
            [cell.library.dataset(r) for r in (cell.pool or cell.records)],
            cell.task.objective,
            "cql",
            n_steps=cell.offline_steps,
            gamma=max(cell.gamma, 0.9),
            seed=cell.seed,
        )
    ),
}
"""Every reported method, in table order. ``lever (defaults)`` is ``from_library`` with
its defaults (tuned on the tuning layouts); ``scratch Xk`` trains for the budget of the k
blocks the task composes; ``d3rlpy CQL`` runs only on the setups of the protocol's offline
units (it costs seconds per cell where the others cost milliseconds)."""
