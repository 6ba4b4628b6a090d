"""``GridSpace``: the one owner of a LeverGrid layout's state encoding and observation.

A state is the agent's cell and the value of every state field (the bits the reward
components own, ``lever_gym.components.fields()``: the lever flag, then a bit per gold still
on the grid). Its index packs them in mixed radix, the cell most significant, then the
fields in order, each in its own bits; with the built-in components that is
``(cell * 2 + lever) * 2**n_gold + mask``. The observation (float32) is the row one-hot, the
column one-hot, then every field's bits in the same order, each field's lowest bit first.
Everything that encodes, decodes or observes a state calls this class; kernels get its
precomputed arrays (``flag_positions``, ``cell_shift``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import lever_gym.components as reward_components
from lever_gym.errors import ObservationError

KEYS = ("state", "cell")
"""Rows of a tabular policy: one per state, or one per cell (position only, as the paper)."""


@dataclass(frozen=True)
class StateField:
    """One field of the state: its name, bits and value at an episode's start."""

    name: str
    bits: int
    initial: int


@dataclass(frozen=True)
class GridSpace:
    """The states and observations of one ``size`` × ``size`` layout with ``fields``."""

    size: int
    fields: tuple[StateField, ...]

    @classmethod
    def of(cls, layout: object) -> GridSpace:
        """The space of a ``Layout`` under the registered components."""
        return _space_of(layout, reward_components.token())

    # -- sizes ------------------------------------------------------------------------------

    @property
    def n_cells(self) -> int:
        """Cells of the grid."""
        return self.size * self.size

    @functools.cached_property
    def cell_shift(self) -> int:
        """Bits below the cell in a state index (every field's)."""
        return sum(f.bits for f in self.fields)

    @property
    def n_states(self) -> int:
        """Number of states: cells times every value of the fields."""
        return self.n_cells << self.cell_shift

    @property
    def obs_dim(self) -> int:
        """Length of an observation: row and column one-hots, then the field bits."""
        return 2 * self.size + self.cell_shift

    def n_rows(self, key: str) -> int:
        """Rows of a Q-table keyed by ``key`` (``KEYS``)."""
        return self.n_states if key == "state" else self.n_cells

    @functools.cached_property
    def flag_positions(self) -> np.ndarray:
        """(cell_shift,) int64: the state-index bit behind each observation entry after the
        one-hots."""
        out, shift = [], self.cell_shift
        for f in self.fields:
            shift -= f.bits
            out += [shift + b for b in range(f.bits)]
        return np.array(out, dtype=np.int64)

    def _field(self, name: str) -> tuple[int, int]:
        """``(shift, bits)`` of the field ``name``."""
        shift = self.cell_shift
        for f in self.fields:
            shift -= f.bits
            if f.name == name:
                return shift, f.bits
        raise ObservationError(
            f"no state field {name!r}; fields are {[f.name for f in self.fields]}."
        )

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, cell: int | np.ndarray, **values: int | np.ndarray) -> np.ndarray | int:
        """The index of the state with ``cell`` and the given field values (a field not given
        takes its initial value)."""
        index = cell
        for f in self.fields:
            index = (index << f.bits) + values.get(f.name, f.initial)
        return index

    def start(self, cell: int) -> int:
        """The state an episode starts in from ``cell``: every field at its initial value."""
        return int(self.encode(int(cell)))

    def cell_of(self, states: np.ndarray | int) -> np.ndarray:
        """The agent's cell in each state."""
        return np.asarray(states, dtype=np.int64) >> self.cell_shift

    def field(self, states: np.ndarray | int, name: str) -> np.ndarray:
        """The value of field ``name`` in each state."""
        shift, bits = self._field(name)
        return (np.asarray(states, dtype=np.int64) >> shift) & ((1 << bits) - 1)

    def fields_of(self, states: np.ndarray | int) -> dict[str, np.ndarray]:
        """Every field's value in each state, by name."""
        return {f.name: self.field(states, f.name) for f in self.fields}

    def row_of(self, states: np.ndarray | int, key: str) -> np.ndarray:
        """The Q-table row of each state under ``key``: the state itself, or its cell."""
        s = np.asarray(states, dtype=np.int64)
        return s if key == "state" else s >> self.cell_shift

    # -- observations -----------------------------------------------------------------------

    def observe(self, states: np.ndarray | int) -> np.ndarray:
        """Observations (float32, shape ``states.shape + (obs_dim,)``) of state indices."""
        s = np.asarray(states, dtype=np.int64)
        flat = s.reshape(-1)
        n = self.size
        cell = flat >> self.cell_shift
        obs = np.zeros((flat.size, self.obs_dim), dtype=np.float32)
        rows = np.arange(flat.size)
        obs[rows, cell // n] = 1.0
        obs[rows, n + cell % n] = 1.0
        obs[:, 2 * n :] = (flat[:, None] >> self.flag_positions) & 1
        return obs.reshape((*s.shape, self.obs_dim))

    def observe_one(self, state: int) -> np.ndarray:
        """Observation of one state index (the fast path of ``observe`` for ``step``)."""
        n = self.size
        cell = state >> self.cell_shift
        obs = np.zeros(self.obs_dim, dtype=np.float32)
        obs[cell // n] = 1.0
        obs[n + cell % n] = 1.0
        if self.cell_shift:
            obs[2 * n :] = self._flag_table[state & ((1 << self.cell_shift) - 1)]
        return obs

    @functools.cached_property
    def _flag_table(self) -> np.ndarray:
        """(2**cell_shift, cell_shift) float32: the observed field bits of every flag value."""
        values = np.arange(1 << self.cell_shift, dtype=np.int64)
        return ((values[:, None] >> self.flag_positions) & 1).astype(np.float32)

    @functools.cached_property
    def _flag_values(self) -> np.ndarray:
        """Per observation entry after the one-hots, its value in the state index."""
        return (1 << self.flag_positions).astype(np.float32)

    def state_from_obs_one(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """State index of one observation (the fast path of ``states_from_obs``).

        ``validate=False`` skips ``check_obs``: any numbers of the right shape then map to
        some state, by the same rule as ``states_from_obs`` (argmax of the row and column
        parts, bits above 0.5)."""
        n = self.size
        if validate:
            obs = self.check_obs(obs, single=True)
        elif getattr(obs, "shape", None) != (self.obs_dim,):
            return int(self.states_from_obs(obs, validate=False))  # raises the shape error
        cell = int(obs[:n].argmax()) * n + int(obs[n : 2 * n].argmax())
        flags = int((obs[2 * n :] > 0.5) @ self._flag_values) if self.cell_shift else 0
        return (cell << self.cell_shift) + flags

    def states_from_obs(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Invert ``observe``: state indices of a batch (or one) of observations, checked by
        ``check_obs`` unless ``validate=False``."""
        if validate:
            o = self.check_obs(obs)
        else:
            o = np.asarray(obs)
            if o.shape[-1:] != (self.obs_dim,):
                self.check_obs(o)  # raises the shape error
        n = self.size
        flat = o.reshape(-1, self.obs_dim)
        cell = np.argmax(flat[:, :n], axis=1) * n + np.argmax(flat[:, n : 2 * n], axis=1)
        flags = np.zeros(len(flat), dtype=np.int64)
        for j, position in enumerate(self.flag_positions.tolist()):
            flags |= (flat[:, 2 * n + j] > 0.5).astype(np.int64) << position
        return ((cell << self.cell_shift) + flags).reshape(o.shape[:-1])

    def check_obs(self, obs: object, *, single: bool = False) -> np.ndarray:
        """``obs`` as an array if it is an observation of this space (``single``: exactly one,
        shape ``(obs_dim,)``; else any shape ``(..., obs_dim)``): numbers, each 0 or 1, one row
        bit and one column bit set. Raises ``ObservationError`` naming what is wrong."""
        n, d = self.size, self.obs_dim
        try:
            o = obs if isinstance(obs, np.ndarray) else np.asarray(obs)
        except (TypeError, ValueError) as e:
            raise ObservationError(f"observation must be an array of numbers; got {obs!r}.") from e
        if o.dtype.kind not in "biuf" or ((o.shape != (d,)) if single else (o.shape[-1:] != (d,))):
            self._refuse_obs(o, single)
        x = o.view(np.uint8) if o.dtype.kind == "b" else o
        if o.ndim == 1:  # the common single observation: a few scalar reductions
            ok = not (x * (x - 1)).any() and x[:n].sum() == 1 and x[n : 2 * n].sum() == 1
        else:
            flat = x.reshape(-1, d)
            ok = not (
                (flat * (flat - 1)).any()  # zero exactly at 0 and 1 (not at NaN or overflow)
                or (flat[:, :n].sum(axis=1) != 1).any()
                or (flat[:, n : 2 * n].sum(axis=1) != 1).any()
            )
        if not ok:
            self._refuse_obs(o, single)
        return o

    def _part(self, col: int) -> str:
        """Which part of an observation entry ``col`` belongs to."""
        n = self.size
        if col < 2 * n:
            return f"{'row' if col < n else 'column'} {col % n}"
        j = col - 2 * n
        for f in self.fields:
            if j < f.bits:
                return f"{f.name} flag" if f.bits == 1 else f"{f.name} bit {j}"
            j -= f.bits
        return "an entry past the end"

    def _refuse_obs(self, o: np.ndarray, single: bool) -> None:
        """Raise the ``ObservationError`` that says what is wrong with ``o``."""
        n, d = self.size, self.obs_dim
        where = f"for this {n}x{n} layout ({', '.join(_describe(f) for f in self.fields)})"
        if o.dtype.kind not in "biuf":
            raise ObservationError(
                f"observation must hold numbers (0 or 1); got dtype {o.dtype} {where}."
            )
        if single and o.ndim > 1 and o.shape[-1:] == (d,):
            raise ObservationError(
                f"policy(obs) takes one observation of shape ({d},) {where}; got a batch of "
                f"shape {o.shape}. Pass batches to predict."
            )
        if (o.shape != (d,)) if single else (o.shape[-1:] != (d,)):
            expected = f"shape ({d},)" if single else f"a last dimension of {d}"
            raise ObservationError(
                f"observation must end in dimension {d} {where} ({expected}); got shape "
                f"{o.shape}. Pass one observation to policy(obs), a batch to predict."
            )
        flat = o.reshape(-1, d)
        bad = np.argwhere((flat != 0) & (flat != 1))
        if len(bad):
            row, col = bad[0]
            raise ObservationError(
                f"observation entry {col} ({self._part(int(col))}) is {flat[row, col].item()!r}; "
                f"every entry must be 0 or 1 {where} (as env.step returns them)."
            )
        for part, lo in (("row", 0), ("column", n)):
            counts = flat[:, lo : lo + n].sum(axis=1, dtype=np.int64)
            if np.any(counts != 1):
                raise ObservationError(
                    f"observation must set exactly one {part} bit (entries {lo}..{lo + n - 1}) "
                    f"{where}; got {int(counts[counts != 1][0])} set."
                )


def _describe(f: StateField) -> str:
    return f"{f.bits} {f.name} bit{'s' if f.bits != 1 else ''}"


@functools.lru_cache(maxsize=64)
def _space_of(layout: object, components: tuple) -> GridSpace:
    fields = tuple(
        StateField(name, int(f.bits(layout)), int(f.initial(layout)))
        for name, f in reward_components.fields()
    )
    return GridSpace(layout.size, fields)  # type: ignore[attr-defined]
