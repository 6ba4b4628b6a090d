"""``call``, ``get_attr`` and ``set_attr`` of ``LeverGridVectorEnv``, as ``SyncVectorEnv`` has them.

A ``SyncVectorEnv`` of ``gym.make`` envs answers ``get_attr(name)`` with a tuple holding each
sub-env's attribute (found through its wrappers), and ``call(name, ...)`` calls it where it is
callable. The native env has no sub-envs; it answers from its arrays what each sub-env would
hold (``PER_ENV``: each env's own; ``SHARED``: the same value, a fresh copy per env), keeps
attributes set with ``set_attr`` per env, and refuses to change what its one compiled step
reads, and to call the methods that would run one env alone (``reset``, ``step``, ``close``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from lever_gym.envs.render import render_ansi, render_rgb
from lever_gym.errors import ConfigError, UnknownAttributeError

PER_ENV: dict[str, Callable[[Any, int], Any]] = {
    "state": lambda v, i: int(v._states[i]),
    "layout": lambda v, i: v._worlds[i].model.layout,
    "model": lambda v, i: v._worlds[i].model,
    "np_random": lambda v, i: v._rng(i),
    "np_random_seed": lambda v, i: v.np_random_seed[i],
    "render": lambda v, i: lambda: frame(v, i),
}
"""Attributes each env holds for itself, read from the vector env's arrays."""

SHARED: dict[str, Callable[[Any], Any]] = {
    "objective": lambda v: v.objective,
    "weights": lambda v: v.objective.vector,
    "random_start": lambda v: v.random_start,
    "shaping": lambda v: v.shaping,
    "render_mode": lambda v: v.render_mode,
    "tile_size": lambda v: v.tile_size,
    "action_space": lambda v: copy.deepcopy(v.single_action_space),
    "observation_space": lambda v: copy.deepcopy(v.single_observation_space),
    "metadata": lambda v: dict(v.template.metadata),  # a sub-env's, without autoreset_mode
    "_max_episode_steps": lambda v: v.max_episode_steps,
}
"""Attributes every env shares (``TimeLimit``'s ``_max_episode_steps`` among them)."""

RANDOM_WORLDS = ("layout_seed", "layout_seeds")
"""Attributes only a randomised world's envs have (``RandomLeverGridEnv``'s)."""

WHOLE_ENV_METHODS = ("reset", "step", "close")


def frame(envs: Any, i: int) -> str | np.ndarray | None:
    """Env ``i``'s frame of ``envs`` (a ``LeverGridVectorEnv``), as its own ``render()`` would
    give it."""
    world, state = envs._worlds[i], int(envs._states[i])
    if envs.render_mode == "ansi":
        return render_ansi(world.model, state)
    if envs.render_mode == "rgb_array":
        return render_rgb(world.model, state, envs.tile_size)
    return None


class SubEnvAttributes:
    """The sub-env attribute API of ``LeverGridVectorEnv`` (a mixin; see the module docstring)."""

    num_envs: int
    layout_seeds: tuple[int, int] | None
    _random_worlds: bool
    _set_attrs: list[dict[str, Any]]
    """Attributes set with ``set_attr``, one dict per env."""
    _world_seeds: np.ndarray
    _keep_rng: Callable[[int, np.random.Generator, int | None], None]
    """Make a generator (from a seed) env ``i``'s (the vector env's own)."""

    def _sub_env_attr(self, i: int, name: str) -> Any:
        """What env ``i``'s attribute ``name`` would be in a ``SyncVectorEnv``."""
        extra = self._set_attrs[i]
        if name in extra:
            return extra[name]
        if name in PER_ENV:
            return PER_ENV[name](self, i)
        if name in SHARED:
            return SHARED[name](self)
        if self._random_worlds and name == "layout_seed":
            return int(self._world_seeds[i])
        if self._random_worlds and name == "layout_seeds":
            return tuple(self.layout_seeds)  # type: ignore[arg-type]
        known = [*PER_ENV, *SHARED, *(RANDOM_WORLDS if self._random_worlds else ())]
        raise UnknownAttributeError(
            f"the envs of this native LeverGrid vector env have no attribute {name!r}; "
            f"get_attr and call read {', '.join(map(repr, known))} and what set_attr set."
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Each env's attribute ``name``, called with ``args`` and ``kwargs`` where it is
        callable, as a tuple (``SyncVectorEnv.call``); ``call("render")`` gives each env's
        frame. ``reset``, ``step`` and ``close`` are refused (``ConfigError``): the envs run
        together. An unknown name raises ``UnknownAttributeError``, an ``AttributeError``."""
        if name in WHOLE_ENV_METHODS:
            raise ConfigError(
                f"call({name!r}) would {name} each env on its own, but this native vector env "
                f"runs its envs together: use envs.{name}(...) (or vectorization_mode='sync')."
            )
        results = []
        for i in range(self.num_envs):
            value = self._sub_env_attr(i, name)
            results.append(value(*args, **kwargs) if callable(value) else value)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Each env's attribute ``name`` as a tuple (``SyncVectorEnv.get_attr``: ``call``)."""
        return self.call(name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set attribute ``name`` of every env: ``values`` a list or tuple of one value per
        env, anything else one value for all (``SyncVectorEnv.set_attr``; a wrong length
        raises ``ConfigError``, a ``ValueError`` as there). ``np_random`` takes one
        ``numpy.random.Generator`` per env; the other attributes ``get_attr`` reads are
        refused (``ConfigError``): the native env's one compiled step reads them."""
        n = self.num_envs
        if not isinstance(values, list | tuple):
            values = [values] * n
        if len(values) != n:
            raise ConfigError(
                "Values must be a list or tuple with length equal to the number of "
                f"environments. Got {len(values)} values for {n} environments."
            )
        if name == "np_random":
            bad = [i for i, g in enumerate(values) if not isinstance(g, np.random.Generator)]
            if bad:
                raise ConfigError(
                    f"np_random takes numpy.random.Generator values, one per env; got "
                    f"{type(values[bad[0]]).__name__} for env {bad[0]} ({len(bad)} envs in all "
                    "are not Generators). Pass np.random.default_rng(seed) for each."
                )
            for i, rng in enumerate(values):  # seed -1: as gymnasium's Env.np_random setter
                self._keep_rng(i, rng, -1)
            return
        if name in PER_ENV or name in SHARED or name in RANDOM_WORLDS or name in WHOLE_ENV_METHODS:
            raise ConfigError(
                f"set_attr({name!r}) is refused by this native vector env: its envs' {name} "
                "is read by the one compiled step that runs them all. Make a new env with the "
                "argument you want (gym.make_vec(id, num_envs, ...)), or use "
                "vectorization_mode='sync' for sub-envs of their own."
            )
        for extra, value in zip(self._set_attrs, values, strict=True):
            extra[name] = value
