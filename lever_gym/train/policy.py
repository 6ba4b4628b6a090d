"""``TabularPolicy``: a Q-table over a layout's states (or cells), usable in any loop; and
``TimeIndexedPolicy``, an action per steps left and state, for time-aware observations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.envs.space import GridSpace
from lever_gym.errors import ObservationError
from lever_gym.policy import SB3_UNSET, sb3_answer


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

    def predict(
        self,
        obs: np.ndarray,
        state: Any = SB3_UNSET,
        episode_start: Any = SB3_UNSET,
        deterministic: Any = SB3_UNSET,
        *,
        validate: bool = True,
    ) -> Any:
        """Greedy actions (ties to the lowest action) for a batch of observations (SB3's
        ``(actions, state)`` when called with its arguments: ``lever_gym.policy``)."""
        actions = np.argmax(self.q_values(obs, validate=validate), axis=-1)
        return sb3_answer(actions, state, episode_start, deterministic)

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """Greedy action for one observation (shape ``(obs_dim,)``)."""
        state = self.model.space.state_from_obs_one(obs, validate=validate)
        return int(np.argmax(self.q[self.model.space.row_of(state, self.key)]))


@dataclass(frozen=True, eq=False)
class TimeIndexedPolicy:
    """A time-aware policy: an action per steps left and state, for observations that carry
    the elapsed steps as their last entry (what ``gymnasium.wrappers.TimeAwareObservation``
    appends with its defaults). Row ``h - 1`` of ``actions`` holds the action with ``h`` steps
    left in each of ``states`` (sorted); elsewhere, and past the horizon, it takes
    ``fallback``. ``q_values`` is the one-hot of the action it takes."""

    space: GridSpace
    states: np.ndarray
    actions: np.ndarray
    horizon: int
    fallback: int = 0
    time_aware: bool = True

    def _split(self, obs: np.ndarray, validate: bool) -> tuple[np.ndarray, np.ndarray]:
        o = np.asarray(obs)
        if o.shape[-1:] != (self.space.obs_dim + 1,):
            raise ObservationError(
                f"a time-aware policy takes observations of {self.space.obs_dim} entries and the "
                f"elapsed steps (TimeAwareObservation); got shape {o.shape}."
            )
        elapsed = o[..., -1]
        if validate and not (
            np.all(np.isfinite(elapsed)) and np.all(elapsed == np.floor(elapsed))
            and np.all(elapsed >= 0) and np.all(elapsed < 2**62)
        ):  # fmt: skip
            raise ObservationError(
                "the last entry of a time-aware observation is the elapsed steps, a whole "
                f"number >= 0 (TimeAwareObservation's default); got {elapsed.ravel()[:4]}."
            )
        states = self.space.states_from_obs(o[..., :-1], validate=validate)
        return states, elapsed.astype(np.int64)

    def planned(
        self, obs: np.ndarray, *, validate: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(states, actions, ok)`` of a batch: each observation's state, the plan's action
        and whether the plan covers it (a planned state within the horizon)."""
        states, elapsed = self._split(obs, validate)
        at = np.minimum(np.searchsorted(self.states, states), max(len(self.states) - 1, 0))
        known = (self.states[at] == states) if len(self.states) else np.zeros(states.shape, bool)
        left = self.horizon - elapsed
        ok = known & (left >= 1) & (left <= self.horizon)
        row = np.clip(left - 1, 0, self.horizon - 1)
        taken = self.actions[row, at] if len(self.states) else np.zeros(states.shape, np.int64)
        return states, taken, ok

    def predict(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """The action (int64) of each observation in a batch."""
        _, taken, ok = self.planned(obs, validate=validate)
        return np.where(ok, taken, self.fallback).astype(np.int64)

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """The action for one observation."""
        return int(self.predict(np.asarray(obs)[None], validate=validate)[0])

    def q_values(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """One-hot of the action taken (shape ``(..., A)``)."""
        return np.eye(N_ACTIONS)[self.predict(np.atleast_2d(obs), validate=validate)].reshape(
            (*np.shape(obs)[:-1], N_ACTIONS)
        )
