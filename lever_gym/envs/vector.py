"""``LeverGridVectorEnv``: N LeverGrid envs stepped together by one numba kernel.

It returns exactly what ``gym.make_vec(id, num_envs=N, vectorization_mode="sync")`` returns
in gymnasium 1.0 under the same seeds and actions: observations, rewards, terminations,
truncations (the ``TimeLimit`` at ``max_episode_steps``), the infos with their ``_key`` masks,
and next-step autoreset (the step after an episode ends returns the reset observation and
info, reward 0, ``terminated`` and ``truncated`` False). The transition, reward and
observation of every env are computed in one compiled call on the tabular model. Random
starts and layouts are drawn at resets from one ``np_random`` per env seeded as
``SyncVectorEnv`` seeds its sub-envs: random starts in one compiled call in vector envs of
``COMPILED_DRAWS_FROM`` envs or more (from each PCG64 generator's own state, as
``Generator.integers`` draws; not under the generator's lock, so do not draw from an env's
generator in another thread while it steps), layouts and smaller envs' starts in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

import lever_gym.checks as checks
from lever_gym.envs.grid import LeverGridEnv, check_reset, start_option
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import TabularModel, model_for
from lever_gym.envs.render import TILE_SIZE
from lever_gym.envs.vector_attrs import SubEnvAttributes, frame
from lever_gym.envs.vector_checks import check_actions, check_seeds, checked_size
from lever_gym.envs.vector_kernels import draw_below, observe_all, pcg64_address, step_envs
from lever_gym.envs.vector_worlds import World, template_env
from lever_gym.envs.views import DEFAULT_VIEW_SIZE, observer
from lever_gym.errors import ResetNeeded

OBS_DTYPES = ("float32", "uint8")
"""The observation dtypes of ``LeverGridVectorEnv`` (``obs_dtype``)."""
COMPILED_DRAWS_FROM = 64
"""Fewest envs whose random starts ``draw_below`` draws, in one call per step (it compiles
once per process, in about 0.5 s, as it calls PCG64's C function); in smaller vector envs
each generator draws its own."""
NEXT_STEP: Any = getattr(getattr(gym.vector, "AutoresetMode", None), "NEXT_STEP", "NextStep")
"""The autoreset mode this env implements, as the installed gymnasium names it."""


class LeverGridVectorEnv(SubEnvAttributes, gym.vector.VectorEnv):
    """``num_envs`` LeverGrid envs in one batched, compiled step (see the module docstring).

    Arguments are those of ``LeverGridEnv`` (or, with ``layout_seeds``, of
    ``RandomLeverGridEnv``: every env draws its own layout at each reset), plus
    ``max_episode_steps`` (default ``size**2``, as the registered specs set it),
    ``obs_dtype`` (``"float32"``, the single env's, or ``"uint8"``: the same 0s and 1s in a
    quarter of the bytes) and ``copy`` (as ``SyncVectorEnv``'s: ``True`` returns fresh
    observations at every call; ``False`` writes them into one buffer, overwritten by the
    next ``step`` or ``reset``). Random worlds keep one tabular model per distinct layout in
    use (at most ``min(num_envs, hi - lo)``; about 20 MiB each on 16x16, 82 MiB on 32x32,
    330 MiB on 64x64, as many as ``SyncVectorEnv`` holds) and step one call per layout.

    Spaces, seeding and autoreset follow ``SyncVectorEnv``: ``reset(seed=s)`` seeds env ``i``
    with ``s + i``, ``reset(seed=[...])`` one seed per env, ``reset()`` continues each env's
    generator; ``options`` go to every env (``{"start_cell": c}``). ``render()`` returns one
    frame per env. ``step`` before the first ``reset`` raises ``ResetNeeded`` (a
    ``gymnasium.error.ResetNeeded``, as the sub-envs of ``SyncVectorEnv`` raise it).
    ``call``, ``get_attr`` and ``set_attr`` answer as ``SyncVectorEnv``'s do
    (``lever_gym.envs.vector_attrs``). Actions must be integers in ``0..3``, shape
    ``(num_envs,)``.

    Autoreset is next-step autoreset, gymnasium 1.0's only mode: the step after an episode
    ends returns the reset observation and info, reward 0, ``terminated`` and ``truncated``
    False, and ignores that env's action. ``metadata["autoreset_mode"]`` declares it:
    ``gymnasium.vector.AutoresetMode.NEXT_STEP`` where gymnasium has that enum (1.1 on),
    else its value, ``"NextStep"``.
    """

    def __init__(
        self,
        num_envs: int = 1,
        objective: str = "PathGoldHazardLever",
        *,
        size: int | None = None,
        layout_seed: int | None = None,
        layout: str | None = None,
        layout_seeds: Sequence[int] | None = None,
        weights: list[float] | None = None,
        random_start: bool = False,
        shaping: bool = True,
        render_mode: str | None = None,
        tile_size: int = TILE_SIZE,
        obs_mode: str = "state",
        view_size: int = DEFAULT_VIEW_SIZE,
        max_episode_steps: int | None = None,
        obs_dtype: str = "float32",
        copy: bool = True,
    ) -> None:
        num_envs = checks.positive_int(num_envs, "num_envs")
        self.obs_dtype = checks.one_of(obs_dtype, OBS_DTYPES, "obs_dtype")
        self.copy = checks.boolean(copy, "copy")
        common = {
            "weights": weights,
            "random_start": random_start,
            "shaping": shaping,
            "render_mode": render_mode,
            "tile_size": tile_size,
            "obs_mode": obs_mode,
            "view_size": view_size,
        }
        self._random_worlds = layout_seeds is not None
        template, first_seed = template_env(
            objective, size, layout_seed, layout, layout_seeds, common
        )
        self.layout_seeds: tuple[int, int] | None = getattr(template, "layout_seeds", None)
        self.max_episode_steps = checked_size(template, num_envs, max_episode_steps)
        self.template = template
        """A single env with the layout (the first world) and objective of this vector env."""
        self.num_envs = int(num_envs)
        self.weights = template.weights
        self.objective = template.objective
        self.random_start = template.random_start
        self.shaping = template.shaping
        self.render_mode = template.render_mode
        self.tile_size = template.tile_size
        self.obs_mode, self.view_size = template.obs_mode, template.view_size
        self.metadata = {**LeverGridEnv.metadata, "autoreset_mode": NEXT_STEP}
        dim = template.observer.obs_dim
        dtype = np.uint8 if self.obs_dtype == "uint8" else np.float32
        self.single_observation_space = gym.spaces.Box(0, 1, (dim,), dtype)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = template.action_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        self._start_state(template.model, first_seed)

    def _start_state(self, model: TabularModel, first_seed: int) -> None:
        """Every env in the first world at its start, no generator drawn yet, reset needed."""
        n = self.num_envs
        self._size = model.layout.size
        self._space = model.space
        self._w = np.array(self.weights, dtype=np.float64)
        first = self._new_world(model, first_seed)
        self._in_use: dict[int, World] = {first_seed: first}
        self._worlds = [first] * n
        self._groups: list[tuple[World, np.ndarray]] = [(first, np.arange(n, dtype=np.int64))]
        self._world_seeds = np.full(n, first.layout_seed, dtype=np.int64)
        self._states = np.full(n, model.start_state, dtype=np.int64)
        self._restart = self._states.copy()
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._autoreset = np.zeros(n, dtype=bool)
        self._redraw = self.random_start or self._random_worlds
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._rng_seeds: list[int | None] = [None] * n
        self._rng_addresses = np.zeros(n, dtype=np.uint64)
        """Each env's generator's ``pcg64_address`` (0: none yet, or not PCG64)."""
        self._set_attrs: list[dict[str, Any]] = [{} for _ in range(n)]
        self._needs_reset = True
        self._masks = np.ones((5 if self._random_worlds else 4, n), dtype=bool)
        self._masks.setflags(write=False)  # every env reports every key, at every step
        self._kept: tuple[np.ndarray, np.ndarray] | None = None
        """With ``copy=False``, the observation buffers written in place: state mode, seen."""
        if not self.copy:
            state_obs = self._obs_buffer()
            seen_dim = self._worlds[0].observer.obs_dim
            seen = state_obs if self.obs_mode == "state" else self._obs_buffer(seen_dim)
            self._kept = (state_obs, seen)

    def _obs_buffer(self, dim: int | None = None) -> np.ndarray:
        """An uninitialised (num_envs, ``dim``) observation array (default: the state mode's)."""
        dim = self._space.obs_dim if dim is None else dim
        return np.empty((self.num_envs, dim), dtype=self.obs_dtype)

    # -- seeding -----------------------------------------------------------------------

    # SyncVectorEnv overrides VectorEnv's read-write generator with one per env, read-only.
    @property  # type: ignore[misc]
    def np_random(self) -> tuple[np.random.Generator, ...]:  # type: ignore[override]
        """Each env's generator (created from fresh entropy if never seeded), as
        ``SyncVectorEnv.np_random`` returns them."""
        return tuple(self._rng(i) for i in range(self.num_envs))

    @property
    def np_random_seed(self) -> tuple[int, ...]:  # type: ignore[override]
        """The seed each env's generator came from."""
        self.np_random  # noqa: B018  (creates missing generators and their seeds)
        return tuple(int(s) for s in self._rng_seeds)  # type: ignore[arg-type]

    def _rng(self, i: int) -> np.random.Generator:
        """Env ``i``'s generator, made lazily like ``gym.Env.np_random``."""
        rng = self._rngs[i]
        if rng is None:
            rng, seed = seeding.np_random()
            self._keep_rng(i, rng, seed)
        return rng

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled or copied: its own generator list, and the state addresses of its own
        generators (the original's would be drawn from, or freed)."""
        self.__dict__.update(state)
        self._rngs = list(self._rngs)
        self._rng_addresses = np.array(
            [0 if g is None else pcg64_address(g) for g in self._rngs], dtype=np.uint64
        )

    def _keep_rng(self, i: int, rng: np.random.Generator, seed: int | None) -> None:
        """Make ``rng`` (from ``seed``) env ``i``'s generator."""
        self._rngs[i], self._rng_seeds[i] = rng, seed
        self._rng_addresses[i] = pcg64_address(rng)

    # -- worlds ------------------------------------------------------------------------

    def _new_world(self, model: TabularModel, layout_seed: int) -> World:
        """A world of ``model``: its start cells and where the objective succeeds."""
        success = model.success(np.arange(model.n_states), self.objective)
        seen = observer(model.layout, self.obs_mode, self.view_size)
        floor = model.layout.start_cells()
        starts = np.array([self._space.start(c) for c in floor], dtype=np.int64)
        starts.setflags(write=False)
        return World(model, floor, layout_seed, success, seen, starts)

    def _world(self, layout_seed: int) -> World:
        """The world of ``layout_seed``, shared by every env that drew it."""
        world = self._in_use.get(layout_seed)
        if world is None:
            layout = Layout.generate(self._size, layout_seed)
            world = self._new_world(model_for(layout, self.shaping), layout_seed)
            self._in_use[layout_seed] = world
        return world

    def _regroup(self) -> None:
        """Group envs by layout (one kernel call per group) and drop worlds no env uses."""
        seeds = self._world_seeds
        order = np.argsort(seeds, kind="stable")
        cuts = np.flatnonzero(np.diff(seeds[order])) + 1
        self._groups = [(self._worlds[int(g[0])], g) for g in np.split(order, cuts)]
        self._in_use = {w.layout_seed: w for w, _ in self._groups}

    def _draw_start(self, i: int, options: dict[str, Any] | None) -> int:
        """Env ``i``'s next start state (its layout drawn first in random worlds), consuming
        its generator exactly as ``LeverGridEnv.reset`` (``RandomLeverGridEnv.reset``) would."""
        if self._random_worlds:
            lo, hi = self.layout_seeds  # type: ignore[misc]
            world = self._world(int(self._rng(i).integers(lo, hi)))
            self._worlds[i] = world
            self._world_seeds[i] = world.layout_seed
        else:
            world = self._worlds[i]
        start = start_option(options, world.floor)
        if start is None and self.random_start:
            return int(world.floor_starts[int(self._rng(i).integers(len(world.floor)))])
        return self._space.start(world.model.layout.start if start is None else start)

    # -- the Gymnasium API -------------------------------------------------------------

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env (see the class docstring for ``seed`` and ``options``)."""
        seeds = check_seeds(seed, self.num_envs)
        check_reset(None, options)
        n = self.num_envs
        starts = np.empty(n, dtype=np.int64)
        try:
            for i, s in enumerate(seeds):
                if s is not None:
                    self._keep_rng(i, *seeding.np_random(s))
                starts[i] = self._draw_start(i, options)
        finally:
            if self._random_worlds:
                self._regroup()
        self._states[:] = starts
        self._needs_reset = False
        self._elapsed[:] = 0
        self._autoreset[:] = False
        space = self._space
        obs = self._obs_buffer() if self._kept is None else self._kept[0]
        observe_all(self._states, self._size, space.cell_shift, space.flag_positions, obs)
        obs = self._seen(obs, self._states)
        info = self._info(
            self._states.copy(),
            space.cell_of(self._states),
            np.zeros((n, len(self._w))),
            np.zeros(n, dtype=bool),
        )
        return obs, info

    def step(
        self, actions: np.ndarray | Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env, or reset those whose episode ended on the previous step;
        ``ResetNeeded`` before the first ``reset``."""
        if self._needs_reset:
            raise ResetNeeded(
                "Cannot call step() before calling reset(): call envs.reset(seed=...) first "
                "(gymnasium's OrderEnforcing refuses it too)."
            )
        a = check_actions(actions, self.num_envs)
        if self._redraw and self._autoreset.any():
            ended = np.flatnonzero(self._autoreset)
            if not self._random_worlds and self.num_envs >= COMPILED_DRAWS_FROM:
                fast = self._rng_addresses[ended] != 0  # _draw_start's draw, compiled
                if fast.any():
                    starts = self._worlds[0].floor_starts
                    draw_below(self._rng_addresses, ended[fast], starts, self._restart)
                ended = ended[~fast]  # no generator yet, or not PCG64 (set_attr)
            for i in ended.tolist():
                self._restart[i] = self._draw_start(i, None)
            if self._random_worlds:
                self._regroup()
        n, space = self.num_envs, self._space
        obs = self._obs_buffer() if self._kept is None else self._kept[0]
        rewards = np.empty(n)
        terms = np.empty(n, dtype=bool)
        truncs = np.empty(n, dtype=bool)
        states = np.empty(n, dtype=np.int64)
        cells = np.empty(n, dtype=np.int64)
        comps = np.empty((n, len(self._w)))
        success = np.empty(n, dtype=bool)
        for world, idx in self._groups:
            m = world.model
            step_envs(
                m.next_state,
                m.components,
                m.terminated,
                self._w,
                world.success,
                self._size,
                space.cell_shift,
                space.flag_positions,
                self.max_episode_steps,
                idx,
                a,
                self._states,
                self._elapsed,
                self._autoreset,
                self._restart,
                obs,
                rewards,
                terms,
                truncs,
                states,
                cells,
                comps,
                success,
            )
        obs = self._seen(obs, states)
        return obs, rewards, terms, truncs, self._info(states, cells, comps, success)

    def render(self) -> tuple[str | np.ndarray | None, ...]:  # type: ignore[override]
        """One frame per env (ANSI text or RGB array per ``render_mode``; ``None`` without)."""
        return tuple(frame(self, i) for i in range(self.num_envs))

    # -- helpers -----------------------------------------------------------------------

    def _seen(self, state_obs: np.ndarray, states: np.ndarray) -> np.ndarray:
        """The observations of ``states`` in ``obs_mode`` (``state_obs`` as they are in the
        state mode, else each world's ``Observer``)."""
        if self.obs_mode == "state":
            return state_obs
        dim = self._worlds[0].observer.obs_dim
        obs = self._obs_buffer(dim) if self._kept is None else self._kept[1]
        for world, idx in self._groups:
            obs[idx] = world.observer.observe(states[idx])
        return obs

    def _info(
        self, states: np.ndarray, cells: np.ndarray, comps: np.ndarray, success: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The info dict as ``SyncVectorEnv`` builds it: each key with its ``_key`` mask (all
        true: every env reports every key; rows of one read-only array, made once)."""
        masks = self._masks
        info = {
            "state": states,
            "_state": masks[0],
            "cell": cells,
            "_cell": masks[1],
            "reward_components": comps,
            "_reward_components": masks[2],
            "is_success": success,
            "_is_success": masks[3],
        }
        if self._random_worlds:
            info["layout_seed"] = self._world_seeds.copy()
            info["_layout_seed"] = masks[4]
        return info
