"""The numba kernels of the mdp stage: successor-feature, random-play and optimal-value sweeps.

Imported on first use (as ``train.kernels``): composing a policy never needs them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def random_sweeps(cont, nxt, mean_reward, horizon):
    """``horizon`` sweeps of ``v = mean_reward + Σ_a cont[s, a] v[nxt[s, a]]`` from zero."""
    n, n_actions = nxt.shape
    n_components = mean_reward.shape[1]
    v = np.zeros(mean_reward.shape)
    new = np.empty(mean_reward.shape)
    for _ in range(horizon):
        for s in range(n):
            for c in range(n_components):
                new[s, c] = mean_reward[s, c]
            for a in range(n_actions):
                w, j = cont[s, a], nxt[s, a]
                for c in range(n_components):
                    new[s, c] += w * v[j, c]
        v, new = new, v
    return v


@numba.njit(cache=True)
def successor_sweeps(reward, row_state, nxt, onward, sweeps):
    """``sweeps`` iterations from zero of ``ψ[s] = reward[s] + Σ_{rows r of s} onward[r]
    ψ[nxt[r]]`` (``onward``: the row's probability × γ, 0 where the data ends)."""
    psi = np.zeros(reward.shape)
    new = np.empty(reward.shape)
    for _ in range(sweeps):
        new[:, :] = reward
        for r in range(nxt.shape[0]):
            w, s, j = onward[r], row_state[r], nxt[r]
            if w != 0.0:
                for c in range(reward.shape[1]):
                    new[s, c] += w * psi[j, c]
        psi, new = new, psi
    return psi


@numba.njit(cache=True)
def block_sweeps(
    nxt: np.ndarray, reward: np.ndarray, cont: np.ndarray, cell_orders: np.ndarray,
    layers: np.ndarray, block_starts: np.ndarray, cell_shift: int, tol: float, limit: int,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """Gauss-Seidel sweeps of ``v[s] = max_a reward[s, a] + cont[s, a] v[nxt[s, a]]`` from
    zero, block by block: block ``b`` holds the layers ``layers[block_starts[b]:
    block_starts[b + 1]]`` (the states ``cell << cell_shift | layer``), swept over its cells
    in ``cell_orders[k % 4]`` at its sweep ``k`` until a sweep changes no value by more than
    ``tol``. Returns ``v`` and the most sweeps a block took (-1: a block reached ``limit``)."""
    n_actions = nxt.shape[1]
    v = np.zeros(nxt.shape[0])
    most = 0
    for b in range(block_starts.shape[0] - 1):
        sweeps, change = 0, np.inf
        while change > tol:
            if sweeps == limit:
                return v, -1
            order = cell_orders[sweeps % 4]
            change = 0.0
            for li in range(block_starts[b], block_starts[b + 1]):
                for k in range(order.shape[0]):
                    s = (order[k] << cell_shift) | layers[li]
                    best = reward[s, 0] + cont[s, 0] * v[nxt[s, 0]]
                    for a in range(1, n_actions):
                        q = reward[s, a] + cont[s, a] * v[nxt[s, a]]
                        if q > best:
                            best = q
                    change = max(change, abs(best - v[s]))
                    v[s] = best
            sweeps += 1
        most = max(most, sweeps)
    return v, most
