"""The numba kernels of ``LeverGridVectorEnv``: observations and one step of many envs."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def write_obs(
    obs: np.ndarray, i: int, state: int, size: int, cell_shift: int, positions: np.ndarray
) -> None:
    """Row ``i`` of ``obs`` := the observation of ``state`` (as ``GridSpace.observe_one``;
    ``cell_shift`` and ``positions`` are its ``cell_shift`` and ``flag_positions``)."""
    cell = state >> cell_shift
    row = obs[i]
    row[:] = 0.0
    row[cell // size] = 1.0
    row[size + cell % size] = 1.0
    for j in range(positions.shape[0]):
        row[2 * size + j] = (state >> positions[j]) & 1


@njit(cache=True)
def observe_all(
    states: np.ndarray, size: int, cell_shift: int, positions: np.ndarray, obs: np.ndarray
) -> None:
    """Observations of ``states`` into ``obs`` (shape ``(len(states), obs_dim)``)."""
    for i in range(states.shape[0]):
        write_obs(obs, i, states[i], size, cell_shift, positions)


@njit(cache=True)
def first_invalid(actions: np.ndarray, n_actions: int) -> int:
    """Index of the first action outside ``0..n_actions-1``, or -1."""
    for i in range(actions.shape[0]):
        if actions[i] < 0 or actions[i] >= n_actions:
            return i
    return -1


@njit(cache=True)
def step_envs(
    next_state: np.ndarray,
    components: np.ndarray,
    terminated: np.ndarray,
    weights: np.ndarray,
    success_of: np.ndarray,
    size: int,
    cell_shift: int,
    positions: np.ndarray,
    max_steps: int,
    idx: np.ndarray,
    actions: np.ndarray,
    states: np.ndarray,
    elapsed: np.ndarray,
    autoreset: np.ndarray,
    restart: np.ndarray,
    obs: np.ndarray,
    rewards: np.ndarray,
    terms: np.ndarray,
    truncs: np.ndarray,
    info_state: np.ndarray,
    cells: np.ndarray,
    comps: np.ndarray,
    success: np.ndarray,
) -> None:
    """Step (or autoreset to ``restart``) the envs ``idx``, which share one layout's tables.

    Updates ``states``, ``elapsed``, ``autoreset`` in place and fills the rows ``idx`` of the
    outputs. The reward is summed in component order, as ``LeverGridEnv.step`` sums it;
    ``success_of[s]``: the objective's goals are met in state ``s`` (``TabularModel.success``).
    """
    n_components = components.shape[2]
    for k in range(idx.shape[0]):
        i = idx[k]
        if autoreset[i]:
            s = restart[i]
            elapsed[i] = 0
            rewards[i] = 0.0
            comps[i, :] = 0.0
            term = False
            trunc = False
            ok = False
        else:
            s0 = states[i]
            a = actions[i]
            s = next_state[s0, a]
            reward = 0.0
            for j in range(n_components):
                comps[i, j] = components[s0, a, j]
                reward += weights[j] * comps[i, j]
            rewards[i] = reward
            term = terminated[s0, a]
            elapsed[i] += 1
            trunc = elapsed[i] >= max_steps
            ok = term and success_of[s]
        states[i] = s
        info_state[i] = s
        cells[i] = s >> cell_shift
        terms[i] = term
        truncs[i] = trunc
        success[i] = ok
        autoreset[i] = term or trunc
        write_obs(obs, i, s, size, cell_shift, positions)
