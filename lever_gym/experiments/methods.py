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

from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.eval.baselines import (
    Baseline,
    bcvi,
    bcvi_time_indexed,
    best_single,
    best_single_data,
    forward_backward,
    forward_backward_fit,
    offline_rl,
    scratch,
)
from lever_gym.eval.exact import exact_returns
from lever_gym.experiments.protocol import Task, Unit
from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.store import Library
from lever_gym.mdp.contract import stationary_reference
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
    trained: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Scratch runs, offline learners and forward-backward fits shared by the cells of a unit
    (training does not depend on the start protocol of the evaluation)."""
    pool: list[PolicyRecord] = field(default_factory=list)
    """Candidates retrieved for the task (set by the first composed method)."""
    references: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """Ceilings shared by the cells of a unit (``stationary``, ``support_ceiling``)."""

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
    def stationary(self) -> float:
        """The stationary reference's mean return from the protocol's starts (the best
        discounted-optimal policy of the true model over ``contract.GAMMA_GRID``; kept for
        the unit: it depends on neither the library γ nor the method)."""
        key = ("stationary", self.task.name, self.protocol)
        if key not in self.references:
            model, objective = self.model, self.task.objective
            found = stationary_reference(model, objective, model.layout.n_cells, self.starts)
            self.references[key] = found.mean
        return self.references[key]

    @property
    def support_ceiling(self) -> float:
        """The best return any policy can take from the protocol's starts while staying in
        the layout's recorded data: time-indexed batch-constrained backward induction over
        the union of every dataset of the layout (an independent support ceiling; kept for
        the unit)."""
        key = ("support", self.task.name, self.protocol)
        if key not in self.references:
            records = self.library.layout_records(self.unit.size, self.unit.layout_seed)
            built = bcvi_time_indexed(self.library, records, self.task.objective, self.model)
            horizon = self.model.layout.n_cells
            self.references[key] = float(
                exact_returns(built.policy, self.model, self.task.objective, self.starts,
                              horizon).mean()
            )  # fmt: skip
        return self.references[key]

    @functools.cached_property
    def coverage(self) -> tuple[float, float]:
        """``(path, pairs)``: the share of the optimal trajectory's pairs from the layout's
        start, and of every reachable pair, that the layout's data records."""
        emp = self.library.empirical(self.unit.size, self.unit.layout_seed)
        path = self.optimal_path
        on_path = emp.rows(path.states, path.actions) >= 0
        states = reachable_states(self.model)
        every = emp.rows(np.repeat(states, N_ACTIONS), np.tile(np.arange(N_ACTIONS), len(states)))
        return float(on_path.mean()), float((every >= 0).mean())

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
    bounds: tuple[float, float] | None = None
    """The bounds a composed policy reports on its return from the layout's start."""


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
        (policy.explanation.bounds["lower"], policy.explanation.bounds["upper"])
        if policy.explanation.bounds is not None
        else None,
    )


@functools.lru_cache(maxsize=64)
def optimal_trajectory(model: TabularModel, objective: Objective) -> Trajectory:
    """The trajectory from the start of acting greedily on ``r + V*_H(next)``."""
    horizon = model.layout.n_cells
    v_opt = reference_values(model, objective, horizon)[1]
    lookahead = model.reward(objective) + np.where(model.terminated, 0.0, v_opt[model.next_state])
    return greedy_trajectory(model, np.argmax(lookahead, axis=1), model.start_state, horizon)


@functools.lru_cache(maxsize=16)
def reachable_states(model: TabularModel) -> np.ndarray:
    """Sorted states reachable from any random start (every floor cell) by non-terminal moves."""
    seen = np.zeros(model.n_states, dtype=bool)
    frontier = start_states(model, True)
    seen[frontier] = True
    while len(frontier):
        nxt = model.next_state[frontier][~model.terminated[frontier]]
        frontier = np.unique(nxt[~seen[nxt]])
        seen[frontier] = True
    return np.flatnonzero(seen)


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


TIME_AWARE_DEFAULTS = ReuseConfig().with_options(contract="time-aware")
"""The defaults, then a time-indexed plan on the members' data (observations carry the
elapsed steps)."""
GPI_PARTS = PAPER.with_options(operator="gpi", strategy="exhaustive")
"""GPI over the candidates of the split's blocks, nothing after it."""


