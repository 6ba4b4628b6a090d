"""The members of a composition: rows of a layout's stacked policy tables, and their factors.

``Members`` is what ``ComposedQ`` reads to tabulate a state lazily: each member's Q-values,
dataset counts and (for ``gpi``) successor features there. It refers to the library's
``LayoutTables`` by position (composing copies no table) and pickles its own rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lever_gym.envs.space import GridSpace
from lever_gym.errors import ConfigError
from lever_gym.objective import weighted
from lever_gym.reuse.tables import RowTables


@dataclass(frozen=True, eq=False)
class Members:
    """The member policies of a composition: their rows (``positions``) of stacked tables
    (``lever_gym.reuse.tables.RowTables``, no copies of the library's arrays), the factor
    on each member's Q-values, and for ``gpi`` their ψ and the target weights of ``ψ · w``.
    A pickle holds the members' own rows only (``compact``)."""

    q: RowTables
    """Q-values, a row per state (or per cell, with ``key="cell"``); unstored rows are 0."""
    counts: RowTables
    """Dataset visit counts, a row per state."""
    weights: np.ndarray
    """(m,) factor applied to each member's Q-values."""
    positions: np.ndarray
    """(m,) each member's index in the tables."""
    key: str = "state"
    space: GridSpace | None = None
    """The layout's state encoding (Q-table rows of ``key="cell"``); ``None``: state keys."""
    psi: RowTables | None = None
    """Successor features per state, ``(A, N_COMPONENTS)`` rows (NaN: unrecorded)."""
    target: tuple[float, ...] | None = None
    """The weights ``w`` of ``ψ · w`` (what the ``gpi`` operator combines)."""

    def __post_init__(self) -> None:
        """Check the members against the tables: one weight per member, rows that exist."""
        m = len(self.weights)
        ok = (
            m >= 1
            and np.shape(self.positions) == (m,)
            and int(np.min(self.positions)) >= 0
            and all(t.n_members > int(np.max(self.positions)) for t in self._tables())
            and self.q.values.shape[1:] == self.counts.values.shape[1:]
            and self.q.n_rows == int(self._row_of(self.counts.n_rows - 1)) + 1
            and (self.psi is None) == (self.target is None)
        )
        if not ok:
            raise ConfigError(
                f"members need m >= 1 weights, one position per weight inside tables of one "
                f"row shape, Q-table rows that match key={self.key!r} (and ψ with its target "
                f"weights, or neither); got {m} weights, "
                f"positions {np.shape(self.positions)}, rows {self.q.values.shape[1:]} and "
                f"{self.counts.values.shape[1:]}."
            )

    @classmethod
    def of_arrays(
        cls,
        q: Sequence[np.ndarray],
        counts: Sequence[np.ndarray],
        weights: np.ndarray,
        psi: Sequence[np.ndarray] | None = None,
        target: Sequence[float] | None = None,
    ) -> Members:
        """Members from dense per-member tables: ``q`` and ``counts`` (n, A) each, ``psi``
        (n, A, N_COMPONENTS) each with NaN where unrecorded."""
        shapes = {np.shape(a) for a in (*q, *counts)}
        if len(q) != len(counts) or len(q) != len(weights) or len(shapes) != 1 or not len(q):
            raise ConfigError(
                f"members need m Q-tables and m count tables of one shape (n_states, A) "
                f"and m weights, m >= 1; got {len(q)}, {len(counts)}, {len(weights)}, "
                f"shapes {sorted(shapes)}."
            )
        n = len(q[0])
        every = np.arange(n)
        stored = None if psi is None else RowTables.stack([(every, p) for p in psi], n, np.nan)
        return cls(
            RowTables.stack([(every, np.asarray(t, dtype=np.float64)) for t in q], n, 0.0),
            RowTables.stack([(every, np.asarray(c)) for c in counts], n, 0),
            np.asarray(weights, dtype=np.float64),
            np.arange(len(q)),
            psi=stored,
            target=None if target is None else tuple(float(x) for x in target),
        )

    def _row_of(self, states: np.ndarray | int) -> np.ndarray:
        """The Q-table rows of ``states`` (``GridSpace.row_of``)."""
        if self.space is None:
            return np.asarray(states, dtype=np.int64)
        return self.space.row_of(states, self.key)

    def _tables(self) -> list[RowTables]:
        return [t for t in (self.q, self.counts, self.psi) if t is not None]

    @property
    def n_states(self) -> int:
        """Rows of every count table."""
        return self.counts.n_rows

    def pessimistic(self) -> np.ndarray:
        """(m,) each member's lowest Q-value on its support (its lowest Q if none)."""
        out = np.empty(len(self.positions))
        for i, p in enumerate(self.positions):
            states, counts = self.counts.member(int(p))
            rows, values = self.q.member(int(p))
            if np.any(counts > 0):
                q = self.q.at(p, self._row_of(states))
                out[i] = q[counts > 0].min()
            else:  # rows not stored hold 0
                low = values.min(initial=np.inf)
                out[i] = low if len(rows) == self.q.n_rows else min(low, 0.0)
        return out

    def rows(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(q, counts, successor values)`` of ``states`` stacked per member: shape
        (m, len(states), A); successor values are ``None`` without ``psi``."""
        states = np.asarray(states, dtype=np.int64)
        q = self.q.take(self._row_of(states), self.positions)
        counts = self.counts.take(states, self.positions)
        if self.psi is None or self.target is None:
            return q, counts, None
        return q, counts, weighted(self.psi.take(states, self.positions), self.target)

    def covered_keys(self) -> np.ndarray:
        """Sorted ``state * A + action`` of every pair some member's dataset took."""
        keys = [np.zeros(0, dtype=np.int64)]
        for p in self.positions:
            states, counts = self.counts.member(int(p))
            s, a = np.nonzero(counts > 0)
            keys.append(states[s] * counts.shape[1] + a)
        return np.unique(np.concatenate(keys))

    def compact(self) -> Members:
        """The same members over tables holding their rows only."""
        mine = [int(p) for p in self.positions]
        return Members(
            self.q.subset(mine), self.counts.subset(mine), self.weights,
            np.arange(len(mine)), self.key, self.space,
            None if self.psi is None else self.psi.subset(mine), self.target,
        )  # fmt: skip

    def __reduce__(self) -> tuple:
        """Pickle (and deep-copy) the members' own rows, not the layout's whole tables."""
        c = self.compact()
        return (
            Members,
            (c.q, c.counts, c.weights, c.positions, c.key, c.space, c.psi, c.target),
        )
