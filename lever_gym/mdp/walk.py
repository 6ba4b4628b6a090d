"""Walks through recorded transitions: a deterministic policy followed from a start state
through an empirical model's rows, and nothing else.

A walk takes the row of the policy's action in the current state; it ends after a
terminal row, after ``horizon`` rows, or when the data does not record the state or the
action (it *left the data*: offline scoring charges a penalty then). A walk visits at most
``horizon`` rows, so it runs as plain Python over lists: cheaper than numpy's per-call
overhead at that length, and no compiled kernel has to load in a fresh process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import N_ACTIONS
from lever_gym.mdp.empirical import EmpiricalModel


@dataclass(frozen=True)
class Walk:
    """The rows one walk visited, in order, and whether it ended inside the data."""

    rows: tuple[int, ...]
    inside: bool


@dataclass(frozen=True, eq=False)
class WalkBatch:
    """Walks as one padded array (``-1`` after each walk's end), to sum their rewards at
    once."""

    rows: np.ndarray
    inside: np.ndarray
    steps: np.ndarray

    @classmethod
    def of(cls, walks: Sequence[Walk]) -> WalkBatch:
        """Pad ``walks`` into one batch."""
        steps = np.array([len(w.rows) for w in walks], dtype=np.int64)
        rows = np.full((len(walks), int(steps.max(initial=0))), -1, dtype=np.int64)
        for i, w in enumerate(walks):
            rows[i, : len(w.rows)] = w.rows
        inside = np.array([w.inside for w in walks], dtype=bool)
        for a in (rows, inside, steps):  # batches are kept and shared: read-only
            a.setflags(write=False)
        return cls(rows, inside, steps)

    def totals(self, rewards: np.ndarray, penalty: float) -> np.ndarray:
        """Each walk's return: its rows' ``rewards`` added in visiting order (``cumsum`` is
        that left-to-right sum), minus ``penalty`` if it left the data."""
        picked = np.append(np.asarray(rewards, dtype=np.float64), 0.0)[self.rows]
        total = np.cumsum(picked, axis=1)[:, -1] if picked.shape[1] else np.zeros(len(picked))
        return np.where(self.inside, total, total - penalty)


@dataclass(frozen=True, eq=False)
class WalkGraph:
    """An empirical model indexed for walks over ``states`` (sorted; every state a policy
    may be asked about): the row of each recorded ``state * A + action`` key, and per row
    the position of its next state in ``states`` (-1: not there) and whether it is
    terminal, as plain Python containers."""

    states: np.ndarray
    row_of_key: dict[int, int]
    state_list: list[int]
    """``states`` as Python ints (what the walk reads, step by step)."""
    next_position: list[int]
    terminal: list[bool]

    @classmethod
    def of(cls, empirical: EmpiricalModel, states: np.ndarray) -> WalkGraph:
        """Index ``empirical`` for walks over the sorted ``states``."""
        states = np.asarray(states, dtype=np.int64)
        nxt = empirical.next_state
        if len(states):
            at = np.minimum(np.searchsorted(states, nxt), len(states) - 1)
            position = np.where(states[at] == nxt, at, -1)
        else:
            position = np.full(len(nxt), -1)
        keys = empirical.keys.tolist()
        return cls(
            states, dict(zip(keys, range(len(keys)), strict=True)), states.tolist(),
            position.tolist(), empirical.terminated.tolist(),
        )  # fmt: skip

    def walk(self, actions: np.ndarray, start: int, horizon: int) -> Walk:
        """Follow the policy taking ``actions[i]`` in ``states[i]`` from the state ``start``."""
        p = int(np.searchsorted(self.states, start))
        if p >= len(self.states) or self.states[p] != start:
            p = -1
        rows: list[int] = []
        n_actions = N_ACTIONS
        for _ in range(horizon):
            row = (
                self.row_of_key.get(self.state_list[p] * n_actions + int(actions[p]))
                if p >= 0
                else None
            )
            if row is None:
                return Walk(tuple(rows), False)
            rows.append(row)
            if self.terminal[row]:
                break
            p = self.next_position[row]
        return Walk(tuple(rows), True)
