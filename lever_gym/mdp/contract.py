"""The time-limit contract: which ceiling a policy is judged against, and bounds from data.

Episodes end at a terminal step or are truncated after the horizon ``H`` (``N**2`` steps).
Where every step pays and a terminal step is a bonus, the finite-horizon optimum is
non-stationary: wander, then end exactly at step ``H``. A policy acting on the state alone
cannot do that, so each kind of policy has its own ceiling:

* a stationary policy (one action per state) is judged against ``stationary_reference``,
  the best of the true model's discounted-optimal policies over a grid of discounts, each
  evaluated exactly over the horizon;
* a time-aware policy (acting on the steps left) against the finite-horizon optimum
  (``horizon.optimal_values``), which ``time_indexed_optimum`` attains and
  ``time_aware_returns`` evaluates.

``value_bounds`` bounds a stationary policy's return from recorded data alone, with the
per-step reward bounds of ``step_reward_bounds``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import ConfigError
from lever_gym.mdp.batch import backward_actions, solve_discounted
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.horizon import policy_values
from lever_gym.objective import Objective, weighted

GAMMA_GRID: tuple[float, ...] = (0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999)
"""Discounts of ``stationary_reference``: effective horizons ``1 / (1 - γ)`` of 10 to 10,000
steps, so below, around and above every preset's ``H`` (64, 256, 1024). A short one heads
for a terminal bonus at once; one above ``H`` prefers a loop that pays every step to a
one-off bonus. Which of them is best within ``H`` depends on the objective, so each is
evaluated exactly and the best kept."""


def _tables(model: TabularModel, objective: Objective) -> tuple[np.ndarray, np.ndarray]:
    """The true model as planning tables: reward, and next state or ``n_states`` (the end)
    after a terminal step."""
    onward = np.where(model.terminated, model.n_states, model.next_state)
    return model.reward(objective), onward


def _starts(starts: object, n_states: int) -> np.ndarray:
    """``starts`` as a non-empty int64 array of state indices."""
    s = np.asarray(starts)
    if (
        s.ndim != 1
        or not len(s)
        or s.dtype.kind not in "iu"
        or not 0 <= s.min() <= s.max() < n_states
    ):
        raise ConfigError(
            f"starts must be a non-empty 1-D array of state indices in 0..{n_states - 1}; got "
            f"{s.dtype} of shape {s.shape}. Use horizon.start_states(model, random_start)."
        )
    return s.astype(np.int64)


@dataclass(frozen=True, eq=False)
class StationaryReference:
    """The stationary ceiling: the chosen discount, its policy and its exact returns."""

    gamma: float
    actions: np.ndarray
    """(n_states,) the policy: greedy discounted-optimal actions at ``gamma``."""
    returns: np.ndarray
    """Exact undiscounted return within the horizon from each start."""
    gammas: tuple[float, ...]
    """The grid, ascending."""
    means: tuple[float, ...]
    """Mean return over the starts of each discount of ``gammas``."""

    @property
    def mean(self) -> float:
        """Mean return over the starts: the 1 of a stationary policy's normalised score."""
        return float(self.returns.mean())


def stationary_reference(
    model: TabularModel,
    objective: Objective,
    horizon: int,
    starts: np.ndarray,
    gammas: Sequence[float] = GAMMA_GRID,
) -> StationaryReference:
    """The best stationary reference within ``horizon`` from ``starts``: for each discount of
    ``gammas`` (ascending), the true model's discounted-optimal policy (policy iteration,
    warm-started from the previous discount's), evaluated exactly over the horizon; the one
    with the largest mean return is kept (ties: the smaller discount).

    ``mdp.solve.value_iteration`` is not used: where a loop pays forever its sweeps grow as
    ``1 / (1 - γ)`` (on a 16x16 layout at γ = 0.9999 and weights (1, 0, -2, 0), 20,000 sweeps
    took 142 s without converging); policy iteration evaluates each policy exactly by doubling.
    The reference is a strong stationary policy, not a proven stationary optimum, so a
    stationary policy may score slightly above 1 against it."""
    objective = Objective.parse(objective)
    horizon = checks.positive_int(horizon, "horizon")
    s = _starts(starts, model.n_states)
    grid = sorted(checks.gamma(g) for g in checks.non_empty(gammas, "gammas"))
    grid = list(checks.distinct(grid, "gammas"))
    reward, onward = _tables(model, objective)
    actions, best, best_returns = None, 0, None
    means = []
    for i, g in enumerate(grid):
        actions = solve_discounted(reward, onward, g, actions)
        returns = policy_values(model, objective, actions, horizon)[s]
        means.append(float(returns.mean()))
        if best_returns is None or means[-1] > means[best]:
            best, best_actions, best_returns = i, actions, returns
    assert best_actions is not None and best_returns is not None  # the grid is not empty
    return StationaryReference(grid[best], best_actions, best_returns, tuple(grid), tuple(means))


