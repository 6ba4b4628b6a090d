"""Exact finite-horizon values on the tabular model: the ceiling, random play, any policy.

The benchmark measures the undiscounted return within the env's horizon (``N**2`` steps,
the registered time limit). ``optimal_values`` is the best such return from every state by
backward induction, so no policy, stationary or not, can exceed it; ``random_values`` is
the expected return of uniformly random actions; ``policy_values`` that of a fixed action
per state. Values are in float64, one per state.
"""

from __future__ import annotations

import functools

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.objective import Objective, weighted


def optimal_values(model: TabularModel, objective: Objective, horizon: int) -> np.ndarray:
    """``V*_H(s)``: the best undiscounted return within ``horizon`` steps from each state."""
    reward, cont, nxt = _tables(model, objective)
    v = np.zeros(model.n_states)
    for _ in range(checks.positive_int(horizon, "horizon")):
        new = np.max(reward + cont * v[nxt], axis=1)
        if np.array_equal(new, v):  # a fixed point: every further step is the same
            break
        v = new
    return v


def random_values(model: TabularModel, objective: Objective, horizon: int) -> np.ndarray:
    """Expected undiscounted return within ``horizon`` steps of uniformly random actions
    (linear in the weights: one evaluation per component, cached per model and horizon)."""
    return objective_values(_random_components(model, horizon), objective)


def objective_values(per_component: np.ndarray, objective: Objective) -> np.ndarray:
    """Values under ``objective`` from values per component (last axis: the components)."""
    return weighted(per_component, objective.weights)


@functools.lru_cache(maxsize=8)
def _random_components(model: TabularModel, horizon: int) -> np.ndarray:
    cont = (~model.terminated).astype(np.float64) / model.next_state.shape[1]
    from lever_gym.mdp.kernels import random_sweeps

    v = random_sweeps(
        cont, model.next_state, model.components.mean(axis=1),
        checks.positive_int(horizon, "horizon"),
    )  # fmt: skip
    v.setflags(write=False)
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


@functools.lru_cache(maxsize=32)
def reference_values(
    model: TabularModel, objective: Objective, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(random, optimal)`` finite-horizon values of every state (cached per model,
    objective and horizon): the 0 and the 1 of every normalised score."""
    return random_values(model, objective, horizon), optimal_values(model, objective, horizon)


def start_states(model: TabularModel, random_start: bool) -> np.ndarray:
    """The states an episode starts in: the layout's start, or (``random_start``) every floor
    cell the env draws from uniformly, with the lever off and every gold on the grid."""
    cells = model.layout.start_cells() if random_start else (model.layout.start,)
    return np.array([model.space.start(c) for c in cells], dtype=np.int64)


def _tables(model: TabularModel, objective: Objective) -> tuple[np.ndarray, ...]:
    return model.reward(objective), (~model.terminated).astype(np.float64), model.next_state
