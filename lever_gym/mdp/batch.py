"""Batch-constrained planning on an empirical model, stationary or time-indexed.

Both planners choose only among the actions the data records in a state (the tabular
analogue of BCQ). The rules where the data is silent:

* a recorded pair that is terminal, or whose next state has no recorded action, continues
  with value 0 (an episode ends at a terminal step; nothing is known after the other);
* in a state the data never records, a policy acts ``FALLBACK_ACTION`` (``full_table``).

``bcvi_stationary`` is discounted value iteration (one action per recorded state: a policy
for the stationary contract); ``bcvi_time_indexed`` is backward induction over steps left (an
action per steps left and recorded state: a time-aware policy acting on a step counter).
``discounted_policy_iteration`` and ``time_indexed_policy_iteration`` improve a given policy
without lowering its value under either contract at any state.

The planners work on dense tables: ``reward (n, A)`` (``-inf`` where an action is not
available) and ``onward (n, A)``, the index of the next state, or ``n`` (the end, value 0).
``SupportTables`` builds them from an empirical model; the true model gives them too
(``lever_gym.mdp.contract``), so the same code plans on both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.objective import Objective, weighted

FALLBACK_ACTION = 0
"""The action in a state the data never records (nothing is known there)."""
DEFAULT_GAMMA = 0.99
GAIN_TOLERANCE = 1e-12
"""Discounted policy iteration switches an action only for a gain above this share of the
value scale (``max |reward| / (1 - γ)``), far above the evaluation's rounding."""
TOLERANCE = 1e-9
"""Time-indexed policy iteration switches an action only for a gain above this."""


@dataclass(frozen=True, eq=False)
class SupportTables:
    """An empirical model as dense tables over its recorded states and all actions."""

    empirical: EmpiricalModel
    states: np.ndarray
    """(n,) sorted recorded states (as ``empirical.states()``)."""
    row: np.ndarray
    """(n, N_ACTIONS) the empirical row of each pair, -1 where the pair is not recorded."""
    onward: np.ndarray
    """(n, N_ACTIONS) index in ``states`` of the next state; ``n`` (the end) where the pair is
    terminal, its next state has no recorded action, or it is not recorded."""

    @classmethod
    def of(cls, empirical: EmpiricalModel) -> SupportTables:
        """Index ``empirical`` by state and action."""
        if not isinstance(empirical, EmpiricalModel):
            raise ConfigError(
                f"expected an EmpiricalModel; got {type(empirical).__name__}. Build one with "
                "EmpiricalModel.from_arrays or read it from a library."
            )
        states = empirical.states()
        n = len(states)
        row = empirical.rows(states[:, None], np.arange(N_ACTIONS)[None, :])
        onward = np.full(row.shape, n, dtype=np.int64)
        rec = row >= 0
        nxt = empirical.next_state[row[rec]]
        idx = np.minimum(np.searchsorted(states, nxt), max(n - 1, 0))
        known = (states[idx] == nxt) & ~empirical.terminated[row[rec]]
        onward[rec] = np.where(known, idx, n)
        return cls(empirical, states, row, onward)

    @property
    def n(self) -> int:
        """Number of recorded states."""
        return len(self.states)

    def rewards(self, objective: Objective) -> np.ndarray:
        """(n, N_ACTIONS) reward of each recorded pair under ``objective``, ``-inf`` elsewhere."""
        w = Objective.parse(objective).weights
        per_row = weighted(self.empirical.components, w)
        out = np.full(self.row.shape, -np.inf)
        rec = self.row >= 0
        out[rec] = per_row[self.row[rec]]
        return out


def full_table(
    states: np.ndarray, actions: np.ndarray, n_states: int, fallback: int = FALLBACK_ACTION
) -> np.ndarray:
    """Actions over all ``n_states`` states from actions over ``states`` (last axis), with
    ``fallback`` elsewhere: ``(n,) -> (n_states,)`` or ``(H, n) -> (H, n_states)``."""
    fallback = checks.int_in(fallback, "fallback action", 0, N_ACTIONS - 1)
    a = np.asarray(actions)
    out = np.full((*a.shape[:-1], checks.positive_int(n_states, "n_states")), fallback, a.dtype)
    out[..., np.asarray(states, dtype=np.int64)] = a
    return out


