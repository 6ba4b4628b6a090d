"""The numba kernel of behaviour episodes (imported on first use, as ``train.kernels``)."""

from __future__ import annotations

import numba

from lever_gym.train.kernels import choose


@numba.njit(cache=True)
def behave(q, key, nxt, term, starts, uniforms, eps, horizon, states, actions, lengths, ended):
    """ε-greedy episodes of ``q`` from ``starts``, written into ``states``, ``actions``,
    ``lengths`` and ``ended``."""
    for e in range(starts.shape[0]):
        s = starts[e]
        states[e, 0] = s
        lengths[e] = horizon
        for t in range(horizon):
            a = choose(q, key[s], uniforms[e, t], eps)
            actions[e, t] = a
            states[e, t + 1] = nxt[s, a]
            if term[s, a]:
                lengths[e] = t + 1
                ended[e] = True
                break
            s = nxt[s, a]
