"""The members of a composition: the ``Member`` protocol, tabular members, and the group.

A ``Member`` answers, for the states asked, its Q-values, its successor features and its
support (the visit counts of its dataset), and names itself by ``id``; nothing asks a member
for a table over every state, so a member can be a network as well as a table.
``TabularMember`` is one policy of a library layout, read from the layout's stacked tables
(``StackedTables``) by position. ``Members`` is what ``ComposedQ`` reads: the members of one
composition, the factor on each one's Q-values and the target weights of ``ψ · w``; members
that share stacked tables answer in one lookup, and a pickle holds their own rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from lever_gym.envs.space import GridSpace
from lever_gym.errors import ConfigError
from lever_gym.objective import weighted
from lever_gym.reuse.tables import RowTables, StackedTables


@runtime_checkable
class Member(Protocol):
    """A library member, answering for a batch of state indices ``states`` (shape ``(n,)``)."""

    @property
    def id(self) -> str:
        """The member's policy id."""
        ...

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """``(n, A)`` Q-values."""
        ...

    def successor_features(self, states: np.ndarray) -> np.ndarray:
        """``(n, A, n_components)`` successor features; NaN where its data has no value."""
        ...

    def support(self, states: np.ndarray) -> np.ndarray:
        """``(n, A)`` visit counts of its dataset (0: unsupported)."""
        ...


