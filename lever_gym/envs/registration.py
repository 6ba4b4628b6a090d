"""Registration of every LeverGrid id, from one table."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, PRESETS, preset_obs_dim
from lever_gym.objective import OBJECTIVE_NAMES, Objective, env_id

ENTRY_POINT = "lever_gym.envs.grid:LeverGridEnv"
DETOUR = "Detour"


def _table() -> list[tuple[str, int, str, int]]:
    """``(id, size, objective, layout_seed)`` of every registered id, in ``ENV_IDS`` order:
    the generated sizes times the named objectives, then the named objectives on the
    designed failure-case layout (16x16, ``DETOUR_LAYOUT_SEED``)."""
    table = [(env_id(n, o), n, o, 0) for n in PRESETS for o in OBJECTIVE_NAMES]
    return table + [
        (env_id(16, o, variant=DETOUR), 16, o, DETOUR_LAYOUT_SEED) for o in OBJECTIVE_NAMES
    ]


ENV_IDS: tuple[str, ...] = tuple(row[0] for row in _table())
"""Every registered id."""


def register_envs() -> None:
    """Register every id in ``ENV_IDS`` (idempotent)."""
    for eid, size, objective, layout_seed in _table():
        if eid not in registry:
            register(
                id=eid,
                entry_point=ENTRY_POINT,
                max_episode_steps=size * size,
                kwargs={"objective": objective, "size": size, "layout_seed": layout_seed},
            )


def environments_table() -> str:
    """Markdown table of every registered id (the body of ``docs/environments.md``)."""
    lines = [
        "| id | size | layout_seed | objective | weights (path, gold, hazard, lever) "
        "| max steps | obs dim |",
        "|---|---|---|---|---|---|---|",
    ]
    for eid, size, objective, layout_seed in _table():
        w = ", ".join(f"{x:g}" for x in Objective.named(objective).weights)
        lines.append(
            f"| `{eid}` | {size}x{size} | {layout_seed} | {objective} | ({w}) | "
            f"{size * size} | {preset_obs_dim(size)} |"
        )
    return "\n".join(lines) + "\n"
