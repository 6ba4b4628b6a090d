"""Successor features on an empirical model: ψ(s) = E[Σ_t γ^t φ(s_t, a_t)].

The cumulants φ are the reward components (so ``ψ[:n_components] @ w`` is the policy's
value under objective ``w``) followed by ``STATE_FEATURES``, features in [0, 1] of where
the policy goes. Everything is computed from recorded transitions: a transition the data
never shows ends the sum.
"""

from __future__ import annotations

import functools

import numpy as np

import lever_gym.components as reward_components
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.mdp.empirical import EmpiricalModel

STATE_FEATURES = (
    "row",
    "col",
    "lever",
    "gold_left",
    "exit_distance",
    "lever_distance",
    "gold_distance",
    "hazard_neighbours",
    "on_hazard",
)


def n_cumulants() -> int:
    """Cumulants of the successor features: the registered components, then the state
    features."""
    return reward_components.count() + len(STATE_FEATURES)


@functools.lru_cache(maxsize=8)
def state_features(model: TabularModel) -> np.ndarray:
    """(n_states, len(STATE_FEATURES)) float64 features in [0, 1] of every state."""
    lay = model.layout
    n = lay.size
    states = np.arange(model.n_states)
    cell, n_gold = model.space.cell_of(states), len(lay.gold)
    lever, mask = model.space.field(states, "lever"), model.space.field(states, "gold")
    scale = 2.0 * n
    d_exit = np.minimum(lay.distances([lay.exit]), scale) / scale
    d_lever = np.minimum(lay.distances([lay.lever]), scale) / scale
    gold_left = np.array([bin(m).count("1") for m in range(1 << n_gold)], dtype=np.float64)
    per_gold = [np.minimum(lay.distances([g]), scale) / scale for g in lay.gold]
    nearest = np.zeros((1 << n_gold, lay.n_cells))
    for m in range(1, 1 << n_gold):
        nearest[m] = np.min([per_gold[i] for i in range(n_gold) if m >> i & 1], axis=0)
    hazard = np.zeros(lay.n_cells)
    hazard[list(lay.hazards)] = 1.0
    near = np.array([sum(hazard[x] for x in lay.neighbours(c)) for c in range(lay.n_cells)])
    near = near / N_ACTIONS  # one neighbour per move
    return np.stack(
        [
            (cell // n) / max(n - 1, 1),
            (cell % n) / max(n - 1, 1),
            lever.astype(np.float64),
            gold_left[mask] / max(n_gold, 1),
            d_exit[cell],
            d_lever[cell],
            nearest[mask, cell],
            near[cell],
            hazard[cell],
        ],
        axis=1,
    )


def behaviour_probabilities(emp: EmpiricalModel) -> np.ndarray:
    """Per row, the empirical probability of its action in its state (the data's policy)."""
    states = emp.state_of_rows()
    _, inverse = np.unique(states, return_inverse=True)
    totals = np.bincount(inverse, weights=emp.counts)
    return emp.counts / totals[inverse]


def successor_features(
    emp: EmpiricalModel,
    probabilities: np.ndarray,
    model: TabularModel,
    states: np.ndarray,
    gamma: float,
    tol: float,
) -> np.ndarray:
    """ψ (``(len(states), n_cumulants())``) of the policy taking row ``r`` with probability
    ``probabilities[r]``.

    The cumulants are the reward components followed by ``STATE_FEATURES``. Rows with zero
    probability are unused; a next state with no recorded row contributes 0 (the data ends
    there). Solved by iterating the Bellman equation until the error is at most ``tol``.
    """
    feats = state_features(model)
    own = emp.state_of_rows()  # rows are sorted by key, so each state's rows are contiguous
    uniq, first, row_state = np.unique(own, return_index=True, return_inverse=True)
    out = np.zeros((len(states), emp.components.shape[1] + feats.shape[1]))
    if not len(uniq):
        return out
    nxt = np.minimum(np.searchsorted(uniq, emp.next_state), len(uniq) - 1)
    known = (uniq[nxt] == emp.next_state) & ~emp.terminated
    cumulant = np.concatenate([emp.components, feats[own]], axis=1)
    bound = max(float(np.abs(cumulant).max(initial=0.0)) / (1 - gamma), tol)
    sweeps = 1
    if gamma > 0:  # the error after k sweeps is at most bound * gamma**k
        sweeps = max(1, int(np.ceil(np.log(tol / bound) / np.log(gamma))) + 1)
    p = np.asarray(probabilities, dtype=np.float64)
    reward = np.add.reduceat(p[:, None] * cumulant, first, axis=0)
    from lever_gym.mdp.kernels import successor_sweeps

    psi = successor_sweeps(reward, row_state, nxt, gamma * p * known, sweeps)
    idx = np.minimum(np.searchsorted(uniq, states), len(uniq) - 1)
    hit = uniq[idx] == states
    out[hit] = psi[idx[hit]]
    return out
