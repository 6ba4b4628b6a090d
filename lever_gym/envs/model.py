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

from lever_gym.envs.layout import MOVES, Layout
from lever_gym.errors import LayoutError, ObservationError
from lever_gym.objective import COMPONENTS, Objective, weighted

N_ACTIONS = len(MOVES)
BYTES_PER_STATE = 680
"""Peak bytes ``model_for`` allocates per state (measured 667; the kept tables hold 164)."""
MAX_MODEL_BYTES = 2 * 2**30
"""Default limit on a model's estimated memory; ``$LEVER_GYM_MAX_MODEL_BYTES`` overrides it."""
MAX_MODEL_BYTES_VAR = "LEVER_GYM_MAX_MODEL_BYTES"


@dataclass(frozen=True)
class RewardTerms:
    """The constants of the reward components (modelled on the paper's, notes section 3)."""

    path_exit: float = 100.0
    path_step: float = -0.1
    gold_pickup: float = 5.0
    gold_exit_all: float = 100.0
    gold_exit_missing: float = -10.0
    """Scaled by the fraction of gold left when the exit is reached without all of it."""
    gold_step: float = -0.01
    hazard_hit: float = -100.0
    hazard_proximity: float = 2.0
    """Per hazard neighbour left behind (a potential difference, so it is shaping)."""
    hazard_exit: float = 100.0
    hazard_step: float = -0.1
    lever_pickup: float = 20.0
    lever_exit_on: float = 80.0
    lever_exit_off: float = 20.0
    lever_step: float = -0.1


TERMS = RewardTerms()


@dataclass(frozen=True, eq=False)
class TabularModel:
    """Transition and reward tables of one layout; build with ``model_for``."""

    layout: Layout
    shaping: bool
    next_state: np.ndarray
    """(n_states, N_ACTIONS) int64: the state after each action."""
    components: np.ndarray
    """(n_states, N_ACTIONS, N_COMPONENTS) float64: reward components of each move."""
    terminated: np.ndarray
    """(n_states, N_ACTIONS) bool: the move ends the episode (exit or hazard entered)."""

    def __reduce__(self) -> tuple:
        """Pickle as its layout and shaping flag; unpickling rebuilds (or reuses) the tables."""
        return (model_for, (self.layout, self.shaping))

    @property
    def n_gold(self) -> int:
        """Number of gold on the layout (bits of the mask)."""
        return len(self.layout.gold)

    @property
    def n_states(self) -> int:
        """Number of tabular states, ``size**2 * 2 * 2**n_gold``."""
        return int(self.next_state.shape[0])

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
    """Build (once per layout and shaping flag) the tabular model of ``layout``; raise
    ``LayoutError`` first if it would exceed the memory limit (``check_model_size``)."""
    check_model_size(layout)
    lay = layout
    n, n_cells, n_gold = lay.size, lay.n_cells, len(lay.gold)
    n_masks = 1 << n_gold
    sh = 1.0 if shaping else 0.0

    next_cell = np.empty((n_cells, N_ACTIONS), dtype=np.int64)
    for c in range(n_cells):
        r, col = divmod(c, n)
        for a, (dr, dc) in enumerate(MOVES):
            rr, cc = r + dr, col + dc
            ok = 0 <= rr < n and 0 <= cc < n and rr * n + cc not in lay.walls
            next_cell[c, a] = rr * n + cc if ok else c

    d_exit = lay.distances([lay.exit]).astype(np.float64)
    d_lever = lay.distances([lay.lever]).astype(np.float64)
    d_gold = np.zeros((n_masks, n_cells))
    per_gold = [lay.distances([g]).astype(np.float64) for g in lay.gold]
    for m in range(1, n_masks):
        low = (m & -m).bit_length() - 1
        rest = m & (m - 1)
        d_gold[m] = per_gold[low] if rest == 0 else np.minimum(d_gold[rest], per_gold[low])
    hazard_cell = np.zeros(n_cells, dtype=bool)
    hazard_cell[list(lay.hazards)] = True
    near_hazards = np.array(
        [sum(hazard_cell[x] for x in lay.neighbours(c)) for c in range(n_cells)]
    )
    gold_bit = np.zeros(n_cells, dtype=np.int64)
    for i, g in enumerate(lay.gold):
        gold_bit[g] = 1 << i
    popcount = np.array([bin(m).count("1") for m in range(n_masks)], dtype=np.float64)

    n_states = n_cells * 2 * n_masks
    s = np.arange(n_states, dtype=np.int64)
    mask = s & (n_masks - 1)
    lever = (s >> n_gold) & 1
    cell = s >> (n_gold + 1)
    c2 = next_cell[cell]  # (S, A)
    bit = gold_bit[c2]
    collected = (mask[:, None] & bit) != 0
    mask2 = mask[:, None] & ~bit
    pulled = (lever[:, None] == 0) & (c2 == lay.lever)
    lever2 = lever[:, None] | pulled
    at_exit = c2 == lay.exit
    at_hazard = hazard_cell[c2]
    toward_exit = d_exit[cell][:, None] - d_exit[c2]

    t = TERMS
    path = sh * toward_exit + t.path_step + at_exit * t.path_exit
    gold_shape = np.where(
        mask[:, None] > 0, d_gold[mask, cell][:, None] - d_gold[mask[:, None], c2], toward_exit
    )
    gold_exit = np.where(
        mask2 == 0, t.gold_exit_all, t.gold_exit_missing * popcount[mask2] / max(n_gold, 1)
    )
    gold = collected * t.gold_pickup + sh * gold_shape + t.gold_step + at_exit * gold_exit
    proximity = t.hazard_proximity * (near_hazards[cell][:, None] - near_hazards[c2])
    hazard = (
        at_hazard * t.hazard_hit
        + sh * (proximity + toward_exit)
        + t.hazard_step
        + at_exit * t.hazard_exit
    )
    lever_shape = np.where(lever[:, None] == 0, d_lever[cell][:, None] - d_lever[c2], toward_exit)
    lever_exit = np.where(lever2 == 1, t.lever_exit_on, t.lever_exit_off)
    lever_c = pulled * t.lever_pickup + sh * lever_shape + t.lever_step + at_exit * lever_exit

    by_name = {"path": path, "gold": gold, "hazard": hazard, "lever": lever_c}
    components = np.stack([by_name[c] for c in COMPONENTS], axis=-1)
    next_state = ((c2 * 2 + lever2) << n_gold) + mask2
    terminated = at_exit | at_hazard

    # Agents never stand on walls, and exit/hazard cells end the episode: make those
    # states absorbing with zero reward so that values there are 0.
    dead = np.zeros(n_cells, dtype=bool)
    dead[list(lay.walls) + list(lay.hazards) + [lay.exit]] = True
    dead_state = dead[cell]
    next_state[dead_state] = s[dead_state][:, None]
    components[dead_state] = 0.0
    terminated[dead_state] = True

    for arr in (next_state, components, terminated):
        arr.setflags(write=False)
    return TabularModel(lay, bool(shaping), next_state, components, terminated)
