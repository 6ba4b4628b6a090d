"""``TabularPolicy``: a Q-table over a layout's states (or cells), usable in any loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import TabularModel


@dataclass(frozen=True, eq=False)
class TabularPolicy:
    """Greedy policy of a Q-table; rows are states (``key="state"``) or cells (``"cell"``).

    Holds plain arrays only, so it pickles and crosses process boundaries. Observations are
    checked (``GridSpace.check_obs``: ``ObservationError`` on anything ``env.step`` could not
    return) unless ``validate=False``, the fast path for trusted input.
    """

    model: TabularModel
    q: np.ndarray
    key: str = "state"

    def q_values(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Q-values (shape ``(..., N_ACTIONS)``) of one observation or a batch."""
        states = self.model.space.states_from_obs(obs, validate=validate)
        return self.q[self.model.space.row_of(states, self.key)]

    def predict(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Greedy actions (ties to the lowest action) for a batch of observations."""
        return np.argmax(self.q_values(obs, validate=validate), axis=-1)

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """Greedy action for one observation (shape ``(obs_dim,)``)."""
        state = self.model.space.state_from_obs_one(obs, validate=validate)
        return int(np.argmax(self.q[self.model.space.row_of(state, self.key)]))
