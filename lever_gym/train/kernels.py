"""The numba kernels of tabular training: ε-greedy choice and the learning loop.

Imported on first use (``import numba`` and its first compiled call cost about half a second
in a fresh process; composing a policy from a library never needs them).
"""

from __future__ import annotations

import numba
import numpy as np

from lever_gym.envs.model import N_ACTIONS


@numba.njit(cache=True, inline="always")
def choose(q: np.ndarray, k: int, u: float, eps: float) -> int:
    """ε-greedy action of row ``k``: uniform ``u`` below ``eps`` picks the action, else argmax."""
    if u < eps:
        return min(int(u / eps * N_ACTIONS), N_ACTIONS - 1)
    best = 0
    for a in range(1, N_ACTIONS):
        if q[k, a] > q[k, best]:
            best = a
    return best


@numba.njit(cache=True)
def learn(q, key, nxt, reward, term, starts, uniforms, eps, alpha, gamma, sarsa, horizon):
    """Q-learning (or SARSA) updates of ``q`` over the episodes from ``starts``; the number
    of steps taken."""
    steps = 0
    for e in range(starts.shape[0]):
        s = starts[e]
        k = key[s]
        a = choose(q, k, uniforms[e, 0], eps[e])
        for t in range(horizon):
            s2 = nxt[s, a]
            k2 = key[s2]
            r = reward[s, a]
            steps += 1
            if term[s, a]:
                q[k, a] += alpha * (r - q[k, a])
                break
            a2 = choose(q, k2, uniforms[e, t + 1], eps[e])
            if sarsa:
                target = r + gamma * q[k2, a2]
            else:
                best = q[k2, 0]
                for b in range(1, N_ACTIONS):
                    best = max(best, q[k2, b])
                target = r + gamma * best
            q[k, a] += alpha * (target - q[k, a])
            s, k, a = s2, k2, a2
    return steps
