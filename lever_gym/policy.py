"""The ``Policy`` protocol every lever_gym policy implements, and what evaluation accepts."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Acts on LeverGrid observations: one at a time or a batch.

    ``policy(obs) -> int`` for one observation of shape ``(obs_dim,)``;
    ``policy.predict(obs_batch) -> ndarray`` of int64 actions for shape ``(n, obs_dim)``.
    Tabular, composed, exact and baseline policies implement both, with equal answers.
    """

    def __call__(self, obs: np.ndarray) -> int:
        """The action for one observation."""
        ...

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations."""
        ...
