"""The numba kernels of ``LeverGridVectorEnv``: observations and one step of many envs."""

from __future__ import annotations

import numpy as np
from numba import njit

from lever_gym.objective import N_COMPONENTS


@njit(cache=True)
def write_obs(obs: np.ndarray, i: int, state: int, size: int, n_gold: int) -> None:
    """Row ``i`` of ``obs`` := the observation of ``state`` (as ``TabularModel.observe_one``)."""
    rest = state >> n_gold
    cell = rest >> 1
    row = obs[i]
    row[:] = 0.0
    row[cell // size] = 1.0
    row[size + cell % size] = 1.0
    row[2 * size] = rest & 1
    for b in range(n_gold):
        row[2 * size + 1 + b] = (state >> b) & 1


@njit(cache=True)
def observe_all(states: np.ndarray, size: int, n_gold: int, obs: np.ndarray) -> None:
    """Observations of ``states`` into ``obs`` (shape ``(len(states), obs_dim)``)."""
    for i in range(states.shape[0]):
        write_obs(obs, i, states[i], size, n_gold)


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
    need_gold: bool,
    need_lever: bool,
    exit_cell: int,
    size: int,
    n_gold: int,
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
    outputs. The reward is summed in component order, as ``LeverGridEnv.step`` sums it.
    """
    all_gold = (1 << n_gold) - 1
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
            for j in range(N_COMPONENTS):
                comps[i, j] = components[s0, a, j]
                reward += weights[j] * comps[i, j]
            rewards[i] = reward
            term = terminated[s0, a]
            elapsed[i] += 1
            trunc = elapsed[i] >= max_steps
            rest = s >> n_gold
            ok = (
                term
                and (rest >> 1) == exit_cell
                and (not need_gold or (s & all_gold) == 0)
                and (not need_lever or (rest & 1) == 1)
            )
        states[i] = s
        info_state[i] = s
        cells[i] = s >> (n_gold + 1)
        terms[i] = term
        truncs[i] = trunc
        success[i] = ok
        autoreset[i] = term or trunc
        write_obs(obs, i, s, size, n_gold)
