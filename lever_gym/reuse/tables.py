"""A layout's policies stacked in plain arrays: what composing and scoring read.

``RowTables`` holds the sparse tables of many policies in one sorted array, so looking up a
batch of states for any subset of them is one ``searchsorted``. ``LayoutTables`` stacks
every policy of one library layout (Q-values, dataset counts, successor features) and
keeps their values on the states the layout's data records, the only states offline
scoring and GPI ever read. It depends on the library alone, not on any objective: built
once per layout (``layout_tables``), it serves every query on that layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lever_gym.envs.model import N_ACTIONS
from lever_gym.envs.space import GridSpace
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.store import Library
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.support import SupportGraph, greedy_rows
from lever_gym.mdp.walk import WalkBatch, WalkGraph

KEPT_WALKS = 8
"""Start sets whose member walks a ``LayoutTables`` keeps (the oldest goes first)."""


@dataclass(frozen=True, eq=False)
class RowTables:
    """``n_members`` tables of ``n_rows`` rows each, stored on some rows only: member ``i``'s
    row ``r`` is at key ``i * n_rows + r`` of the sorted ``keys``; a row not stored reads
    ``fill``. ``values`` has one entry per key (shape ``(len(keys), *row_shape)``)."""

    keys: np.ndarray
    values: np.ndarray
    n_members: int
    n_rows: int
    fill: float

    @classmethod
    def stack(
        cls, parts: Sequence[tuple[np.ndarray, np.ndarray]], n_rows: int, fill: float
    ) -> RowTables:
        """Stack ``(rows, values)`` per member (rows sorted and distinct; one member at
        least). The stacked arrays are read-only: every composition on a layout shares them."""
        if not parts:
            raise ConfigError("RowTables.stack needs the rows of one member at least.")
        keys = np.concatenate(
            [i * n_rows + np.asarray(rows, dtype=np.int64) for i, (rows, _) in enumerate(parts)]
        )
        values = np.concatenate([v for _, v in parts])
        return cls(read_only(keys), read_only(values), len(parts), n_rows, fill)

    def take(
        self, rows: np.ndarray, members: np.ndarray | Sequence[int] | None = None
    ) -> np.ndarray:
        """Values of ``rows`` for ``members`` (all if ``None``): shape
        ``(len(members), len(rows), *row_shape)``."""
        members = np.arange(self.n_members) if members is None else np.asarray(members)
        return self.at(np.asarray(members)[:, None], np.asarray(rows)[None, :])

    def at(self, members: np.ndarray | int, rows: np.ndarray | int) -> np.ndarray:
        """Values of row ``rows[i]`` of member ``members[i]`` (broadcast together); a row
        outside ``[0, n_rows)`` raises ``ConfigError`` (it would read another member's)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self.n_rows):
            raise ConfigError(
                f"rows must lie in [0, {self.n_rows}); got {int(rows.min())}..{int(rows.max())}."
            )
        wanted = np.asarray(members, dtype=np.int64) * self.n_rows + rows
        if not len(self.keys):
            return np.full(wanted.shape + self.values.shape[1:], self.fill, self.values.dtype)
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        out = self.values[at]
        out[self.keys[at] != wanted] = self.fill
        return out

    def dense_on(self, rows: np.ndarray) -> np.ndarray:
        """``take(rows)`` for every member, by one pass over the stored keys (cheaper than a
        lookup per row when the rows are many): ``rows`` sorted and distinct."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(
            (self.n_members, len(rows), *self.values.shape[1:]), self.fill, self.values.dtype
        )
        if len(rows) and len(self.keys):
            member, row = np.divmod(self.keys, self.n_rows)
            at = np.minimum(np.searchsorted(rows, row), len(rows) - 1)
            hit = rows[at] == row
            out[member[hit], at[hit]] = self.values[hit]
        return out

    def member(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, values)`` of member ``i``."""
        lo, hi = np.searchsorted(self.keys, [i * self.n_rows, (i + 1) * self.n_rows])
        return self.keys[lo:hi] - i * self.n_rows, self.values[lo:hi]

    def subset(self, members: Sequence[int]) -> RowTables:
        """The tables of ``members`` alone, in that order."""
        return RowTables.stack([self.member(int(i)) for i in members], self.n_rows, self.fill)


@dataclass(frozen=True, eq=False)
class StackedTables:
    """Several tabular policies stacked (``RowTables``): Q-values (a row per state, or per
    cell with ``key="cell"``; unstored rows are 0), dataset counts and ψ (NaN: unrecorded)."""

    q: RowTables
    counts: RowTables
    psi: RowTables
    key: str
    space: GridSpace

    def subset(self, positions: Sequence[int]) -> StackedTables:
        """The tables of ``positions`` alone, in that order."""
        return StackedTables(
            self.q.subset(positions), self.counts.subset(positions), self.psi.subset(positions),
            self.key, self.space,
        )  # fmt: skip


def read_only(a: np.ndarray) -> np.ndarray:
    """``a``, marked read-only."""
    a.setflags(write=False)
    return a


def rows_of_keys(
    keys: np.ndarray, values: np.ndarray, fill: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(states, rows)``: values given per sorted ``state * N_ACTIONS + action`` key, as one
    row of ``N_ACTIONS`` entries per state (``fill`` where an action has no key)."""
    keys = np.asarray(keys, dtype=np.int64)
    own = keys // N_ACTIONS  # sorted, as the keys
    first = np.ones(len(own), dtype=bool)
    first[1:] = own[1:] != own[:-1]
    rows = np.full((int(first.sum()), N_ACTIONS, *values.shape[1:]), fill, dtype=values.dtype)
    rows[np.cumsum(first) - 1, keys % N_ACTIONS] = values
    return own[first], rows


@dataclass(frozen=True, eq=False)
class Entries:
    """Per-pair records of the stacked policies on ``LayoutTables.states``: the policy, the
    pair ``position * N_ACTIONS + action`` (``position`` in ``states``) and a value per
    entry, sorted by pair, then policy."""

    member: np.ndarray
    pair: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class LayoutTables:
    """Every policy of one layout, stacked in the manifest's order (``ids``)."""

    ids: tuple[str, ...]
    key: str
    """Q-table rows: ``state`` (one per state) or ``cell`` (one per grid cell)."""
    space: GridSpace
    q: RowTables
    counts: RowTables
    psi: RowTables
    """ψ per recorded state: ``(A, N_COMPONENTS)`` rows, NaN where the data lacks the action."""
    empirical: EmpiricalModel
    """The union of the layout's datasets."""
    states: np.ndarray
    """Sorted states the data records, and the layout's start."""
    q_on: np.ndarray
    """(m, len(states), A) each policy's Q-values on ``states``."""
    counts_on: np.ndarray
    """(m, len(states), A) each policy's dataset counts on ``states``."""
    support: Entries
    """Pairs of ``states`` each policy's dataset took, with their counts."""
    successor: Entries
    """The same pairs with the policy's ψ there (``values``: (E, N_COMPONENTS), stored by
    column: ``ψ · w`` reads one column per component)."""
    pairs: np.ndarray
    """(m, len(empirical.keys)) bool: the union's rows each policy's dataset took."""
    walks: WalkGraph
    _position: dict[str, int] = field(init=False, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    """What depends on the layout alone, computed once: member walks, the support graph."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_position", {pid: i for i, pid in enumerate(self.ids)})

    @property
    def stacked(self) -> StackedTables:
        r"""The stacked Q-values, counts and ψ that this layout's ``TabularMember``\ s read
        (one object, so members of one layout answer in one lookup)."""
        if "stacked" not in self._cache:
            self._cache["stacked"] = StackedTables(
                self.q, self.counts, self.psi, self.key, self.space
            )
        return self._cache["stacked"]

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """The index of each policy id in the stacked tables."""
        return np.array([self._position[pid] for pid in ids], dtype=np.int64)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        key: str,
        space: GridSpace,
        arrays: Sequence[dict[str, np.ndarray]],
        empirical: EmpiricalModel,
        start: int,
    ) -> LayoutTables:
        """Stack the checked sparse ``arrays`` of a layout's policies (``policy.npz``
        fields, ``lever_gym.library.format.contents``) over its union ``empirical``."""
        n_states, n_q_rows = space.n_states, space.n_rows(key)
        q = RowTables.stack(
            [(a["q_rows"], a["q_values"].astype(np.float64)) for a in arrays], n_q_rows, 0.0
        )
        counts = RowTables.stack(
            [rows_of_keys(a["support_keys"], a["support_counts"].astype(np.int32), 0)
             for a in arrays], n_states, 0,
        )  # fmt: skip
        psi = RowTables.stack(
            [rows_of_keys(a["psi_keys"], a["psi"].astype(np.float64), np.nan) for a in arrays],
            n_states, np.nan,
        )  # fmt: skip
        states = np.union1d(empirical.states(), [start])
        counts_on = counts.dense_on(states)
        m = len(arrays)
        pair, member = np.nonzero(counts_on.reshape(m, -1).T > 0)  # sorted by pair, then member
        state, action = states[pair // N_ACTIONS], pair % N_ACTIONS
        psi_on = psi.at(member, state)[np.arange(len(pair)), action]
        used = ~np.isnan(psi_on).any(axis=1)
        pairs = np.zeros((m, len(empirical.keys)), dtype=bool)
        for i, a in enumerate(arrays):  # the union's rows of each policy's own pairs
            rows = empirical.rows(a["psi_keys"] // N_ACTIONS, a["psi_keys"] % N_ACTIONS)
            pairs[i, rows[rows >= 0]] = True
        q_on = q.dense_on(states) if key == "state" else q.take(space.row_of(states, key))
        support = [member, pair, counts_on.reshape(m, -1)[member, pair]]
        successor = [member[used], pair[used], np.asfortranarray(psi_on[used])]
        for a in (states, q_on, counts_on, pairs, *support, *successor):
            read_only(a)
        return cls(
            tuple(ids), key, space, q, counts, psi, empirical, states, q_on, counts_on,
            Entries(*support), Entries(*successor), pairs, WalkGraph.of(empirical, states),
        )  # fmt: skip

    @property
    def n_states(self) -> int:
        """States of the layout (rows of every count table)."""
        return self.counts.n_rows

    def greedy_walks(self, starts: np.ndarray, horizon: int) -> WalkBatch:
        """Per policy and start (row ``i * len(starts) + j``), the walk of policy ``i``
        acting greedily in its own Q-table (over every action) from ``starts[j]`` through
        the layout's data (cached: it depends on no objective)."""
        key = ("walks", tuple(np.asarray(starts).tolist()), horizon)
        if key not in self._cache:
            kept = [k for k in self._cache if k[0] == "walks"]
            if len(kept) >= KEPT_WALKS:  # start sets vary with the scoring seed: keep a few
                del self._cache[kept[0]]
            walks = []
            for actions in np.argmax(self.q_on, axis=2):
                walks += [self.walks.walk(actions, int(s), horizon) for s in starts]
            self._cache[key] = WalkBatch.of(walks)
        return self._cache[key]

    def support_graph(self, members: np.ndarray) -> SupportGraph:
        """The support graph of the layout's data restricted to the rows some of
        ``members``' datasets took (kept for the whole data)."""
        mask = self.pairs[np.asarray(members)].any(axis=0)
        if not mask.all():
            return SupportGraph.of(self.empirical.subset(np.flatnonzero(mask)))
        if "graph" not in self._cache:
            self._cache["graph"] = SupportGraph.of(self.empirical)
        return self._cache["graph"]


def layout_tables(library: Library, size: int, layout_seed: int) -> LayoutTables:
    """Every policy of one layout of ``library`` stacked, built once (kept in
    ``library.derived``) from their checked files and the layout's union of datasets."""
    key = ("tables", size, layout_seed)
    if key not in library.derived:
        records = library.layout_library(size, layout_seed).layout_records(size, layout_seed)
        keys = {r.key for r in records}
        if len(keys) != 1:
            raise LibraryError(
                f"the {size}x{size} layout {layout_seed} of {library.root} mixes Q-table keys "
                f"{sorted(keys)}; a library uses one. Rebuild it."
            )
        model = library.model(records[0])
        library.derived[key] = LayoutTables.build(
            [r.id for r in records], keys.pop(), model.space,
            [library.policy_arrays(r) for r in records], library.empirical(size, layout_seed),
            model.start_state,
        )  # fmt: skip
    return library.derived[key]


def own_values(library: Library, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
    """``(states, psi)``: every state the policy's data records and the successor features of
    the action it takes there (greedy in its Q-values among the recorded actions); ``psi @
    w`` is its value from that state under ``w`` (kept in ``library.derived``)."""
    key = ("own", record.id)
    if key not in library.derived:
        arrays = library.policy_arrays(record)
        keys, psi = arrays["psi_keys"], arrays["psi"]
        states, actions = keys // N_ACTIONS, keys % N_ACTIONS
        space = library.model(record).space
        q = RowTables.stack([(arrays["q_rows"], arrays["q_values"])], space.n_rows(record.key), 0.0)
        rows = q.at(0, space.row_of(states, record.key))
        first = np.flatnonzero(np.r_[True, states[1:] != states[:-1]])
        choice = greedy_rows(rows[np.arange(len(keys)), actions], first)
        library.derived[key] = (states[first], psi[choice])
    return library.derived[key]
