"""lever_gym: inference-time policy reuse under support constraints, as a Gymnasium plugin.

``import lever_gym`` registers every ``LeverGrid-{8x8,16x16,32x32}-{Objective}-v0`` id.
"""

from lever_gym.envs import ENV_IDS, Layout, LeverGridEnv, env_id, register_envs
from lever_gym.errors import (
    ConfigError,
    LayoutError,
    LeverGymError,
    LibraryError,
    RetrievalError,
    UnknownObjectiveError,
)
from lever_gym.objectives import COMPONENTS, OBJECTIVE_NAMES, objective_name, parse_objective
from lever_gym.solve import Solution, optimal_return, solve

__version__ = "0.1.0"

register_envs()

__all__ = [
    "COMPONENTS",
    "ENV_IDS",
    "OBJECTIVE_NAMES",
    "ConfigError",
    "Layout",
    "LayoutError",
    "LeverGridEnv",
    "LeverGymError",
    "LibraryError",
    "RetrievalError",
    "Solution",
    "UnknownObjectiveError",
    "__version__",
    "env_id",
    "objective_name",
    "optimal_return",
    "parse_objective",
    "solve",
]
