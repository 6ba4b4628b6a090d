"""Registration of every LeverGrid id, from one table.

Every id has the vector entry point ``LeverGridVectorEnv``, so ``gym.make_vec(id, num_envs=N)``
(``vectorization_mode=None`` picks the vector entry point in gymnasium 1.0) builds the native
batched env; ``vectorization_mode="sync"`` still builds a ``SyncVectorEnv`` of ``gym.make``
envs, with identical results.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, PRESETS
from lever_gym.envs.random_grid import DEFAULT_LAYOUT_SEEDS
from lever_gym.objectives import OBJECTIVE_NAMES

ENTRY_POINT = "lever_gym.envs.grid:LeverGridEnv"
RANDOM_ENTRY_POINT = "lever_gym.envs.random_grid:RandomLeverGridEnv"
VECTOR_ENTRY_POINT = "lever_gym.envs.vector:LeverGridVectorEnv"


def env_id(size: int, objective: str) -> str:
    """The registered id of ``objective`` on the generated ``size`` × ``size`` layouts."""
    return f"LeverGrid-{size}x{size}-{objective}-v0"


def detour_id(objective: str) -> str:
    """The id of ``objective`` on the designed failure-case layout (see ``DETOUR_LAYOUT_SEED``)."""
    return f"LeverGrid-16x16-Detour-{objective}-v0"


def random_id(size: int, objective: str) -> str:
    """The id of ``objective`` on a new generated ``size`` × ``size`` layout every episode."""
    return f"LeverGrid-Random-{size}x{size}-{objective}-v0"


def _table() -> list[tuple[str, str, dict[str, Any]]]:
    """``(id, entry_point, kwargs)`` of every registered id, in ``ENV_IDS`` order."""
    table = [
        (env_id(n, o), ENTRY_POINT, {"objective": o, "size": n, "layout_seed": 0})
        for n in PRESETS
        for o in OBJECTIVE_NAMES
    ]
    table += [
        (detour_id(o), ENTRY_POINT, {"objective": o, "size": 16, "layout_seed": DETOUR_LAYOUT_SEED})
        for o in OBJECTIVE_NAMES
    ]
    return table + [
        (
            random_id(n, o),
            RANDOM_ENTRY_POINT,
            {"objective": o, "size": n, "layout_seeds": list(DEFAULT_LAYOUT_SEEDS)},
        )
        for n in PRESETS
        for o in OBJECTIVE_NAMES
    ]


ENV_IDS: tuple[str, ...] = tuple(eid for eid, _, _ in _table())
"""Every registered id: sizes 8, 16, 32 times the 15 named objectives, the 15 on the 16x16
detour layout, then the 45 randomised-world ids (a new layout every episode)."""


def register_envs() -> None:
    """Register every id in ``ENV_IDS`` (idempotent)."""
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
    import gymnasium as gym

    from lever_gym.objectives import objective_weights

    lines = [
        "| id | size | layout_seed | objective | weights (path, gold, hazard, lever) "
        "| max steps | obs dim |",
        "|---|---|---|---|---|---|---|",
    ]
    for eid in ENV_IDS:
        spec = gym.spec(eid)
        size, objective = spec.kwargs["size"], spec.kwargs["objective"]
        w = ", ".join(f"{x:g}" for x in objective_weights(objective))
        dim = 2 * size + 1 + PRESETS[size].gold
        if "layout_seeds" in spec.kwargs:
            lo, hi = spec.kwargs["layout_seeds"]
            seed = f"random in [{lo}, {hi})"
        else:
            seed = spec.kwargs["layout_seed"]
        lines.append(
            f"| `{eid}` | {size}x{size} | {seed} | {objective} | ({w}) | "
            f"{spec.max_episode_steps} | {dim} |"
        )
    return "\n".join(lines) + "\n"
