"""The numba kernels of ``LeverGridVectorEnv``: observations, one step of many envs, and
their random starts drawn from each env's own PCG64 generator."""

from __future__ import annotations

import ctypes

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def write_obs(
    obs: np.ndarray, i: int, state: int, size: int, cell_shift: int, positions: np.ndarray
) -> None:
    """Row ``i`` of ``obs`` := the observation of ``state`` (as ``GridSpace.observe_one``;
    ``cell_shift`` and ``positions`` are its ``cell_shift`` and ``flag_positions``)."""
    cell = state >> cell_shift
    for j in range(2 * size):  # element by element: a row view costs more than the row
        obs[i, j] = 0
    obs[i, cell // size] = 1
    obs[i, size + cell % size] = 1
    for j in range(positions.shape[0]):
        obs[i, 2 * size + j] = (state >> positions[j]) & 1


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
            for j in range(n_components):
                comps[i, j] = 0.0
            term = False
            trunc = False
            ok = False
        else:
            s0 = states[i]
            a = actions[i]
            s = next_state[s0, a]
            reward = 0.0
            for j in range(n_components):
                c = components[s0, a, j]
                comps[i, j] = c
                reward += weights[j] * c
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


_NEXT_UINT32 = np.random.PCG64(0).ctypes.next_uint32
"""PCG64's own ``next_uint32`` (one C function for every PCG64 generator of the process)."""


_CAPSULE_POINTER = ctypes.pythonapi.PyCapsule_GetPointer
_CAPSULE_POINTER.restype = ctypes.c_void_p
_CAPSULE_POINTER.argtypes = [ctypes.py_object, ctypes.c_char_p]


def pcg64_address(rng: np.random.Generator) -> int:
    """The state address ``draw_below`` draws ``rng``'s numbers from; 0 unless a plain
    ``Generator`` on a plain PCG64 (the others are drawn by ``rng`` itself). Read from the
    bit generator's ``capsule`` (its C ``bitgen_t``, whose first field is the state), as
    ``bit_generator.ctypes.state_address`` gives it but without the ctypes interface that
    property keeps on every generator."""
    bits = rng.bit_generator
    if type(rng) is not np.random.Generator or type(bits) is not np.random.PCG64:
        return 0  # a subclass may draw otherwise
    bitgen = _CAPSULE_POINTER(bits.capsule, b"BitGenerator")
    return int(ctypes.c_void_p.from_address(bitgen).value or 0)


@njit(cache=False)  # calls a C function whose address is this process's: never cached
def draw_below(addresses: np.ndarray, idx: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[rng_i.integers(len(table))]`` for each env ``i`` of ``idx``, with
    ``rng_i`` the PCG64 generator at ``addresses[i]``: the number ``Generator.integers``
    draws and the state it leaves (numpy's 32-bit Lemire rejection; ``len(table)`` below
    2**32)."""
    span = np.uint32(table.shape[0])
    threshold = np.uint32((np.uint32(0xFFFFFFFF) - np.uint32(span - 1)) % span)
    low = np.uint64(0xFFFFFFFF)
    for k in range(idx.shape[0]):
        i = idx[k]
        j = np.uint64(0)
        if span > 1:
            m = np.uint64(_NEXT_UINT32(addresses[i])) * np.uint64(span)
            if np.uint32(m & low) < span:
                while np.uint32(m & low) < threshold:
                    m = np.uint64(_NEXT_UINT32(addresses[i])) * np.uint64(span)
            j = m >> np.uint64(32)
        out[i] = table[j]
