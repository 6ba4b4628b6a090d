"""The exact solver: value iteration on a LeverGrid's tabular model.

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
    """Iterate ``Q = R·w + γ (1 - done) max Q[next]`` until the largest change is ≤ ``tol``."""
    gamma = checks.gamma(gamma)
    reward = model.reward(objective)
    if gamma == 0.0:
        return reward, 1
    cont = gamma * ~model.terminated
    nxt = model.next_state
    v = np.zeros(model.n_states)
    q = reward.copy()
    for i in range(1, max_iterations + 1):
        np.max(q, axis=1, out=v)
        q_new = reward + cont * v[nxt]
        delta = float(np.max(np.abs(q_new - q)))
        q = q_new
        if delta <= tol:
            return q, i
    raise ConfigError(  # pragma: no cover - positive-cycle objectives only
        f"value iteration did not converge in {max_iterations} iterations "
        f"(last change {delta:.3g})."
    )


def solve(
    env: gym.Env | str, gamma: float = 0.99, *, tol: float = 1e-9, **env_kwargs: Any
) -> Solution:
    """Optimal Q-values of a LeverGrid env (or id plus kwargs) under its own objective."""
    base = lever_env(env, **env_kwargs)
    q, iterations = value_iteration(base.model, base.objective, gamma, tol=tol)
    return Solution(base.model, base.weights.copy(), float(gamma), q, iterations)


def optimal_return(env: gym.Env | str, gamma: float = 0.99, **env_kwargs: Any) -> float:
    """Undiscounted return, from the start and within ``size**2`` steps, of the optimal policy."""
    sol = solve(env, gamma, **env_kwargs)
    m = sol.model
    return greedy_trajectory(m, sol.policy, m.start_state, m.layout.n_cells).total(m, sol.weights)
