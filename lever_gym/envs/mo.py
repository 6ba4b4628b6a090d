"""LeverGrid with vector rewards, in MO-Gymnasium's conventions (multi-objective RL).

``make(env_id)`` and ``make_vec(env_id, num_envs)`` build the env of any LeverGrid id whose
``step`` returns the reward components as the reward: float64, shape ``(n_components,)`` in
registry order (``lever_gym.components``), ``(num_envs, n_components)`` for the vector env.
Everything else is the scalar env's. As in MO-Gymnasium:

- ``env.unwrapped.reward_space`` is a ``Box`` of that shape: bounded by the layout's reward
  tables (their smallest and largest value per component), unbounded on randomised worlds
  (a new layout every episode); ``make`` also sets it on the returned wrapper
  (mo-gymnasium 1.0.0 reads ``env.reward_space``, later releases ``env.unwrapped``'s), and a
  vector env holds the single env's space, as ``MOSyncVectorEnv`` does;
- ``info["reward_weights"]`` holds the objective's weights (the env's ``weights``, one row per
  env in a vector env, with its ``_reward_weights`` mask), at reset and at every step;
- the env checker is off (``mo_gymnasium.make`` turns it off too: it wants a scalar reward).

The scalar reward of the same step is ``lever_gym.objective.weighted(reward, w)`` with
``w = info["reward_weights"]``, bit for bit. ``mo_gymnasium.LinearReward(env, weight=w)``
computes ``np.dot(reward, w)``: the same number exactly when every product is exact (0/1
weights, as every registered id has, or powers of two), else within a few ulps (numpy's dot
may fuse the multiply and add). The episode limit is the registered one (``TimeLimit``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.registration import ENTRY_POINT, RANDOM_ENTRY_POINT
from lever_gym.envs.vector import LeverGridVectorEnv
from lever_gym.errors import ConfigError

MO_ENTRY_POINTS = {
    ENTRY_POINT: "lever_gym.envs.mo:MOLeverGridEnv",
    RANDOM_ENTRY_POINT: "lever_gym.envs.mo:MORandomLeverGridEnv",
}
"""The vector-reward entry point of each scalar LeverGrid entry point."""
MO_VECTOR_ENTRY_POINT = "lever_gym.envs.mo:MOLeverGridVectorEnv"


def reward_space_of(env: LeverGridEnv | LeverGridVectorEnv, bounded: bool) -> gym.spaces.Box:
    """The ``Box`` of ``env``'s reward components: the model tables' bounds per component, or
    unbounded (``bounded=False``: a randomised world, whose layout changes)."""
    n = len(env.weights)
    if not bounded:
        return gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float64)
    table = env.template.model if isinstance(env, LeverGridVectorEnv) else env.model
    flat = table.components.reshape(-1, n)
    return gym.spaces.Box(flat.min(axis=0), flat.max(axis=0), dtype=np.float64)


class _VectorReward:
    """The single-env part: ``step`` returns the components; infos carry the weights."""

    weights: np.ndarray
    _reward_space: gym.spaces.Box | None = None
    _bounded = True

    @property
    def reward_space(self) -> gym.spaces.Box:
        """The reward components' ``Box`` (built on first use: it reads the model tables)."""
        if self._reward_space is None:
            self._reward_space = reward_space_of(self, self._bounded)  # type: ignore[arg-type]
        return self._reward_space

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """The scalar env's reset, with ``info["reward_weights"]``."""
        obs, info = super().reset(**kwargs)  # type: ignore[misc]
        info["reward_weights"] = np.array(self.weights, dtype=np.float64)
        return obs, info

    def step(self, action: int | np.integer) -> tuple[np.ndarray, np.ndarray, bool, bool, dict]:
        """The scalar env's step with the reward components (a fresh float64 array) as the
        reward, and ``info["reward_weights"]``."""
        obs, _, terminated, truncated, info = super().step(action)  # type: ignore[misc]
        info["reward_weights"] = np.array(self.weights, dtype=np.float64)
        return obs, info["reward_components"].copy(), terminated, truncated, info


