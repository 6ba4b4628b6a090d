"""The exact tabular model of a LeverGrid layout: states, transitions, reward components.

A state is ``(cell, lever, mask)``: the agent's cell, whether the lever is pulled, and a
bit per gold still on the grid (bit ``i`` is ``layout.gold[i]``). Its index is
``(cell * 2 + lever) * 2**n_gold + mask``. The model tabulates, for every state and
action, the next state, the four reward components and the termination flag; the env,
the solver and the trainers all read these tables, so they agree exactly.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from lever_gym.envs.layout import Layout
from lever_gym.envs.rewards import N_ACTIONS, build_tables
from lever_gym.errors import LayoutError, ObservationError
from lever_gym.objective import Objective, weighted

__all__ = [
    "BYTES_PER_STATE",
    "MAX_MODEL_BYTES",
    "MAX_MODEL_BYTES_VAR",
    "N_ACTIONS",
    "TabularModel",
    "check_model_size",
    "max_model_bytes",
    "model_bytes",
    "model_for",
]
BYTES_PER_STATE = 680
"""Peak bytes ``model_for`` allocates per state (measured 667; the kept tables hold 164)."""
MAX_MODEL_BYTES = 2 * 2**30
"""Default limit on a model's estimated memory; ``$LEVER_GYM_MAX_MODEL_BYTES`` overrides it."""
MAX_MODEL_BYTES_VAR = "LEVER_GYM_MAX_MODEL_BYTES"


