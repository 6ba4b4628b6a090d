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
    # environments and objectives
    "LeverGridEnv": "lever_gym.envs.grid",
    "RandomLeverGridEnv": "lever_gym.envs.random_grid",
    "LeverGridVectorEnv": "lever_gym.envs.vector",
    "Layout": "lever_gym.envs.layout",
    "Objective": "lever_gym.objective",
    "objective_names": "lever_gym.objective",
    "env_id": "lever_gym.objective",
    "Component": "lever_gym.components",
    # policies and exact solutions
    "Policy": "lever_gym.policy",
    "TabularPolicy": "lever_gym.train.policy",
    "solve": "lever_gym.mdp.solve",
    "optimal_return": "lever_gym.mdp.solve",
    # libraries
    "Library": "lever_gym.library.store",
    "ShardedLibrary": "lever_gym.library.shards",
    "PolicyRecord": "lever_gym.library.format.config",
    "BuildConfig": "lever_gym.library.format.config",
    "TrainConfig": "lever_gym.train.tabular",
    "DataConfig": "lever_gym.data.collect",
    "build_library": "lever_gym.library.build.builder",
    "to_d3rlpy": "lever_gym.data.convert",
    # composing
    "LeverComposedPolicy": "lever_gym.reuse.composed",
    "ReuseConfig": "lever_gym.reuse.config",
    "RetrievalConfig": "lever_gym.reuse.config",
    "ScoringConfig": "lever_gym.reuse.config",
    "ComposeConfig": "lever_gym.reuse.composition",
    "ImproveConfig": "lever_gym.reuse.config",
    "Member": "lever_gym.reuse.members",
    # evaluating
    "evaluate": "lever_gym.eval.evaluate",
    "EvalResult": "lever_gym.eval.evaluate",
    "check_layout": "lever_gym.eval.evaluate",
    # errors
    "LeverGymError": "lever_gym.errors",
    "ConfigError": "lever_gym.errors",
    "LayoutError": "lever_gym.errors",
    "UnknownObjectiveError": "lever_gym.errors",
    "ObservationError": "lever_gym.errors",
    "LibraryError": "lever_gym.errors",
    "RetrievalError": "lever_gym.errors",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lever_gym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["ENV_IDS", "__version__", *_EXPORTS]