def offline_run(cell: Cell, algo: str) -> Built:
    """A d3rlpy learner on the cell's retrieved datasets relabelled to its objective (shared
    by the start protocols of a unit: training does not depend on them)."""
    key = ("d3rlpy", algo, cell.task.objective, cell.gamma)
    if key not in cell.trained:
        cell.trained[key] = offline_rl(
            [cell.library.dataset(r) for r in (cell.pool or cell.records)],
            cell.task.objective, algo, n_steps=cell.offline_steps,
            gamma=max(cell.gamma, 0.9), seed=cell.seed,
        )  # fmt: skip
    return _baseline(cell.trained[key])


FB_RANK = 64
"""The forward-backward comparator's rank (its fit error is in each row's ``chosen``)."""


def forward_backward_run(cell: Cell) -> Built:
    """The forward-backward comparator: one reward-free fit on the layout's pooled datasets
    (``cell.records``: the target's own policy is never among them), shared by every task of
    the unit that sees the same data, then the zero-shot step for the task."""
    records = cell.records
    key = ("fb", FB_RANK, tuple(sorted(r.id for r in records)))
    if key not in cell.trained:
        cell.trained[key] = forward_backward_fit(
            cell.library, records, cell.model, FB_RANK, seed=cell.seed
        )
    fitted = cell.trained[key]
    built = forward_backward(fitted, cell.task.objective, cell.model)
    note = (
        f"rank {fitted.rank}, measure fit error {fitted.fit_error:.3f}, reward projection "
        f"error {fitted.projection_error(cell.task.objective):.3f}"
    )
    return Built(built.policy, built.seconds, note)


METHODS: dict[str, Callable[[Cell], Built]] = {
    "lever (defaults)": lambda cell: compose(ReuseConfig(), cell),
    "lever (time-aware)": lambda cell: compose(TIME_AWARE_DEFAULTS, cell),
    "lever (paper: sum)": lambda cell: compose(PAPER, cell),
    "gpi (parts)": lambda cell: compose(GPI_PARTS, cell),
    "gpi (layout)": lambda cell: compose(GPI_PARTS.with_options(pool="layout"), cell),
    "fb (zero-shot)": forward_backward_run,
    "best single (data)": lambda cell: _baseline(
        best_single_data(cell.library, cell.records, cell.task.objective, cell.starts)[1]
    ),
    "best single (oracle)": lambda cell: _baseline(
        best_single(cell.library, cell.records, cell.task.objective)[1]
    ),
    "bcvi": lambda cell: _baseline(
        bcvi(cell.library, cell.pool or cell.records, cell.task.objective, cell.model)
    ),
    "bcvi (time-indexed)": lambda cell: _baseline(
        bcvi_time_indexed(cell.library, cell.pool or cell.records, cell.task.objective, cell.model)
    ),
    "scratch X1": lambda cell: _scratch(cell, 1),
    "scratch Xk": lambda cell: _scratch(cell, len(cell.task.parts.split("+"))),
    "d3rlpy CQL": lambda cell: offline_run(cell, "cql"),
    "d3rlpy BCQ": lambda cell: offline_run(cell, "bcq"),
    "d3rlpy BC": lambda cell: offline_run(cell, "bc"),
}
"""Every reported method, in table order. ``lever (defaults)`` is ``from_library`` with
its defaults (tuned on the tuning layouts), ``lever (time-aware)`` the same for the
time-aware contract; ``gpi (layout)`` is GPI over the successor
features of the layout's policies (the "direct" zero-shot comparator on the known features);
``fb (zero-shot)`` is a forward-backward representation fitted without rewards on the
layout's pooled data (the "direct" family on learned features);
``bcvi`` and ``bcvi (time-indexed)`` plan on the retrieved candidates' data for the
stationary and the time-aware contract; ``scratch Xk`` trains for the budget of the k
blocks the task composes; the d3rlpy learners run on the protocol's offline cells only
(they cost seconds per cell where the others cost milliseconds)."""
TIME_AWARE = ("lever (time-aware)", "bcvi (time-indexed)")
"""Methods judged under the time-aware contract (against the finite-horizon optimum); the
others are stationary (against the stationary reference)."""
OFFLINE = ("d3rlpy CQL", "d3rlpy BCQ", "d3rlpy BC")
COVERAGE_METHODS = ("lever (defaults)", "bcvi", "bcvi (time-indexed)")
"""The methods of the coverage tiers."""
