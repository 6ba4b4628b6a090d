"""The ``Policy`` protocol every lever_gym policy implements, and what evaluation accepts."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Acts on LeverGrid observations: one at a time or a batch.

    ``policy(obs) -> int`` for one observation of shape ``(obs_dim,)``;
    ``policy.predict(obs_batch) -> ndarray`` of int64 actions for shape ``(n, obs_dim)``;
    ``policy.q_values(obs) -> ndarray`` of the values it acts on, shape ``(..., A)``.
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
