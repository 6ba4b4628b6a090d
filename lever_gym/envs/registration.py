"""Registration of every ``LeverGrid-{size}x{size}-{Objective}-v0`` id, from one table."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from lever_gym.envs.layout import PRESETS
from lever_gym.objectives import OBJECTIVE_NAMES

ENTRY_POINT = "lever_gym.envs.grid:LeverGridEnv"


def env_id(size: int, objective: str) -> str:
    """The registered id of ``objective`` on the generated ``size`` × ``size`` layouts."""
    return f"LeverGrid-{size}x{size}-{objective}-v0"


ENV_IDS: tuple[str, ...] = tuple(env_id(n, o) for n in PRESETS for o in OBJECTIVE_NAMES)
"""Every registered id: sizes 8, 16, 32 times the 15 named objectives."""


def register_envs() -> None:
    """Register every id in ``ENV_IDS`` (idempotent)."""
    for size in PRESETS:
        for objective in OBJECTIVE_NAMES:
            eid = env_id(size, objective)
            if eid in registry:
                continue
            register(
                id=eid,
                entry_point=ENTRY_POINT,
                max_episode_steps=size * size,
                kwargs={"objective": objective, "size": size, "layout_seed": 0},
            )


def environments_table() -> str:
    """Markdown table of every registered id (the body of ``docs/environments.md``)."""
    import gymnasium as gym

    from lever_gym.objectives import objective_weights

    lines = [
        "| id | size | objective | weights (path, gold, hazard, lever) | max steps | obs dim |",
        "|---|---|---|---|---|---|",
    ]
    for eid in ENV_IDS:
        spec = gym.spec(eid)
        size, objective = spec.kwargs["size"], spec.kwargs["objective"]
        w = ", ".join(f"{x:g}" for x in objective_weights(objective))
        dim = 2 * size + 1 + PRESETS[size].gold
        lines.append(
            f"| `{eid}` | {size}x{size} | {objective} | ({w}) | {spec.max_episode_steps} | {dim} |"
        )
    return "\n".join(lines) + "\n"
