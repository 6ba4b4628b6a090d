"""``LeverGridEnv``: a deterministic grid with walls, gold, hazards, a lever and an exit."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import Layout, check_size
from lever_gym.envs.model import N_ACTIONS, TabularModel, model_for
from lever_gym.envs.render import TILE_SIZE, check_tile_size, render_ansi, render_rgb
from lever_gym.envs.views import DEFAULT_VIEW_SIZE, Observer, check_obs_mode, observer
from lever_gym.errors import ActionError, ConfigError
from lever_gym.objective import Objective, weighted_one

RESET_OPTIONS = ("start_cell", "minari_autoseed")
"""Reset option keys LeverGrid reads: ``start_cell``, and ``minari_autoseed`` (True or False),
which Minari's ``DataCollector`` reads and passes on to the env; the env ignores it."""


class LeverGridEnv(gym.Env[np.ndarray, np.int64]):
    """A composite-objective gridworld (the Lever paper's tabular domain, made Markov).

    ## Description
    An N×N deterministic grid with walls, gold, hazards, one lever, one exit and one
    start. The layout comes from an ASCII map (``layout=``) or from a seeded generator
    (``layout_seed=``). The objective is a weight vector over four reward components.

    ## Action Space
    ``Discrete(4)``: 0 right, 1 down, 2 left, 3 up. A move into a wall or the edge leaves
    the agent in place.

    ## Observation Space
    By ``obs_mode`` (``lever_gym.envs.views``), a flat float32 ``Box(0, 1)``:
    ``"state"`` (default), ``(2N + 1 + G,)``: row one-hot, column one-hot, lever flag, one bit
    per gold still on the grid; it determines the state. ``"view"``: the ``view_size`` ×
    ``view_size`` window centred on the agent (default 7), six channels per cell (wall,
    hazard, gold, lever, exit, agent; outside the grid is wall), then the lever flag.
    ``"grid"``: the whole N × N grid with the same channels, then the lever flag.

    ## Starting State
    The layout's start cell, or with ``random_start=True`` a floor cell drawn from the
    reset seed.

    ## Rewards
    ``reward == weights @ info["reward_components"]`` exactly. Components, in order:
    ``path`` (shaping toward the exit, -0.1 per step, +100 at the exit); ``gold`` (+5 per
    pick-up, shaping toward the nearest gold then the exit, -0.01 per step, +100 at the
    exit with all gold, else -10 × fraction left); ``hazard`` (-100 on entering a hazard,
    +2 per hazard neighbour left behind, shaping toward the exit, -0.1 per step, +100 at
    the exit); ``lever`` (+20 on pulling it, shaping toward it then the exit, -0.1 per
    step, +80 at the exit if pulled, else +20). Shaping is the drop in breadth-first
    distance (hazards count as ``N**2`` away); ``shaping=False`` removes it.

    ## Episode End
    Terminated on entering the exit or a hazard; truncated by ``TimeLimit`` after
    ``N**2`` steps (set in the registered spec).

    ## Information
    ``state`` (int state index), ``cell`` (``row * N + col``), ``reward_components``
    (float64, shape (4,)), ``is_success`` (exit reached with every weighted goal met).

    ## Arguments
    ``objective`` (a name such as ``"PathGold"``, or anything ``Objective.parse`` reads),
    ``size`` (8, 16 or 32 for generated layouts), ``layout_seed``, ``layout`` (ASCII map,
    wins over ``layout_seed``), ``weights`` (one number per component, overriding the
    objective's 0/1 weights), ``random_start``, ``shaping``, ``render_mode`` (``"ansi"``:
    the map and a legend line; ``"rgb_array"``: a uint8 picture), ``tile_size`` (pixels per
    cell of ``rgb_array`` frames, 4 to 64, default 16), ``obs_mode`` and ``view_size`` (see
    Observation Space). ``env.objective`` is the parsed
    ``Objective``; ``env.weights`` its weights as an array.

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        objective: str | Objective = "PathGoldHazardLever",
        *,
        size: int | None = None,
        layout_seed: int = 0,
        layout: str | None = None,
        weights: list[float] | None = None,
        random_start: bool = False,
        shaping: bool = True,
        render_mode: str | None = None,
        tile_size: int = TILE_SIZE,
        obs_mode: str = "state",
        view_size: int = DEFAULT_VIEW_SIZE,
    ) -> None:
        # Objective checks what it is given (a flat sequence of real numbers, else an error).
        if weights is not None:
            self.objective = Objective(weights)  # type: ignore[arg-type]
        else:
            self.objective = Objective.parse(objective)
        self.weights = self.objective.vector
        layout_seed = checks.seed(layout_seed, "layout_seed")
        if layout is not None:
            grid = Layout.from_ascii(layout)
            if size is not None and size != grid.size:
                raise ConfigError(
                    f"layout is {grid.size}x{grid.size} but size={size}; pass size=None "
                    f"(and max_episode_steps={grid.size**2} to gym.make) or a "
                    f"{size}x{size} map."
                )
        else:
            grid = Layout.generate(check_size(16 if size is None else size), layout_seed)
        render_mode = checks.one_of(
            render_mode, (None, *self.metadata["render_modes"]), "render_mode"
        )
        self.random_start = checks.boolean(random_start, "random_start")
        self.shaping = checks.boolean(shaping, "shaping")
        self.render_mode = render_mode
        self.tile_size = check_tile_size(tile_size)
        self.obs_mode, self.view_size = check_obs_mode(obs_mode, view_size)
        self._use_layout(grid)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = self._observer.observation_space
        self._state = self._model.start_state

    def _use_layout(self, grid: Layout) -> None:
        """Play on ``grid`` from now on: its cached model and start cells (spaces unchanged)."""
        self.layout = grid
        self._model = model_for(grid, self.shaping)
        self._observer = observer(grid, self.obs_mode, self.view_size)
        self._floor = grid.start_cells()
        self._starts = self._floor if self.random_start else (grid.start,)

    @property
    def model(self) -> TabularModel:
        """The exact tabular model (transitions, reward components) of this layout."""
        return self._model

    @property
    def observer(self) -> Observer:
        """What the agent sees of each state of this layout (``obs_mode``)."""
        return self._observer

    @property
    def state(self) -> int:
        """The current state index."""
        return self._state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; with ``random_start`` the start cell is drawn from ``seed``.

        ``seed``: any non-negative integer (``SeedError``, a ``gymnasium.error.Error``,
        otherwise). ``options={"start_cell": c}`` starts from floor cell ``c`` instead (one of
        ``layout.start_cells()``); ``minari_autoseed`` (Minari's ``DataCollector`` option) is
        accepted and ignored; other option keys are refused.
        """
        super().reset(seed=check_reset(seed, options))
        space = self._model.space
        start = start_option(options, self._floor)
        if start is None:
            if self.random_start:
                start = self._starts[int(self.np_random.integers(len(self._starts)))]
            else:
                start = self.layout.start
        self._state = space.start(start)
        info = {
            "state": self._state,
            "cell": start,
            "reward_components": np.zeros(len(self.weights)),
            "is_success": False,
        }
        return self._observer.observe_one(self._state), info

    def step(
        self, action: int | np.integer
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move; returns ``(obs, reward, terminated, False, info)`` (truncation is TimeLimit's)."""
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            action = action.item()
        if not checks.is_int(action):  # no booleans, no np.timedelta64 (a numpy integer type)
            raise ActionError(
                f"action must be an integer in 0..{N_ACTIONS - 1}; got {action!r} "
                f"({type(action).__name__})."
            )
        a = int(action)
        if not 0 <= a < N_ACTIONS:
            raise ActionError(f"action must be an integer in 0..{N_ACTIONS - 1}; got {action!r}.")
        m = self._model
        s = self._state
        s2 = int(m.next_state[s, a])
        comps = m.components[s, a].copy()
        terminated = bool(m.terminated[s, a])
        self._state = s2
        reward = weighted_one(comps.tolist(), self.objective.weights)
        success = terminated and bool(m.success(s2, self.objective))
        space = m.space
        info = {
            "state": s2,
            "cell": s2 >> space.cell_shift,
            "reward_components": comps,
            "is_success": success,
        }
        return self._observer.observe_one(s2), reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:  # type: ignore[override]
        """Return the ANSI text or the RGB array of the current state, per ``render_mode``."""
        if self.render_mode == "ansi":
            return render_ansi(self._model, self._state)
        if self.render_mode == "rgb_array":
            return render_rgb(self._model, self._state, self.tile_size)
        return None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the (large, cached) model tables."""
        state = self.__dict__.copy()
        del state["_model"], state["_observer"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore and re-attach the cached model of the layout."""
        self.__dict__.update(state)
        self._model = model_for(self.layout, self.shaping)
        self._observer = observer(self.layout, self.obs_mode, self.view_size)


def check_reset(seed: object, options: object) -> int | None:
    """``seed`` as a Python int (or ``None``) if it is a non-negative integer, else
    ``SeedError`` (a ``ConfigError`` and a ``gymnasium.error.Error``); ``options`` must be
    ``None`` or a dict of known keys (``RESET_OPTIONS``), else ``ConfigError``."""
    if options is not None and not isinstance(options, dict):
        raise ConfigError(
            f"options must be a dict such as {{'start_cell': c}} or None; got {options!r}."
        )
    unknown = sorted(map(repr, set(options or {}) - set(RESET_OPTIONS)))
    if unknown:
        raise ConfigError(
            f"unknown reset option(s) {', '.join(unknown)}; LeverGrid reads "
            f"{', '.join(map(repr, RESET_OPTIONS))}."
        )
    if options and "minari_autoseed" in options:
        checks.boolean(options["minari_autoseed"], "reset option minari_autoseed")
    return None if seed is None else checks.reset_seed(seed)


def start_option(options: dict[str, Any] | None, floor: tuple[int, ...]) -> int | None:
    """The ``start_cell`` that checked reset ``options`` ask for (``None``: none); it must be an
    integer among ``floor`` (the layout's ``start_cells()``), else ``ConfigError``."""
    if not options or "start_cell" not in options:
        return None
    start = options["start_cell"]
    if not checks.is_int(start) or start not in floor:
        raise ConfigError(
            f"start_cell must be a floor cell reachable from the start (one of "
            f"layout.start_cells()); got {start!r}."
        )
    return int(start)


def lever_env(env: gym.Env | str, **env_kwargs: Any) -> LeverGridEnv:
    """The ``LeverGridEnv`` behind ``env``: an env, a wrapped env, or an id plus kwargs."""
    if isinstance(env, str):
        env = gym.make(env, **env_kwargs)
    elif env_kwargs:
        raise ConfigError("env_kwargs are only accepted with an env id, not an env instance.")
    base = getattr(env, "unwrapped", None)
    if not isinstance(base, LeverGridEnv):
        raise ConfigError(
            f"expected a LeverGrid env or id (e.g. 'LeverGrid-8x8-PathGold-v0'); got "
            f"{type(env).__name__}."
        )
    return base
