"""The ``Policy`` protocol every lever_gym policy implements, and what evaluation accepts."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

SB3_UNSET: Any = object()
"""The default of the Stable-Baselines3 arguments of every ``predict`` (``state``,
``episode_start``, ``deterministic``): when any is given, ``predict`` answers as SB3's
``predict`` does, ``(actions, state)``, so ``evaluate_policy`` runs on lever_gym policies."""


def sb3_answer(actions: np.ndarray, state: Any, episode_start: Any, deterministic: Any) -> Any:
    """``actions``, or SB3's ``(actions, state)`` if any SB3 argument was given (lever_gym's
    policies are greedy and memoryless: ``deterministic`` changes nothing, ``state`` passes
    through)."""
    if state is SB3_UNSET and episode_start is SB3_UNSET and deterministic is SB3_UNSET:
        return actions
    return actions, (None if state is SB3_UNSET else state)


@runtime_checkable
class Policy(Protocol):
    """Acts on LeverGrid observations: one at a time or a batch.

    ``policy(obs) -> int`` for one observation of shape ``(obs_dim,)``;
    ``policy.predict(obs_batch) -> ndarray`` of int64 actions for shape ``(n, obs_dim)``;
    ``policy.q_values(obs) -> ndarray`` of the values it acts on, shape ``(..., A)``.
    ``predict(obs, state=None, episode_start=None, deterministic=True)`` answers
    ``(actions, state)``, as Stable-Baselines3's models do (``sb3_answer``).
    Tabular, composed and exact policies implement all three, with equal answers (a
    baseline without values, such as random play, implements the first two).
    """

    def __call__(self, obs: np.ndarray) -> int:
        """The action for one observation."""
        ...

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations."""
        ...

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The values the policy acts on (its greedy action maximises them) of one
        observation or a batch."""
        ...
