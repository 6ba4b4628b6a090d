"""Exact finite-horizon values on the tabular model: the ceiling, random play, any policy.

The benchmark measures the undiscounted return within the env's horizon (``N**2`` steps,
the registered time limit). ``optimal_values`` is the best such return from every state by
backward induction, so no policy, stationary or not, can exceed it; ``random_values`` is
the expected return of uniformly random actions; ``policy_values`` that of a fixed action
per state. Values are in float64, one per state.
"""

from __future__ import annotations

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.objective import Objective


def optimal_values(model: TabularModel, objective: Objective, horizon: int) -> np.ndarray:
    """``V*_H(s)``: the best undiscounted return within ``horizon`` steps from each state."""
    reward, cont, nxt = _tables(model, objective)
    v = np.zeros(model.n_states)
    for _ in range(checks.positive_int(horizon, "horizon")):
        v = np.max(reward + cont * v[nxt], axis=1)
    return v


def random_values(model: TabularModel, objective: Objective, horizon: int) -> np.ndarray:
    """Expected undiscounted return within ``horizon`` steps of uniformly random actions."""
    reward, cont, nxt = _tables(model, objective)
    v = np.zeros(model.n_states)
    for _ in range(checks.positive_int(horizon, "horizon")):
        v = np.mean(reward + cont * v[nxt], axis=1)
    return v


def policy_values(
    model: TabularModel, objective: Objective, actions: np.ndarray, horizon: int
) -> np.ndarray:
    """Undiscounted return within ``horizon`` steps of taking ``actions[s]`` in every state."""
    reward, cont, nxt = _tables(model, objective)
    rows = np.arange(model.n_states)
    a = np.asarray(actions, dtype=np.int64)
    r, c, n = reward[rows, a], cont[rows, a], nxt[rows, a]
    v = np.zeros(model.n_states)
    for _ in range(checks.positive_int(horizon, "horizon")):
        v = r + c * v[n]
    return v


def start_states(model: TabularModel, random_start: bool) -> np.ndarray:
    """The states an episode starts in: the layout's start, or (``random_start``) every floor
    cell the env draws from uniformly, with the lever off and every gold on the grid."""
    cells = model.layout.start_cells() if random_start else (model.layout.start,)
    full = (1 << model.n_gold) - 1
    return np.array([model.state(c, 0, full) for c in cells], dtype=np.int64)


def _tables(model: TabularModel, objective: Objective) -> tuple[np.ndarray, ...]:
    return model.reward(objective), (~model.terminated).astype(np.float64), model.next_state
