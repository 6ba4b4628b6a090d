"""The numba kernels of the mdp stage: successor-feature and random-play sweeps.

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