def time_indexed_optimum(model: TabularModel, objective: Objective, horizon: int) -> np.ndarray:
    """(horizon, n_states) int8: the finite-horizon optimal action per steps left (row
    ``h - 1``: ``h`` steps left) and state, by backward induction on the true model (ties:
    the lowest action). Following it from any state attains ``horizon.optimal_values``."""
    reward, onward = _tables(model, Objective.parse(objective))
    return backward_actions(reward, onward, horizon)[0]


def time_aware_returns(
    actions_by_steps_left: np.ndarray,
    model: TabularModel,
    objective: Objective,
    starts: np.ndarray,
    horizon: int,
) -> np.ndarray:
    """Exact undiscounted return from each start of the non-stationary policy that takes
    ``actions_by_steps_left[h - 1, s]`` in state ``s`` with ``h`` steps left, over
    ``horizon`` steps or until a terminal step."""
    horizon = checks.positive_int(horizon, "horizon")
    table = np.asarray(actions_by_steps_left)
    shape = (horizon, model.n_states)
    if (
        table.shape != shape
        or table.dtype.kind not in "iu"
        or not 0 <= table.min() <= table.max() < N_ACTIONS
    ):
        raise ConfigError(
            f"actions_by_steps_left must be integers in 0..{N_ACTIONS - 1} of shape {shape} "
            f"(steps left, state); got {table.dtype} of shape {table.shape}. Build it with "
            "time_indexed_optimum or batch.full_table."
        )
    reward = model.reward(Objective.parse(objective))
    states = _starts(starts, model.n_states).copy()
    total = np.zeros(len(states))
    alive = np.ones(len(states), dtype=bool)
    for t in range(horizon):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        s = states[live]
        a = table[horizon - 1 - t, s].astype(np.int64)
        total[live] += reward[s, a]
        alive[live[model.terminated[s, a]]] = False
        states[live] = model.next_state[s, a]
    return total


@dataclass(frozen=True)
class StepBounds:
    """Bounds on one step's reward under fixed weights: ``step_*`` for a step the episode
    goes on after, ``final_*`` for a terminal step (exit, hazard, or an absorbing state)."""

    step_low: float
    step_high: float
    final_low: float
    final_high: float

    def rest(self, steps: int) -> tuple[float, float]:
        """Bounds on the return of at most ``steps`` further steps (an episode that has not
        ended): ``steps`` ordinary steps, or ``j - 1`` of them and a terminal one, ``j ≤ steps``."""
        m = checks.non_negative_int(steps, "steps")
        if not m:
            return 0.0, 0.0
        low = min(m * self.step_low, self.final_low + (m - 1) * min(self.step_low, 0.0))
        high = max(m * self.step_high, self.final_high + (m - 1) * max(self.step_high, 0.0))
        return low, high


def _weighted_span(spans: list[tuple[float, float]], w: np.ndarray) -> tuple[float, float]:
    """Bounds of ``w @ c`` over components ``c`` each within its span (registry order)."""
    with np.errstate(invalid="ignore"):  # an infinite span times a zero weight adds nothing
        ends = np.where(w[:, None] == 0, 0.0, np.array(spans) * w[:, None])
    return float(ends.min(axis=1).sum()), float(ends.max(axis=1).sum())


