"""lever_gym: inference-time policy reuse under support constraints, as a Gymnasium plugin.

``import lever_gym`` registers every ``LeverGrid-{8x8,16x16,32x32}-{Objective}-v0`` id.
"""

from lever_gym.envs import (
    ENV_IDS,
    Layout,
    LeverGridEnv,
    RandomLeverGridEnv,
    env_id,
    random_id,
    register_envs,
)
from lever_gym.errors import (
    ConfigError,
    LayoutError,
    LeverGymError,
    LibraryError,
    RetrievalError,
    UnknownObjectiveError,
)
from lever_gym.evaluation import EvalResult, evaluate
from lever_gym.objectives import COMPONENTS, OBJECTIVE_NAMES, objective_name, parse_objective
from lever_gym.solve import Solution, optimal_return, solve

__version__ = "0.1.0"

register_envs()

# Heavier parts (numba, minari, d3rlpy, annoy) load on first use, keeping `import lever_gym`
# down to registration.
_LAZY = {
    "BuildConfig": "lever_gym.library",
    "DataConfig": "lever_gym.data",
    "Library": "lever_gym.library",
    "PolicyRecord": "lever_gym.library",
    "TabularPolicy": "lever_gym.policies",
    "TrainConfig": "lever_gym.train",
    "LeverComposedPolicy": "lever_gym.composed",
    "LeverGridVectorEnv": "lever_gym.envs.vector",
    "to_d3rlpy": "lever_gym.data",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lever_gym' has no attribute {name!r}")


__all__ = [
    "COMPONENTS",
    "ENV_IDS",
    "OBJECTIVE_NAMES",
    "BuildConfig",
    "ConfigError",
    "DataConfig",
    "EvalResult",
    "Layout",
    "LayoutError",
    "LeverComposedPolicy",
    "LeverGridEnv",
    "LeverGridVectorEnv",
    "LeverGymError",
    "Library",
    "LibraryError",
    "PolicyRecord",
    "RandomLeverGridEnv",
    "RetrievalError",
    "Solution",
    "TabularPolicy",
    "TrainConfig",
    "UnknownObjectiveError",
    "__version__",
    "env_id",
    "evaluate",
    "objective_name",
    "optimal_return",
    "parse_objective",
    "random_id",
    "solve",
    "to_d3rlpy",
]
