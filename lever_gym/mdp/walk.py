"""Walks through recorded transitions: a deterministic policy followed from a start state
through an empirical model's rows, and nothing else.

A walk takes the row of the policy's action in the current state; it ends after a
terminal row, after ``horizon`` rows, or when the data does not record the state or the
action (it *left the data*: offline scoring charges a penalty then). A walk visits at most
``horizon`` rows, so it runs as plain Python over lists: cheaper than numpy's per-call
overhead at that length, and no compiled kernel has to load in a fresh process.
``WalkGraph.walk_lazily`` walks many policies at once that are asked for an action only
in the states they reach (the offline scoring of many combinations); a test checks that it
visits the same rows as ``walk``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.mdp.empirical import EmpiricalModel

LAZY_WALK_CELLS = 2**22
"""Most entries per walker-indexed array a lazy walk holds at once: walkers × the larger of
the states and the horizon (walkers beyond that walk in further chunks)."""


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

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row of each (position, action), -1 unrecorded; next position; terminal) arrays."""
        n_actions = N_ACTIONS
        table = np.full((len(self.states), n_actions), -1, dtype=np.int64)
        keys = np.fromiter(self.row_of_key, dtype=np.int64, count=len(self.row_of_key))
        rows = np.fromiter(self.row_of_key.values(), dtype=np.int64, count=len(keys))
        if len(self.states) and len(keys):
            at = np.minimum(np.searchsorted(self.states, keys // n_actions), len(self.states) - 1)
            known = self.states[at] == keys // n_actions
            table[at[known], keys[known] % n_actions] = rows[known]
        nxt = np.asarray(self.next_position, dtype=np.int64)
        return table, nxt, np.asarray(self.terminal, dtype=bool)

    def walk_lazily(
        self,
        act: Callable[[np.ndarray, np.ndarray], np.ndarray],
        starts: np.ndarray,
        horizon: int,
    ) -> WalkBatch:
        """Walk ``len(starts)`` deterministic policies at once, walker ``i`` from the state
        ``starts[i]``; ``act(walkers, positions)`` gives the action of each walker in the
        state ``states[position]`` it reached, asked once per walker and state. A walker
        back in a state it visited repeats its cycle to the horizon without asking again.
        The same rows as ``walk`` for every walker."""
        horizon = checks.positive_int(horizon, "horizon")
        starts = np.asarray(starts, dtype=np.int64)
        chunk = max(1, LAZY_WALK_CELLS // max(len(self.states), horizon))
        parts = [
            self._walk_chunk(act, lo, starts[lo : lo + chunk], horizon)
            for lo in range(0, len(starts), chunk)
        ]
        width = max((p[0].shape[1] for p in parts), default=0)
        rows = np.full((len(starts), width), -1, dtype=np.int64)
        lo = 0
        for part_rows, _, _ in parts:
            rows[lo : lo + len(part_rows), : part_rows.shape[1]] = part_rows
            lo += len(part_rows)
        inside = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=bool)
        steps = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        for a in (rows, inside, steps):  # batches are kept and shared: read-only
            a.setflags(write=False)
        return WalkBatch(rows, inside, steps)

    def _walk_chunk(
        self,
        act: Callable[[np.ndarray, np.ndarray], np.ndarray],
        offset: int,
        starts: np.ndarray,
        horizon: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``walk_lazily`` of the walkers ``offset + i``: (rows, inside, steps)."""
        table, nxt, terminal = self._arrays
        k = len(starts)
        at = np.minimum(np.searchsorted(self.states, starts), max(len(self.states) - 1, 0))
        found = self.states[at] == starts if len(self.states) else np.zeros(k, dtype=bool)
        position = np.where(found, at, 0)
        rows = np.full((k, horizon), -1, dtype=np.int64)
        steps = np.zeros(k, dtype=np.int64)
        inside = found.copy()
        first_visit = np.full((k, len(self.states)), -1, dtype=np.int32)
        active = np.flatnonzero(found)
        for t in range(horizon):
            if not len(active):
                break
            here = position[active]
            since = first_visit[active, here]
            looped = since >= 0
            for w, s in zip(active[looped].tolist(), since[looped].tolist(), strict=True):
                rows[w, t:] = np.resize(rows[w, s:t], horizon - t)
                steps[w] = horizon
            active, here = active[~looped], here[~looped]
            first_visit[active, here] = t
            row = table[here, act(active + offset, here)] if len(active) else here
            left = row < 0
            inside[active[left]] = False
            active, row = active[~left], row[~left]
            rows[active, t] = row
            steps[active] = t + 1
            position[active] = nxt[row]
            active = active[~terminal[row]]
            if t + 1 < horizon:  # a walk that reaches an unrecorded state leaves the data
                stray = position[active] < 0
                inside[active[stray]] = False
                active = active[~stray]
        return rows[:, : int(steps.max(initial=0))], inside, steps