@dataclass(frozen=True, eq=False)
class TabularModel:
    """Transition and reward tables of one layout; build with ``model_for``. The tables are
    computed on first use (composing a policy from a library needs the state indexing only)."""

    layout: Layout
    shaping: bool

    def __reduce__(self) -> tuple:
        """Pickle as its layout and shaping flag; unpickling rebuilds (or reuses) the tables."""
        return (model_for, (self.layout, self.shaping))

    @functools.cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return build_tables(self.layout, self.shaping)

    @property
    def next_state(self) -> np.ndarray:
        """(n_states, N_ACTIONS) int64: the state after each action."""
        return self._tables[0]

    @property
    def components(self) -> np.ndarray:
        """(n_states, N_ACTIONS, N_COMPONENTS) float64: reward components of each move."""
        return self._tables[1]

    @property
    def terminated(self) -> np.ndarray:
        """(n_states, N_ACTIONS) bool: the move ends the episode (exit or hazard entered)."""
        return self._tables[2]

    @property
    def n_gold(self) -> int:
        """Number of gold on the layout (bits of the mask)."""
        return len(self.layout.gold)

    @property
    def n_states(self) -> int:
        """Number of tabular states, ``size**2 * 2 * 2**n_gold``."""
        return self.layout.n_cells * 2 << self.n_gold

    @property
    def obs_dim(self) -> int:
        """Length of an observation: row and column one-hots, lever flag, gold bits."""
        return 2 * self.layout.size + 1 + self.n_gold

    def state(self, cell: int, lever: int, mask: int) -> int:
        """Index of the state ``(cell, lever, mask)``."""
        return (cell * 2 + lever) * (1 << self.n_gold) + mask

    @property
    def start_state(self) -> int:
        """The layout's start: lever off, every gold on the grid."""
        return self.state(self.layout.start, 0, (1 << self.n_gold) - 1)

    def decode(self, states: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split state indices into ``(cell, lever, mask)`` arrays."""
        s = np.asarray(states, dtype=np.int64)
        mask = s & ((1 << self.n_gold) - 1)
        rest = s >> self.n_gold
        return rest >> 1, rest & 1, mask

    def observe(self, states: np.ndarray | int) -> np.ndarray:
        """Observations (float32, shape ``states.shape + (obs_dim,)``) of state indices."""
        s = np.asarray(states, dtype=np.int64)
        flat = s.reshape(-1)
        n = self.layout.size
        cell, lever, mask = self.decode(flat)
        obs = np.zeros((flat.size, self.obs_dim), dtype=np.float32)
        rows = np.arange(flat.size)
        obs[rows, cell // n] = 1.0
        obs[rows, n + cell % n] = 1.0
        obs[:, 2 * n] = lever
        if self.n_gold:
            bits = (mask[:, None] >> np.arange(self.n_gold)) & 1
            obs[:, 2 * n + 1 :] = bits
        return obs.reshape((*s.shape, self.obs_dim))

    def observe_one(self, state: int) -> np.ndarray:
        """Observation of one state index (the fast path of ``observe`` for ``step``)."""
        n, g = self.layout.size, self.n_gold
        rest = state >> g
        cell = rest >> 1
        obs = np.zeros(self.obs_dim, dtype=np.float32)
        obs[cell // n] = 1.0
        obs[n + cell % n] = 1.0
        obs[2 * n] = rest & 1
        if g:
            obs[2 * n + 1 :] = _gold_bits(g)[state & ((1 << g) - 1)]
        return obs

    def check_obs(self, obs: object, *, single: bool = False) -> np.ndarray:
        """``obs`` as an array if it is an observation of this layout (``single``: exactly one,
        shape ``(obs_dim,)``; else any shape ``(..., obs_dim)``): numbers, each 0 or 1, one row
        bit and one column bit set. Raises ``ObservationError`` naming what is wrong."""
        n, d = self.layout.size, self.obs_dim
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

    def _refuse_obs(self, o: np.ndarray, single: bool) -> None:
        """Raise the ``ObservationError`` that says what is wrong with ``o``."""
        n, d = self.layout.size, self.obs_dim
        where = f"for this {n}x{n} layout with {self.n_gold} gold"
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
                f"observation entry {col} ({_part(col, n)}) is {flat[row, col].item()!r}; "
                f"every entry must be 0 or 1 {where} (as env.step returns them)."
            )
        for part, lo in (("row", 0), ("column", n)):
            counts = flat[:, lo : lo + n].sum(axis=1, dtype=np.int64)
            if np.any(counts != 1):
                raise ObservationError(
                    f"observation must set exactly one {part} bit (entries {lo}..{lo + n - 1}) "
                    f"{where}; got {int(counts[counts != 1][0])} set."
                )

    def state_from_obs_one(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """State index of one observation (the fast path of ``states_from_obs``).

        ``validate=False`` skips ``check_obs``: any numbers of the right shape then map to
        some state, by the same rule as ``states_from_obs`` (argmax of the row and column
        parts, bits above 0.5)."""
        n, g = self.layout.size, self.n_gold
        if validate:
            obs = self.check_obs(obs, single=True)
        elif getattr(obs, "shape", None) != (self.obs_dim,):
            return int(self.states_from_obs(obs, validate=False))  # raises the shape error
        cell = int(obs[:n].argmax()) * n + int(obs[n : 2 * n].argmax())
        mask = int((obs[2 * n + 1 :] > 0.5) @ _powers(g)) if g else 0
        return ((cell * 2 + (1 if obs[2 * n] > 0.5 else 0)) << g) + mask

    def states_from_obs(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Invert ``observe``: state indices of a batch (or one) of observations, checked by
        ``check_obs`` unless ``validate=False``."""
        if validate:
            o = self.check_obs(obs)
        else:
            o = np.asarray(obs)
            if o.shape[-1:] != (self.obs_dim,):
                self.check_obs(o)  # raises the shape error
        n = self.layout.size
        flat = o.reshape(-1, self.obs_dim)
        cell = np.argmax(flat[:, :n], axis=1) * n + np.argmax(flat[:, n : 2 * n], axis=1)
        lever = (flat[:, 2 * n] > 0.5).astype(np.int64)
        mask = np.zeros(len(flat), dtype=np.int64)
        for i in range(self.n_gold):
            mask |= (flat[:, 2 * n + 1 + i] > 0.5).astype(np.int64) << i
        states = (cell * 2 + lever) * (1 << self.n_gold) + mask
        return states.reshape(o.shape[:-1])

    def reward(self, weights: Objective | np.ndarray) -> np.ndarray:
        """(n_states, N_ACTIONS) scalar rewards under ``weights`` (see ``weighted``); read-only,
        cached per objective."""
        w = weights.weights if isinstance(weights, Objective) else weights
        return _reward_table(self, tuple(float(x) for x in w))

    def success(self, states: np.ndarray | int, objective: Objective) -> np.ndarray:
        """Whether each state meets every active goal: at the exit, all gold if gold is
        weighted, the lever pulled if the lever is weighted (hazards end the episode)."""
        cell, lever, mask = self.decode(states)
        ok = cell == self.layout.exit
        if objective.weight("gold") != 0:
            ok &= mask == 0
        if objective.weight("lever") != 0:
            ok &= lever == 1
        return ok


def _part(col: int, n: int) -> str:
    """Which part of an observation entry ``col`` belongs to (size ``n``)."""
    if col < 2 * n:
        return f"{'row' if col < n else 'column'} {col % n}"
    return "lever flag" if col == 2 * n else f"gold bit {col - 2 * n - 1}"


@functools.lru_cache(maxsize=32)
def _reward_table(model: TabularModel, weights: tuple[float, ...]) -> np.ndarray:
    table = weighted(model.components, weights)
    table.setflags(write=False)
    return table


@functools.cache
def _gold_bits(n_gold: int) -> np.ndarray:
    """(2**n_gold, n_gold) float32 table: the gold bits of every mask."""
    masks = np.arange(1 << n_gold)
    return ((masks[:, None] >> np.arange(n_gold)) & 1).astype(np.float32)


@functools.cache
def _powers(n_gold: int) -> np.ndarray:
    """Bit values of the gold flags, to read a mask with one dot product."""
    return (1 << np.arange(n_gold)).astype(np.float32)


def model_bytes(layout: Layout) -> int:
    """Estimated peak memory of ``model_for(layout)`` in bytes (``BYTES_PER_STATE`` a state)."""
    return layout.n_cells * 2 * (1 << len(layout.gold)) * BYTES_PER_STATE


def max_model_bytes() -> int:
    """The memory limit of one model: ``$LEVER_GYM_MAX_MODEL_BYTES`` or ``MAX_MODEL_BYTES``."""
    text = os.environ.get(MAX_MODEL_BYTES_VAR)
    if text is None:
        return MAX_MODEL_BYTES
    if not text.strip().isdigit() or int(text) < 1:
        raise LayoutError(
            f"{MAX_MODEL_BYTES_VAR} must be a positive number of bytes; got {text!r}. Unset it "
            f"for the default ({MAX_MODEL_BYTES:,} bytes)."
        )
    return int(text)


def check_model_size(layout: Layout) -> None:
    """Raise ``LayoutError`` before allocating if the model of ``layout`` would need more
    memory than ``max_model_bytes()``."""
    need, limit = model_bytes(layout), max_model_bytes()
    if need > limit:
        n, g = layout.size, len(layout.gold)
        raise LayoutError(
            f"the {n}x{n} layout with {g} gold has {layout.n_cells * 2 << g:,} states; its "
            f"tabular model needs about {need / 2**30:.1f} GiB, above the limit of "
            f"{limit / 2**30:.1f} GiB. Use fewer gold (each doubles the states) or a smaller "
            f"grid, or raise the limit with {MAX_MODEL_BYTES_VAR}=<bytes>."
        )


@functools.lru_cache(maxsize=8)
def model_for(layout: Layout, shaping: bool = True) -> TabularModel:
    """The tabular model of ``layout`` (one per layout and shaping flag); raise
    ``LayoutError`` first if its tables would exceed the memory limit (``check_model_size``)."""
    check_model_size(layout)
    return TabularModel(layout, bool(shaping))
