"""Observation modes: what an agent sees of a LeverGrid state (``obs_mode``).

- ``"state"`` (the default): ``GridSpace``'s observation, row and column one-hots then the
  field bits. It determines the state but shows nothing of the layout, so a policy on it
  cannot move to another layout.
- ``"view"``: an egocentric ``view_size`` × ``view_size`` window centred on the agent (7 by
  default, as the paper's MiniGrid envs), one channel per ``CHANNELS`` entry; cells outside
  the grid are walls. It does not determine the state (a window can recur elsewhere).
- ``"grid"``: the whole N × N grid with the same channels (the agent channel marks the
  agent). It determines the state.

Every mode is a flat float32 vector of 0s and 1s: the planes in row-major order, each cell's
channels together (``planes`` reshapes them to ``(..., rows, cols, channels)``), then in the
view and grid modes one bit per bit of every state field not drawn on a plane (the lever flag
with the built-in components; gold is drawn on the gold plane, present while its bit is set).
Observations are computed from state indices, so data stored with its ``infos["state"]`` can
be re-expressed in any mode exactly (``lever_gym.data.modes``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.envs.layout import MAX_SIZE, Layout
from lever_gym.envs.space import GridSpace
from lever_gym.errors import ConfigError, ObservationError

OBS_MODES = ("state", "view", "grid")
DEFAULT_VIEW_SIZE = 7
MAX_VIEW_SIZE = 31
CHANNELS = ("wall", "hazard", "gold", "lever", "exit", "agent")
"""The planes of the view and grid modes, in channel order."""
PLANE_FIELD = "gold"
"""The state field drawn on a plane (its bit ``i`` is gold ``layout.gold[i]``) rather than as
flag bits."""
MAX_OBS_DIM = MAX_SIZE**2 * len(CHANNELS) + 64
"""A bound on the length of any mode's observation (grid mode on the largest grid, with room
for the flag bits)."""
_WALL, _HAZARD, _GOLD, _LEVER, _EXIT, _AGENT = range(len(CHANNELS))


def check_obs_mode(obs_mode: object, view_size: object) -> tuple[str, int]:
    """``(obs_mode, view_size)`` checked: a mode of ``OBS_MODES`` and an odd window size in
    ``3..MAX_VIEW_SIZE`` (read by the view mode only), else ``ConfigError``."""
    mode = checks.one_of(obs_mode, OBS_MODES, "obs_mode")
    if not checks.is_int(view_size) or not (3 <= view_size <= MAX_VIEW_SIZE and view_size % 2):
        raise ConfigError(
            f"view_size must be an odd integer from 3 to {MAX_VIEW_SIZE} (the side of the "
            f"window centred on the agent); got {checks.shown(view_size)}."
        )
    return str(mode), int(view_size)


@dataclass(frozen=True, eq=False)
class Observer:
    """The observations of one layout in one mode (see the module docstring)."""

    layout: Layout
    space: GridSpace
    mode: str
    view_size: int

    @property
    def side(self) -> int:
        """Cells per side of the planes: the window, or the grid (0 in state mode)."""
        return {"view": self.view_size, "grid": self.layout.size}.get(self.mode, 0)

    @functools.cached_property
    def flag_fields(self) -> tuple[str, ...]:
        """The fields observed as bits after the planes, in order."""
        return tuple(f.name for f in self.space.fields if f.name != PLANE_FIELD)

    @functools.cached_property
    def obs_dim(self) -> int:
        """Length of an observation."""
        if self.mode == "state":
            return self.space.obs_dim
        bits = sum(f.bits for f in self.space.fields if f.name in self.flag_fields)
        return self.side**2 * len(CHANNELS) + bits

    @property
    def determines_state(self) -> bool:
        """Whether every observation names one state (state and grid modes; not the view)."""
        return self.mode != "view"

    @property
    def observation_space(self) -> gym.spaces.Box:
        """``Box(0, 1, (obs_dim,), float32)``."""
        return gym.spaces.Box(0.0, 1.0, shape=(self.obs_dim,), dtype=np.float32)

    def planes(self, obs: np.ndarray) -> np.ndarray:
        """The planes of view or grid observations, shape ``(..., side, side, channels)``."""
        if self.mode == "state":
            raise ObservationError("state observations have no planes; use the view or grid mode.")
        o = np.asarray(obs)
        k, c = self.side, len(CHANNELS)
        return o[..., : k * k * c].reshape((*o.shape[:-1], k, k, c))

    # -- observing --------------------------------------------------------------------------

    def observe(self, states: np.ndarray | int) -> np.ndarray:
        """Observations (float32, shape ``states.shape + (obs_dim,)``) of state indices."""
        if self.mode == "state":
            return self.space.observe(states)
        s = np.asarray(states, dtype=np.int64)
        flat = s.reshape(-1)
        cells = self.space.cell_of(flat)
        out = np.zeros((flat.size, self.obs_dim), dtype=np.float32)
        n_plane = self.side**2 * len(CHANNELS)
        out[:, :n_plane] = self._static[cells] if self.mode == "view" else self._static[0]
        rows = np.arange(flat.size)
        if self.mode == "grid":
            out[rows, cells * len(CHANNELS) + _AGENT] = 1.0
        gold = self.space.field(flat, PLANE_FIELD) if self._has_gold else flat * 0
        for i in range(self._gold_slots.shape[1]):
            slot = self._gold_slots[cells if self.mode == "view" else 0, i]
            on = ((gold >> i) & 1).astype(bool) & (slot >= 0)
            out[rows[on], np.broadcast_to(slot, on.shape)[on]] = 1.0
        column = n_plane
        for name in self.flag_fields:
            bits = next(f.bits for f in self.space.fields if f.name == name)
            values = self.space.field(flat, name)
            for b in range(bits):
                out[:, column + b] = (values >> b) & 1
            column += bits
        return out.reshape((*s.shape, self.obs_dim))

    def observe_one(self, state: int) -> np.ndarray:
        """Observation of one state index."""
        if self.mode == "state":
            return self.space.observe_one(state)
        return self.observe(np.array([state], dtype=np.int64))[0]

    def states_from_obs(self, obs: np.ndarray) -> np.ndarray:
        """State indices of observations (shape ``obs.shape[:-1]``) in a mode that
        determines the state; ``ObservationError`` for view observations or observations
        no state of this layout gives."""
        if self.mode == "state":
            return self.space.states_from_obs(obs)
        if self.mode == "view":
            raise ObservationError(
                "a view observation does not determine the state (the same window can recur "
                "elsewhere); read infos['state'] from the data, or use obs_mode='grid'."
            )
        o = np.asarray(obs)
        if o.dtype.kind not in "biuf" or o.shape[-1:] != (self.obs_dim,):
            raise ObservationError(
                f"grid observations of this {self.layout.size}x{self.layout.size} layout end "
                f"in dimension {self.obs_dim}; got shape {o.shape}, dtype {o.dtype}."
            )
        flat = o.reshape(-1, self.obs_dim)
        agent = self.planes(flat)[..., _AGENT].reshape(len(flat), -1)
        if ((flat != 0) & (flat != 1)).any() or (agent.sum(axis=1) != 1).any():
            raise ObservationError(
                "grid observations hold only 0s and 1s with exactly one agent cell set."
            )
        values: dict[str, np.ndarray] = {}
        if self._has_gold:
            present = flat[:, self._gold_slots[0]] > 0.5
            values[PLANE_FIELD] = present.astype(np.int64) @ (1 << np.arange(present.shape[1]))
        column = self.side**2 * len(CHANNELS)
        for name in self.flag_fields:
            bits = next(f.bits for f in self.space.fields if f.name == name)
            part = flat[:, column : column + bits] > 0.5
            values[name] = part.astype(np.int64) @ (1 << np.arange(bits))
            column += bits
        states = self.space.encode(np.argmax(agent, axis=1), **values)
        observed = self.observe(np.asarray(states))
        if not np.array_equal(observed, flat):
            raise ObservationError(
                "the grid observation's planes differ from this layout's (walls, hazards, "
                "lever, exit, or gold off its cells): it comes from another layout."
            )
        return np.asarray(states, dtype=np.int64).reshape(o.shape[:-1])

    # -- tables -----------------------------------------------------------------------------

    @functools.cached_property
    def _has_gold(self) -> bool:
        return any(f.name == PLANE_FIELD for f in self.space.fields)

    @functools.cached_property
    def _grid_planes(self) -> np.ndarray:
        """(N, N, channels) float32: the static planes of the layout (no gold, no agent)."""
        lay, n = self.layout, self.layout.size
        planes = np.zeros((n * n, len(CHANNELS)), dtype=np.float32)
        planes[sorted(lay.walls), _WALL] = 1.0
        planes[sorted(lay.hazards), _HAZARD] = 1.0
        planes[lay.lever, _LEVER] = 1.0
        planes[lay.exit, _EXIT] = 1.0
        return planes.reshape(n, n, len(CHANNELS))

    @functools.cached_property
    def _static(self) -> np.ndarray:
        """Flat planes without gold: per agent cell (view, shape ``(cells, k*k*C)``), or one
        row (grid, shape ``(1, N*N*C)``, no agent)."""
        if self.mode == "grid":
            return self._grid_planes.reshape(1, -1)
        n, k = self.layout.size, self.view_size
        r = k // 2
        padded = np.zeros((n + 2 * r, n + 2 * r, len(CHANNELS)), dtype=np.float32)
        padded[..., _WALL] = 1.0
        padded[r : r + n, r : r + n] = self._grid_planes
        cells = np.arange(n * n)
        rr = (cells // n)[:, None] + np.arange(k)[None, :]
        cc = (cells % n)[:, None] + np.arange(k)[None, :]
        windows = padded[rr[:, :, None], cc[:, None, :]].copy()  # (cells, k, k, C)
        windows[:, r, r, _AGENT] = 1.0
        return windows.reshape(n * n, -1)

    @functools.cached_property
    def _gold_slots(self) -> np.ndarray:
        """(cells or 1, gold) int64: the entry of gold ``i``'s plane bit seen from each agent
        cell (-1 outside the view)."""
        lay, n, c = self.layout, self.layout.size, len(CHANNELS)
        gold = np.array(lay.gold if self._has_gold else (), dtype=np.int64)
        if self.mode == "grid":
            return (gold * c + _GOLD)[None, :]
        k, r = self.view_size, self.view_size // 2
        cells = np.arange(n * n)[:, None]
        dr = gold[None, :] // n - cells // n + r
        dc = gold[None, :] % n - cells % n + r
        inside = (dr >= 0) & (dr < k) & (dc >= 0) & (dc < k)
        return np.where(inside, (dr * k + dc) * c + _GOLD, -1)


def observer(
    layout: Layout, obs_mode: str = "state", view_size: int = DEFAULT_VIEW_SIZE
) -> Observer:
    """The (cached) ``Observer`` of ``layout`` in ``obs_mode``, checked by ``check_obs_mode``."""
    mode, k = check_obs_mode(obs_mode, view_size)
    return _observer(
        layout, mode, k if mode == "view" else DEFAULT_VIEW_SIZE, reward_components.token()
    )


@functools.lru_cache(maxsize=64)
def _observer(layout: Layout, mode: str, view_size: int, components: tuple) -> Observer:
    return Observer(layout, GridSpace.of(layout), mode, view_size)
