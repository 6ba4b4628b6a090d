"""The empirical model: the MDP as recorded in datasets, with nothing the data does not show.

For every state-action pair seen in one or more datasets it keeps the next state, the four
reward components, the termination flag and the visit count. Retrieval embeddings,
offline scoring of composed policies and coverage are all computed on it, never by stepping
an environment. LeverGrid is deterministic, so every dataset that records a pair records
the same outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import N_ACTIONS


def visit_counts(states: np.ndarray, actions: np.ndarray, n_states: int) -> np.ndarray:
    """(n_states, N_ACTIONS) int32 number of times each state-action pair occurs."""
    keys = np.asarray(states, dtype=np.int64) * N_ACTIONS + np.asarray(actions, dtype=np.int64)
    counts = np.bincount(keys, minlength=n_states * N_ACTIONS)
    return counts.astype(np.int32).reshape(n_states, N_ACTIONS)


@dataclass(frozen=True, eq=False)
class EmpiricalModel:
    """Recorded transitions, one row per distinct ``(state, action)``, sorted by ``key``."""

    keys: np.ndarray
    """(n,) int64 ``state * N_ACTIONS + action``, sorted and unique."""
    next_state: np.ndarray
    components: np.ndarray
    """(n, N_COMPONENTS) float64 reward components."""
    terminated: np.ndarray
    counts: np.ndarray
    """(n,) int64 visits."""
    starts: np.ndarray
    """Sorted distinct first states of the recorded episodes."""

    @classmethod
    def from_arrays(
        cls,
        states: np.ndarray,
        actions: np.ndarray,
        next_states: np.ndarray,
        components: np.ndarray,
        terminated: np.ndarray,
        starts: np.ndarray,
        counts: np.ndarray | None = None,
    ) -> EmpiricalModel:
        """Build from per-transition arrays (duplicates are merged and counted)."""
        keys = states * N_ACTIONS + actions
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        weight = np.ones(len(keys), dtype=np.int64) if counts is None else counts
        return cls(
            uniq,
            next_states[first],
            components[first],
            terminated[first],
            np.bincount(inverse, weights=weight, minlength=len(uniq)).astype(np.int64),
            np.unique(starts),
        )

    @classmethod
    def union(cls, models: Sequence[EmpiricalModel]) -> EmpiricalModel:
        """All pairs of ``models``; counts add up."""
        return cls.from_arrays(
            np.concatenate([m.state_of_rows() for m in models]),
            np.concatenate([m.actions_of_rows() for m in models]),
            np.concatenate([m.next_state for m in models]),
            np.concatenate([m.components for m in models]),
            np.concatenate([m.terminated for m in models]),
            np.concatenate([m.starts for m in models]),
            np.concatenate([m.counts for m in models]),
        )

    def subset(self, rows: np.ndarray) -> EmpiricalModel:
        """The model restricted to ``rows`` (sorted row indices); starts are kept."""
        return EmpiricalModel(
            self.keys[rows], self.next_state[rows], self.components[rows],
            self.terminated[rows], self.counts[rows], self.starts,
        )  # fmt: skip

    def state_of_rows(self) -> np.ndarray:
        """State of each row."""
        return self.keys // N_ACTIONS

    def actions_of_rows(self) -> np.ndarray:
        """Action of each row."""
        return self.keys % N_ACTIONS

    def rows(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Row of each ``(state, action)``, or -1 where the data never saw it."""
        keys = np.asarray(states, dtype=np.int64) * N_ACTIONS + np.asarray(actions, np.int64)
        idx = np.searchsorted(self.keys, keys)
        idx = np.minimum(idx, max(len(self.keys) - 1, 0))
        found = (self.keys[idx] == keys) if len(self.keys) else np.zeros(keys.shape, bool)
        return np.where(found, idx, -1)

    def row_of(self, state: int, action: int) -> int:
        """``rows`` of one ``(state, action)``, without building arrays (walks call it per
        step)."""
        key = state * N_ACTIONS + action
        i = int(np.searchsorted(self.keys, key))
        return i if i < len(self.keys) and int(self.keys[i]) == key else -1

    def states(self) -> np.ndarray:
        """Sorted distinct states with at least one recorded action."""
        return np.unique(self.state_of_rows())