@dataclass(frozen=True, eq=False)
class TabularMember:
    """Policy ``position`` of ``tables``, as a ``Member``."""

    id: str
    tables: StackedTables
    position: int

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.q_values``."""
        rows = self.tables.space.row_of(states, self.tables.key)
        return self.tables.q.at(self.position, rows)

    def successor_features(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.successor_features``."""
        return self.tables.psi.at(self.position, np.asarray(states, dtype=np.int64))

    def support(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.support``."""
        return self.tables.counts.at(self.position, np.asarray(states, dtype=np.int64))

    def lowest_supported_q(self) -> float:
        """Its lowest Q-value on its support (its lowest Q if it has none): what
        ``support_mode="pessimistic"`` counts an unsupported entry as."""
        t = self.tables
        states, counts = t.counts.member(self.position)
        rows, values = t.q.member(self.position)
        if np.any(counts > 0):
            q = t.q.at(self.position, t.space.row_of(states, t.key))
            return float(q[counts > 0].min())
        low = float(values.min(initial=np.inf))  # rows not stored hold 0
        return low if len(rows) == t.q.n_rows else min(low, 0.0)

    def covered_keys(self) -> np.ndarray:
        """Sorted ``state * A + action`` of every pair its dataset took."""
        states, counts = self.tables.counts.member(self.position)
        s, a = np.nonzero(counts > 0)
        return states[s] * counts.shape[1] + a


@dataclass(frozen=True, eq=False)
class Members:
    """The members of one composition, the factor on each one's Q-values (``weights``),
    the target weights of ``ψ · w`` (``None`` for Q-value operators) and the number of states
    of their layout."""

    members: tuple[Member, ...]
    weights: np.ndarray
    n_states: int
    target: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """One weight per member, one member at least."""
        if not self.members or np.shape(self.weights) != (len(self.members),):
            raise ConfigError(
                f"members need one or more members and one weight each; got "
                f"{len(self.members)} member(s) and weights of shape {np.shape(self.weights)}."
            )

    @classmethod
    def of_tables(
        cls,
        tables: StackedTables,
        positions: Sequence[int] | np.ndarray,
        ids: Sequence[str],
        weights: np.ndarray,
        target: Sequence[float] | None = None,
    ) -> Members:
        """The policies ``positions`` (ids ``ids``) of ``tables`` as members."""
        return cls(
            tuple(TabularMember(i, tables, int(p)) for i, p in zip(ids, positions, strict=True)),
            np.asarray(weights, dtype=np.float64), tables.counts.n_rows,
            None if target is None else tuple(float(x) for x in target),
        )  # fmt: skip

    @classmethod
    def of_arrays(
        cls,
        q: Sequence[np.ndarray],
        counts: Sequence[np.ndarray],
        weights: np.ndarray,
        psi: Sequence[np.ndarray] | None = None,
        target: Sequence[float] | None = None,
        space: GridSpace | None = None,
    ) -> Members:
        """Members from dense per-member tables: ``q`` and ``counts`` (n, A) each, ``psi``
        (n, A, n_components) each with NaN where unrecorded (NaN everywhere if omitted)."""
        shapes = {np.shape(a) for a in (*q, *counts)}
        if len(q) != len(counts) or len(q) != len(weights) or len(shapes) != 1 or not len(q):
            raise ConfigError(
                f"members need m Q-tables and m count tables of one shape (n_states, A) "
                f"and m weights, m >= 1; got {len(q)}, {len(counts)}, {len(weights)}, "
                f"shapes {sorted(shapes)}."
            )
        n, a = np.shape(q[0])
        every = np.arange(n)
        width = len(target) if target is not None else 1
        psi = psi if psi is not None else [np.full((n, a, width), np.nan)] * len(q)
        tables = StackedTables(
            RowTables.stack([(every, np.asarray(t, dtype=np.float64)) for t in q], n, 0.0),
            RowTables.stack([(every, np.asarray(c)) for c in counts], n, 0),
            RowTables.stack([(every, np.asarray(p, dtype=np.float64)) for p in psi], n, np.nan),
            "state", space if space is not None else GridSpace(0, ()),
        )  # fmt: skip
        return cls.of_tables(tables, range(len(q)), [f"m{i}" for i in range(len(q))], weights,
                             target)  # fmt: skip

    def _shared(self) -> tuple[StackedTables, np.ndarray] | None:
        """``(tables, positions)`` when every member is a ``TabularMember`` of one stack."""
        first = self.members[0]
        if not isinstance(first, TabularMember):
            return None
        if not all(isinstance(m, TabularMember) and m.tables is first.tables for m in self.members):
            return None
        return first.tables, np.array([m.position for m in self.members], dtype=np.int64)  # type: ignore[attr-defined]

    def rows(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(q, counts, successor values)`` of ``states`` stacked per member: shape
        (m, len(states), A); successor values (``ψ · target``) are ``None`` without a target."""
        states = np.asarray(states, dtype=np.int64)
        shared = self._shared()
        if shared is not None:
            t, positions = shared
            q = t.q.take(t.space.row_of(states, t.key), positions)
            counts = t.counts.take(states, positions)
            psi = None if self.target is None else t.psi.take(states, positions)
        else:
            q = np.stack([m.q_values(states) for m in self.members])
            counts = np.stack([m.support(states) for m in self.members])
            psi = None
            if self.target is not None:
                psi = np.stack([m.successor_features(states) for m in self.members])
        if psi is None or self.target is None:
            return q, counts, None
        return q, counts, weighted(psi, self.target)

    def pessimistic(self) -> np.ndarray:
        """(m,) each member's lowest Q-value on its support (``lowest_supported_q``)."""
        missing = [m.id for m in self.members if not hasattr(m, "lowest_supported_q")]
        if missing:
            raise ConfigError(
                f"support_mode='pessimistic' needs each member's lowest supported Q-value; "
                f"{', '.join(missing)} cannot give it. Use support_mode='exclude'."
            )
        return np.array([m.lowest_supported_q() for m in self.members])  # type: ignore[attr-defined]

    def covered_keys(self) -> np.ndarray | None:
        """Sorted ``state * A + action`` of every pair some member's dataset took (``None``
        if a member cannot list its support)."""
        if not all(hasattr(m, "covered_keys") for m in self.members):
            return None
        keys = [np.zeros(0, dtype=np.int64)]
        keys += [m.covered_keys() for m in self.members]  # type: ignore[attr-defined]
        return np.unique(np.concatenate(keys))

    def compact(self) -> Members:
        """The same members, tabular ones over tables holding their own rows only."""
        shared = self._shared()
        if shared is None:
            return self
        tables, positions = shared
        return Members.of_tables(
            tables.subset(positions.tolist()), range(len(positions)),
            [m.id for m in self.members], self.weights, self.target,
        )  # fmt: skip

    def __reduce__(self) -> tuple:
        """Pickle (and deep-copy) the members' own rows, not the layout's whole tables."""
        c = self.compact()
        return (Members, (c.members, c.weights, c.n_states, c.target))