def step_reward_bounds(
    weights: Objective | Sequence[float], shaping: bool, size: int
) -> StepBounds:
    """Valid bounds on every entry of ``model.reward(weights)`` of any ``size`` x ``size``
    layout: each registered component's ranges (``Component.spans``: on an ordinary step,
    the exit step, a step into a hazard; absorbing states give 0) summed with the sign of its
    weight (valid, not tight). A component without spans makes the bounds infinite."""
    w = Objective.parse(weights).vector
    sh = 1.0 if checks.boolean(shaping, "shaping") else 0.0
    size = checks.positive_int(size, "size")
    unbounded = (-np.inf, np.inf)
    kinds = [c.spans(size, sh) if c.spans is not None else (unbounded,) * 3
             for c in reward_components.registered()]  # fmt: skip
    lo, hi = _weighted_span([k[0] for k in kinds], w)
    ends = [_weighted_span([k[i] for k in kinds], w) for i in (1, 2)] + [(0.0, 0.0)]
    return StepBounds(lo, hi, min(e[0] for e in ends), max(e[1] for e in ends))


@dataclass(frozen=True)
class ValueBounds:
    """Bounds on a policy's return within the horizon from one start, from data alone."""

    lower: float
    upper: float
    steps_in_data: int
    """Steps the walk took on recorded pairs."""
    left_data: bool
    """The walk reached an unrecorded pair or state before the episode ended."""


def value_bounds(
    empirical: EmpiricalModel,
    actions_of_states: np.ndarray,
    weights: Objective | Sequence[float],
    start: int,
    horizon: int,
    reward_range: StepBounds,
) -> ValueBounds:
    """Bounds on the return within ``horizon`` from ``start`` of the stationary policy taking
    ``actions_of_states[i]`` in ``empirical.states()[i]`` (anything elsewhere), or of the
    time-aware one of shape ``(horizon, n)`` (row ``h - 1``: ``h`` steps left). The walk
    follows recorded transitions: while it stays in the data the return is exact (``lower ==
    upper``); if it reaches an unrecorded pair or state after ``k`` steps, the other
    ``horizon - k`` steps are bounded by ``reward_range.rest`` (``step_reward_bounds`` of the
    same weights, shaping and size). LeverGrid is deterministic, so this holds for the policy's
    true return whatever it does outside the data."""
    w = Objective.parse(weights).weights
    horizon = checks.positive_int(horizon, "horizon")
    if not isinstance(empirical, EmpiricalModel):
        raise ConfigError(
            f"expected an EmpiricalModel; got {type(empirical).__name__}. Build one with "
            "EmpiricalModel.from_arrays or read it from a library."
        )
    states = empirical.states()
    a = np.asarray(actions_of_states)
    if (
        a.shape not in (states.shape, (horizon, *states.shape))
        or a.dtype.kind not in "iu"
        or (a.size and not 0 <= a.min() <= a.max() < N_ACTIONS)
    ):
        raise ConfigError(
            f"actions_of_states must be integers in 0..{N_ACTIONS - 1}, one per recorded state "
            f"(shape {states.shape}, or {(horizon, *states.shape)} per steps left); got "
            f"{a.dtype} of shape {a.shape}. Align them with empirical.states()."
        )
    if not isinstance(reward_range, StepBounds):
        raise ConfigError(
            f"reward_range must be a StepBounds; got {type(reward_range).__name__}. Use "
            "step_reward_bounds(weights, shaping, size)."
        )
    rewards = weighted(empirical.components, w)
    s, total = checks.non_negative_int(start, "start"), 0.0
    recorded = states.tolist()
    for k in range(horizon):
        i = bisect.bisect_left(recorded, s)
        now = a if a.ndim == 1 else a[horizon - 1 - k]  # horizon - k steps left
        row = empirical.row_of(s, int(now[i])) if i < len(recorded) and recorded[i] == s else -1
        if row < 0:
            low, high = reward_range.rest(horizon - k)
            return ValueBounds(total + low, total + high, k, True)
        total += float(rewards[row])
        if empirical.terminated[row]:
            return ValueBounds(total, total, k + 1, False)
        s = int(empirical.next_state[row])
    return ValueBounds(total, total, horizon, False)
