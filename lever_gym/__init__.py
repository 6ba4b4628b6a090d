"""lever_gym: inference-time policy reuse under support constraints, as a Gymnasium plugin.

``import lever_gym`` registers every ``LeverGrid-*`` id. The package is organised in
pipeline stages (``envs`` → ``mdp`` → ``train`` → ``data`` → ``library`` → ``reuse`` →
``eval`` → ``experiments``); the names below are its public surface. Heavier parts
(numba, minari, d3rlpy, annoy) load on first use.
"""

import importlib

from lever_gym.envs.registration import ENV_IDS, register_envs
from lever_gym.version import __version__

register_envs()

_EXPORTS = {
    "Objective": "lever_gym.objective",
    "objective_names": "lever_gym.objective",
    "env_id": "lever_gym.objective",
    "Policy": "lever_gym.policy",
    "ConfigError": "lever_gym.errors",
    "LayoutError": "lever_gym.errors",
    "LeverGymError": "lever_gym.errors",
    "LibraryError": "lever_gym.errors",
    "ObservationError": "lever_gym.errors",
    "RetrievalError": "lever_gym.errors",
    "UnknownObjectiveError": "lever_gym.errors",
    "Layout": "lever_gym.envs.layout",
    "LeverGridEnv": "lever_gym.envs.grid",
    "RandomLeverGridEnv": "lever_gym.envs.random_grid",
    "LeverGridVectorEnv": "lever_gym.envs.vector",
    "Solution": "lever_gym.mdp.solve",
    "solve": "lever_gym.mdp.solve",
    "optimal_return": "lever_gym.mdp.solve",
    "TabularPolicy": "lever_gym.train.policy",
    "TrainConfig": "lever_gym.train.tabular",
    "DataConfig": "lever_gym.data.collect",
    "to_d3rlpy": "lever_gym.data.convert",
    "BuildConfig": "lever_gym.library.format.config",
    "PolicyRecord": "lever_gym.library.format.config",
    "Library": "lever_gym.library.store",
    "ShardedLibrary": "lever_gym.library.shards",
    "LeverComposedPolicy": "lever_gym.reuse.composed",
    "EvalResult": "lever_gym.eval.evaluate",
    "check_layout": "lever_gym.eval.evaluate",
    "evaluate": "lever_gym.eval.evaluate",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lever_gym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["ENV_IDS", "__version__", "register_envs", *_EXPORTS]
