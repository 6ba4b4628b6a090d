"""LeverGrid: layouts, the tabular model, the env, its rendering and registration."""

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import PRESETS, Layout
from lever_gym.envs.model import TabularModel, model_for
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.registration import ENV_IDS, env_id, random_id, register_envs

# LeverGridVectorEnv (lever_gym.envs.vector) loads numba; import it from there, or through
# gym.make_vec, which loads it on demand.

__all__ = [
    "ENV_IDS",
    "PRESETS",
    "Layout",
    "LeverGridEnv",
    "RandomLeverGridEnv",
    "TabularModel",
    "env_id",
    "model_for",
    "random_id",
    "register_envs",
]
