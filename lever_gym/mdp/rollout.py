"""The one greedy rollout: follow an action per state through the exact model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import TabularModel
from lever_gym.objective import Objective


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The state-action pairs of a deterministic rollout, in step order."""

    states: np.ndarray
    actions: np.ndarray
    terminated: bool
    """The last step ended the episode (else the horizon did)."""

    def components(self, model: TabularModel) -> np.ndarray:
        """Undiscounted return per component, summed in step order."""
        total = np.zeros(model.components.shape[-1])
        for row in model.components[self.states, self.actions]:
            total += row
        return total

    def total(self, model: TabularModel, objective: Objective | np.ndarray) -> float:
        """Undiscounted return under ``objective``: per-step rewards summed in step order."""
        return float(sum(model.reward(objective)[self.states, self.actions].tolist()))


def greedy_trajectory(
    model: TabularModel, policy: np.ndarray, start: int, horizon: int
) -> Trajectory:
    """Follow ``policy`` (an action per state) from ``start`` for at most ``horizon`` steps."""
    states, actions = [], []
    s, ended = int(start), False
    for _ in range(horizon):
        a = int(policy[s])
        states.append(s)
        actions.append(a)
        if model.terminated[s, a]:
            ended = True
            break
        s = int(model.next_state[s, a])
    return Trajectory(np.array(states, dtype=np.int64), np.array(actions, dtype=np.int64), ended)
