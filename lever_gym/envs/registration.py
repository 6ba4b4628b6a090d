"""Registration of every LeverGrid id, from one table.

Every id has the vector entry point ``LeverGridVectorEnv``, so ``gym.make_vec(id, num_envs=N)``
(``vectorization_mode=None`` picks the vector entry point in gymnasium 1.0) builds the native
batched env; ``vectorization_mode="sync"`` still builds a ``SyncVectorEnv`` of ``gym.make``
envs, with identical results.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

import lever_gym.components as reward_components
from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, PRESETS, RANDOM_LAYOUT_SEEDS, Layout
from lever_gym.envs.space import GridSpace
from lever_gym.objective import Objective, env_id, objective_names

ENTRY_POINT = "lever_gym.envs.grid:LeverGridEnv"
RANDOM_ENTRY_POINT = "lever_gym.envs.random_grid:RandomLeverGridEnv"
VECTOR_ENTRY_POINT = "lever_gym.envs.vector:LeverGridVectorEnv"
DETOUR = "Detour"
RANDOM = "Random"


def _table() -> list[tuple[str, str, dict[str, Any]]]:
    """``(id, entry_point, kwargs)`` of every registered id, in ``ENV_IDS`` order: the
    generated sizes times the named objectives, the named objectives on the designed
    failure-case layout (16x16, ``DETOUR_LAYOUT_SEED``), then the randomised worlds."""
    table = [
        (env_id(n, o), ENTRY_POINT, {"objective": o, "size": n, "layout_seed": 0})
        for n in PRESETS
        for o in objective_names()
    ]
    table += [
        (
            env_id(16, o, variant=DETOUR),
            ENTRY_POINT,
            {"objective": o, "size": 16, "layout_seed": DETOUR_LAYOUT_SEED},
        )
        for o in objective_names()
    ]
    return table + [
        (
            env_id(n, o, family=RANDOM),
            RANDOM_ENTRY_POINT,
            {"objective": o, "size": n, "layout_seeds": list(RANDOM_LAYOUT_SEEDS)},
        )
        for n in PRESETS
        for o in objective_names()
    ]


ENV_IDS: tuple[str, ...] = tuple(eid for eid, _, _ in _table())
"""Every registered id: sizes 8, 16, 32, 64 times the 15 named objectives, the 15 on the
16x16 detour layout, then the 60 randomised-world ids (a new layout every episode)."""


def register_envs() -> None:
    """Register every id of ``ENV_IDS``, and of the objectives of components registered since
    (idempotent)."""
    for eid, entry_point, kwargs in _table():
        if eid not in registry:
            register(
                id=eid,
                entry_point=entry_point,
                vector_entry_point=VECTOR_ENTRY_POINT,
                max_episode_steps=kwargs["size"] ** 2,
                kwargs=kwargs,
            )


def environments_table() -> str:
    """Markdown table of every registered id (the body of ``docs/environments.md``)."""
    lines = [
        f"| id | size | layout_seed | objective | weights ({', '.join(reward_components.names())}) "
        "| max steps | obs dim |",
        "|---|---|---|---|---|---|---|",
    ]
    for eid, _, kwargs in _table():
        size, objective = kwargs["size"], kwargs["objective"]
        w = ", ".join(f"{x:g}" for x in Objective.named(objective).weights)
        if "layout_seeds" in kwargs:
            lo, hi = kwargs["layout_seeds"]
            seed = f"random in [{lo}, {hi})"
        else:
            seed = kwargs["layout_seed"]
        lines.append(
            f"| `{eid}` | {size}x{size} | {seed} | {objective} | ({w}) | "
            f"{size * size} | {GridSpace.of(Layout.generate(size, 0)).obs_dim} |"
        )
    return "\n".join(lines) + "\n"