def _check_tables(reward: np.ndarray, onward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``reward`` and ``onward`` as float64 and int64 arrays of one shape ``(n, N_ACTIONS)``
    with indices in ``0..n``, every state with an available action."""
    r, o = np.asarray(reward, dtype=np.float64), np.asarray(onward)
    n = len(r)
    if r.shape != (n, N_ACTIONS) or o.shape != r.shape or o.dtype.kind not in "iu":
        raise ConfigError(
            f"reward and onward must be arrays of shape (n, {N_ACTIONS}), onward of integers; "
            f"got {r.shape} and {o.shape} ({o.dtype}). Build them with SupportTables.of."
        )
    if n and (o.min() < 0 or o.max() > n or not np.isfinite(r).any(axis=1).all()):
        raise ConfigError(
            f"onward must index 0..{n} (n: the end) and every state needs an available action "
            "(a finite reward); build the tables with SupportTables.of."
        )
    return r, o.astype(np.int64)


def _check_actions(actions: object, reward: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """``actions`` as int64 of shape ``lead + (n,)``, each available (finite reward)."""
    a = np.asarray(actions)
    shape = (*lead, len(reward))
    in_range = a.dtype.kind in "iu" and (not a.size or 0 <= a.min() <= a.max() < N_ACTIONS)
    if a.shape != shape or not in_range:
        raise ConfigError(
            f"actions must be integers in 0..{N_ACTIONS - 1} of shape {shape}; got "
            f"{a.dtype} of shape {a.shape}. Give one action per state (and steps left)."
        )
    a = a.astype(np.int64)
    if not np.isfinite(np.take_along_axis(reward, a.reshape(-1, len(reward)).T, 1)).all():
        raise ConfigError(
            "actions must be available in their states (recorded, finite reward); got an "
            "unrecorded action. Choose among the recorded actions (SupportTables.row >= 0)."
        )
    return a


def _time_actions(actions: object, reward: np.ndarray) -> np.ndarray:
    """``actions`` as int64 of shape ``(H, n)``, H ≥ 1, each available (``_check_actions``)."""
    a = np.asarray(actions)
    if a.ndim != 2 or not len(a):
        raise ConfigError(
            f"time-indexed actions must have shape (horizon, n) with one row per steps left; "
            f"got shape {a.shape}. Build them with backward_actions or bcvi_time_indexed."
        )
    return _check_actions(a, reward, a.shape[:1])


def discounted_sums(x: np.ndarray, nxt: np.ndarray, gamma: float) -> np.ndarray:
    """Per node ``i``, ``sum_t gamma**t * x[i_t]`` along the walk ``i_0 = i``,
    ``i_{t+1} = nxt[i_t]`` (a walk ends at a node ``e`` with ``nxt[e] == e`` and ``x[e] == 0``).
    By doubling: sums over ``2T`` nodes from sums over ``T``, until ``gamma**T`` is below
    ``1e-17``, so the tail left out is below that share of ``max|x| / (1 - gamma)``; about
    ``log2(40 / (1 - gamma))`` passes (19 at γ = 0.9999) instead of ``40 / (1 - gamma)``."""
    total = np.asarray(x, dtype=np.float64)
    jump = np.asarray(nxt, dtype=np.int64)
    g = checks.gamma(gamma)
    while g > 1e-17:
        total = total + g * total[jump]
        jump = jump[jump]
        g *= g
    return total


def _evaluate(r: np.ndarray, o: np.ndarray, gamma: float, a: np.ndarray) -> np.ndarray:
    """Discounted values of actions ``a`` per state, and a last entry 0 for the end."""
    n = len(r)
    rows = np.arange(n)
    x = np.append(r[rows, a], 0.0)
    return discounted_sums(x, np.append(o[rows, a], n), gamma)


def _switch_gain(r: np.ndarray, gamma: float) -> float:
    """The gain above which ``_improve`` switches: ``GAIN_TOLERANCE`` of the value scale."""
    return GAIN_TOLERANCE * (1.0 + np.abs(r[np.isfinite(r)]).max(initial=0.0) / (1.0 - gamma))


def _improve(
    r: np.ndarray, o: np.ndarray, gamma: float, a: np.ndarray, v: np.ndarray, least: float
) -> np.ndarray:
    """The greedy actions in the lookahead ``r + γ v[onward]``, keeping ``a`` in each state
    where the greedy action gains no more than ``least`` (``_switch_gain``)."""
    q = r + gamma * v[o]
    best = np.argmax(q, axis=1)
    rows = np.arange(len(r))
    gain = q[rows, best] - q[rows, a]
    return np.where(gain > least, best, a)


def discounted_values(
    reward: np.ndarray, onward: np.ndarray, gamma: float, actions: np.ndarray
) -> np.ndarray:
    """(n,) discounted value of taking ``actions[i]`` in every state ``i`` (exact to the
    rounding of ``discounted_sums``)."""
    r, o = _check_tables(reward, onward)
    return _evaluate(r, o, checks.gamma(gamma), _check_actions(actions, r, ()))[:-1]


def discounted_policy_iteration(
    reward: np.ndarray, onward: np.ndarray, gamma: float, actions: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actions, values before, values after)`` of at most ``steps`` rounds of policy
    iteration over the available actions from ``actions``: evaluate exactly, switch each state
    to its greedy action where that gains (``_improve``). Under discounting every round's
    values are at least the previous round's at every state (the policy improvement theorem);
    it stops early when no state switches."""
    r, o = _check_tables(reward, onward)
    gamma = checks.gamma(gamma)
    a = _check_actions(actions, r, ())
    value = first = _evaluate(r, o, gamma, a)
    least = _switch_gain(r, gamma)
    for _ in range(checks.non_negative_int(steps, "improvement steps")):
        new = _improve(r, o, gamma, a, value, least)
        if np.array_equal(new, a):
            break
        a, value = new, _evaluate(r, o, gamma, new)
    return a, first[:-1], value[:-1]


MAX_ROUNDS = 10_000
"""Rounds ``solve_discounted`` allows (deterministic grids need tens)."""


def solve_discounted(
    reward: np.ndarray, onward: np.ndarray, gamma: float, actions: np.ndarray | None = None
) -> np.ndarray:
    """(n,) discounted-optimal actions over the available ones: policy iteration from
    ``actions`` (default: greedy in the reward) until no state switches. Unlike value
    iteration its cost does not grow as ``1 / (1 - γ)`` where a loop pays forever."""
    r, o = _check_tables(reward, onward)
    gamma = checks.gamma(gamma)
    a = np.argmax(r, axis=1) if actions is None else _check_actions(actions, r, ())
    least = _switch_gain(r, gamma)
    for _ in range(MAX_ROUNDS):
        new = _improve(r, o, gamma, a, _evaluate(r, o, gamma, a), least)
        if np.array_equal(new, a):
            return a
        a = new
    raise ConfigError(  # pragma: no cover - each round gains, so rounds are finite and few
        f"policy iteration did not settle in {MAX_ROUNDS} rounds at gamma {gamma}; report it."
    )


def discounted_greedy(
    reward: np.ndarray,
    onward: np.ndarray,
    gamma: float,
    *,
    tol: float = 1e-9,
    max_iterations: int = 100_000,
) -> np.ndarray:
    """(n,) greedy actions (ties: the lowest) of value iteration ``V = max_a reward + γ
    V[onward]`` over the available actions, run until the largest change is ≤ ``tol``."""
    r, o = _check_tables(reward, onward)
    gamma = checks.gamma(gamma)
    tol = checks.real(tol, "tol", 0.0, np.inf, closed="neither")
    v = np.zeros(len(r) + 1)
    for _ in range(checks.positive_int(max_iterations, "max_iterations")):
        q = r + gamma * v[o]
        new = q.max(axis=1, initial=-np.inf)
        delta = float(np.max(np.abs(new - v[:-1]), initial=0.0))
        v[:-1] = new
        if delta <= tol:
            return np.argmax(q, axis=1)
    raise ConfigError(
        f"value iteration did not converge in {max_iterations} sweeps at gamma {gamma} (last "
        f"change {delta:.3g} > tol {tol:g}); raise max_iterations, or use solve_discounted "
        "(policy iteration), whose cost does not grow as 1 / (1 - gamma)."
    )


def bcvi_stationary(
    empirical: EmpiricalModel,
    objective: Objective,
    gamma: float = DEFAULT_GAMMA,
    *,
    tol: float = 1e-9,
    max_iterations: int = 100_000,
) -> np.ndarray:
    """(n,) the action per recorded state (``empirical.states()``) of batch-constrained value
    iteration: discounted (``gamma``), greedy over recorded actions only, the module's rules
    where the data is silent. Act ``FALLBACK_ACTION`` elsewhere (``full_table``)."""
    tables = SupportTables.of(empirical)
    return discounted_greedy(
        tables.rewards(objective), tables.onward, gamma, tol=tol, max_iterations=max_iterations
    )


def backward_actions(
    reward: np.ndarray, onward: np.ndarray, horizon: int, prefer: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(actions, values)`` of backward induction over steps left: ``actions[h - 1, i]`` (int8,
    shape ``(horizon, n)``) is the best action with ``h`` steps left in state ``i`` (ties: the
    lowest, or ``prefer[i]`` where it is within ``TOLERANCE`` of the best), ``values[i]`` the
    best return within ``horizon`` steps. Once the values stop changing every later row
    repeats the last."""
    r, o = _check_tables(reward, onward)
    horizon = checks.positive_int(horizon, "horizon")
    kept = None if prefer is None else _check_actions(prefer, r, ())
    rows = np.arange(len(r))
    out = np.empty((horizon, len(r)), dtype=np.int8)
    v = np.zeros(len(r) + 1)
    for h in range(horizon):
        q = r + v[o]
        out[h] = np.argmax(q, axis=1)
        if kept is not None:
            out[h] = np.where(q[rows, kept] >= q[rows, out[h]] - TOLERANCE, kept, out[h])
        new = q.max(axis=1, initial=-np.inf)
        if np.array_equal(new, v[:-1]):
            out[h + 1 :] = out[h]
            break
        v[:-1] = new
    return out, v[:-1]


def bcvi_time_indexed(empirical: EmpiricalModel, objective: Objective, horizon: int) -> np.ndarray:
    """(horizon, n) int8: the action per steps left (row ``h - 1``: ``h`` steps left) and
    recorded state (``empirical.states()``) of batch-constrained backward induction, greedy
    over recorded actions only. A time-aware policy: act on a step counter, and
    ``FALLBACK_ACTION`` in unrecorded states (``full_table``)."""
    tables = SupportTables.of(empirical)
    return backward_actions(tables.rewards(objective), tables.onward, horizon)[0]


def _time_values(r: np.ndarray, o: np.ndarray, a: np.ndarray) -> np.ndarray:
    """(H + 1, n + 1) values of the time-indexed actions ``a``: row ``h`` with ``h`` steps
    left (row 0 and the last column, the end, are 0)."""
    n = len(r)
    rows = np.arange(n)
    v = np.zeros((len(a) + 1, n + 1))
    for h in range(1, len(a) + 1):
        act = a[h - 1]
        v[h, :-1] = r[rows, act] + v[h - 1][o[rows, act]]
    return v


def time_indexed_values(reward: np.ndarray, onward: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """(H, n) return of following ``actions`` (shape ``(H, n)``, row ``h - 1``: ``h`` steps
    left): row ``h - 1`` from each state with ``h`` steps left."""
    r, o = _check_tables(reward, onward)
    return _time_values(r, o, _time_actions(actions, r))[1:, :-1]


def time_indexed_policy_iteration(
    reward: np.ndarray, onward: np.ndarray, actions: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actions, values before, values after)`` (values of shape ``(H, n)``) of at most
    ``steps`` rounds of finite-horizon policy iteration on a time-indexed policy: with ``h``
    steps left, switch to the action best against the policy's own ``h - 1``-steps-left values
    where it gains more than ``TOLERANCE``. By induction on ``h`` no value drops, at any state
    and steps left; after ``H`` rounds the policy is optimal (``backward_actions``)."""
    r, o = _check_tables(reward, onward)
    a = _time_actions(actions, r)
    v = first = _time_values(r, o, a)
    rows = np.arange(len(r))
    for _ in range(checks.non_negative_int(steps, "improvement steps")):
        new = a.copy()
        for h in range(len(a)):  # with h + 1 steps left, against the policy's V_h
            q = r + v[h][o]
            best = np.argmax(q, axis=1)
            gain = q[rows, best] - q[rows, a[h]]
            new[h] = np.where(gain > TOLERANCE, best, a[h])
        if np.array_equal(new, a):
            break
        a, v = new, _time_values(r, o, new)
    return a, first[1:, :-1], v[1:, :-1]
