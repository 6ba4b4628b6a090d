"""The exact solver: value iteration on a LeverGrid's tabular model, layer by layer.

``solve`` gives optimal Q-values for any objective and discount, the ground truth that
library policies, composed policies and baselines are measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.grid import lever_env
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.objective import Objective


@dataclass(frozen=True, eq=False)
class Solution:
    """Optimal Q-values of one model, objective and discount (a ``Policy``)."""

    model: TabularModel
    weights: np.ndarray
    gamma: float
    q: np.ndarray
    """(n_states, N_ACTIONS) float64 optimal action values."""
    iterations: int
    """Sweeps of the slowest block (``value_iteration``): a layer, unless they form a cycle."""

    @property
    def policy(self) -> np.ndarray:
        """(n_states,) greedy optimal action per state (ties to the lowest action)."""
        return np.argmax(self.q, axis=1)

    @property
    def values(self) -> np.ndarray:
        """(n_states,) optimal state values."""
        return self.q.max(axis=1)

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """Act greedily on one observation (usable as a policy in any loop); ``validate``: as
        ``GridSpace.state_from_obs_one``."""
        return int(np.argmax(self.q[self.model.space.state_from_obs_one(obs, validate=validate)]))

    def predict(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Greedy actions for a batch of observations."""
        return self.policy[self.model.space.states_from_obs(obs, validate=validate)]

    def q_values(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Optimal Q-values (shape ``(..., N_ACTIONS)``) of one observation or a batch."""
        return self.q[self.model.space.states_from_obs(obs, validate=validate)]


def value_iteration(
    model: TabularModel,
    objective: Objective,
    gamma: float,
    *,
    tol: float = 1e-9,
    max_iterations: int = 100_000,
) -> tuple[np.ndarray, int]:
    """Optimal ``Q = R·w + γ (1 - done) max Q[next]`` and the sweeps its slowest block took:
    Gauss-Seidel sweeps over the blocks of ``layer_blocks`` (each layer alone where they form
    no cycle), each block swept until no value changes by more than ``tol`` (at most
    ``max_iterations`` sweeps per block; ``ConfigError`` beyond). Every state is swept about
    as often as its own layer needs, so the cost grows with the states. The values are
    within ``γ tol / (1 - γ)`` of the optimum, as plain value iteration's are."""
    gamma = checks.gamma(gamma)
    tol = checks.real(tol, "tol", 0.0, np.inf, closed="neither")
    max_iterations = checks.int_in(max_iterations, "max_iterations", 1, 2**63 - 1)
    reward = model.reward(objective)
    if gamma == 0.0:
        return reward, 1
    from lever_gym.mdp.kernels import block_sweeps

    cont = gamma * ~model.terminated
    nxt = model.next_state
    space = model.space
    layers, starts = layer_blocks(space.cell_shift, nxt, model.terminated)
    cells = np.arange(space.n_cells, dtype=np.int64)
    by_column = (cells % space.size) * space.size + cells // space.size
    orders = np.stack([cells, cells[::-1], by_column, by_column[::-1]])
    v, sweeps = block_sweeps(
        nxt, reward, cont, orders, layers, starts, space.cell_shift, tol, max_iterations
    )
    if sweeps < 0:  # pragma: no cover - positive-cycle objectives only
        raise ConfigError(
            f"value iteration did not converge in {max_iterations} sweeps of a block; pass a "
            "larger max_iterations (solve and value_iteration take it) or a lower gamma."
        )
    return reward + cont * v[nxt], sweeps


def layer_blocks(
    cell_shift: int, nxt: np.ndarray, terminated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The layers (values of the fields below ``cell_shift``) in an order where each leads
    only to itself and to layers before it, one block each (``block_sweeps``' ``layers``
    and ``block_starts``); one block of every layer if their transitions form a cycle."""
    n_layers = 1 << cell_shift
    live = ~terminated
    here = np.broadcast_to((np.arange(len(nxt)) & (n_layers - 1))[:, None], nxt.shape)
    edges = np.unique(here[live] * n_layers + (nxt[live] & (n_layers - 1)))
    source, target = np.divmod(edges, n_layers)
    apart = source != target
    waiting = np.bincount(source[apart], minlength=n_layers)
    leads_here: list[list[int]] = [[] for _ in range(n_layers)]
    for a, b in zip(source[apart].tolist(), target[apart].tolist(), strict=True):
        leads_here[b].append(a)
    ready = np.flatnonzero(waiting == 0).tolist()[::-1]
    order: list[int] = []
    while ready:
        layer = ready.pop()
        order.append(layer)
        for a in leads_here[layer]:
            waiting[a] -= 1
            if waiting[a] == 0:
                ready.append(a)
    if len(order) < n_layers:
        return np.arange(n_layers, dtype=np.int64), np.array([0, n_layers], dtype=np.int64)
    return np.array(order, dtype=np.int64), np.arange(n_layers + 1, dtype=np.int64)


def solve(
    env: gym.Env | str,
    gamma: float = 0.99,
    *,
    tol: float = 1e-9,
    max_iterations: int = 100_000,
    **env_kwargs: Any,
) -> Solution:
    """Optimal Q-values of a LeverGrid env (or id plus kwargs) under its own objective
    (``tol`` and ``max_iterations``: as ``value_iteration``'s)."""
    base = lever_env(env, **env_kwargs)
    q, iterations = value_iteration(
        base.model, base.objective, gamma, tol=tol, max_iterations=max_iterations
    )
    return Solution(base.model, base.weights.copy(), float(gamma), q, iterations)


def optimal_return(env: gym.Env | str, gamma: float = 0.99, **env_kwargs: Any) -> float:
    """Undiscounted return, from the start and within ``size**2`` steps, of the optimal policy."""
    sol = solve(env, gamma, **env_kwargs)
    m = sol.model
    return greedy_trajectory(m, sol.policy, m.start_state, m.layout.n_cells).total(m, sol.weights)