class MOLeverGridEnv(_VectorReward, LeverGridEnv):  # type: ignore[misc]
    """``LeverGridEnv`` with the reward components as a vector reward (module docstring)."""


class MORandomLeverGridEnv(_VectorReward, RandomLeverGridEnv):  # type: ignore[misc]
    """``RandomLeverGridEnv`` with a vector reward; its ``reward_space`` is unbounded."""

    _bounded = False


class MOLeverGridVectorEnv(LeverGridVectorEnv):
    """``LeverGridVectorEnv`` with rewards of shape ``(num_envs, n_components)`` (module
    docstring); ``reward_space`` is the single env's, as in ``MOSyncVectorEnv``."""

    def __init__(self, num_envs: int = 1, objective: str = "PathGoldHazardLever", **kwargs: Any):
        """Arguments as ``LeverGridVectorEnv``'s."""
        super().__init__(num_envs, objective, **kwargs)
        self.reward_space = reward_space_of(self, bounded=not self._random_worlds)

    def _with_weights(self, info: dict[str, Any]) -> dict[str, Any]:
        info["reward_weights"] = np.tile(
            np.asarray(self.weights, dtype=np.float64), (self.num_envs, 1)
        )
        info["_reward_weights"] = np.ones(self.num_envs, dtype=bool)
        return info

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """The scalar vector env's reset, with ``info["reward_weights"]``."""
        obs, info = super().reset(**kwargs)
        return obs, self._with_weights(info)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """The scalar vector env's step with rewards of shape ``(num_envs, n_components)``
        (zeros where an env autoresets) and ``info["reward_weights"]``."""
        obs, _, terminated, truncated, info = super().step(actions)
        return (
            obs,
            info["reward_components"].copy(),
            terminated,
            truncated,
            self._with_weights(info),
        )


def mo_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of LeverGrid id ``env_id`` with the vector-reward entry points."""
    try:
        spec = gym.spec(env_id.removeprefix("lever_gym:")) if isinstance(env_id, str) else None
    except gym.error.Error:  # not registered
        spec = None
    if spec is None or spec.entry_point not in MO_ENTRY_POINTS:
        raise ConfigError(
            f"expected a registered LeverGrid id such as 'LeverGrid-8x8-PathGold-v0'; got "
            f"{env_id!r}. `lever-gym envs` lists them."
        )
    return dataclasses.replace(
        spec,
        entry_point=MO_ENTRY_POINTS[spec.entry_point],
        vector_entry_point=MO_VECTOR_ENTRY_POINT,
    )


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` with vector rewards (module docstring), env checker off;
    ``env.reward_space`` and ``env.unwrapped.reward_space`` are the same ``Box`` (building it
    builds the layout's tables: about 3 s the first time on 32x32)."""
    env = gym.make(mo_spec(env_id), disable_env_checker=True, **kwargs)
    env.reward_space = env.unwrapped.reward_space  # type: ignore[attr-defined]
    return env


def make_vec(env_id: str, num_envs: int = 1, **kwargs: Any) -> MOLeverGridVectorEnv:
    """``gym.make_vec(env_id, num_envs, **kwargs)`` with vector rewards: the native batched env
    (``MOLeverGridVectorEnv``). For a sync reference, build ``mo_gymnasium.MOSyncVectorEnv``
    from ``make``."""
    if "vectorization_mode" in kwargs:
        raise ConfigError(
            "make_vec builds the native vector env only; for sync sub-envs use "
            "mo_gymnasium.MOSyncVectorEnv([lambda: lever_gym.envs.mo.make(id)] * n)."
        )
    env = gym.make_vec(mo_spec(env_id), num_envs=num_envs, **kwargs)
    assert isinstance(env, MOLeverGridVectorEnv)  # the spec's vector entry point
    return env
