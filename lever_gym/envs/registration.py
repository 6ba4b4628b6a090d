"""Registration of every ``LeverGrid-{size}x{size}-{Objective}-v0`` id, from one table."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, PRESETS
from lever_gym.objectives import OBJECTIVE_NAMES

ENTRY_POINT = "lever_gym.envs.grid:LeverGridEnv"


def env_id(size: int, objective: str) -> str:
    """The registered id of ``objective`` on the generated ``size`` × ``size`` layouts."""
    return f"LeverGrid-{size}x{size}-{objective}-v0"


def detour_id(objective: str) -> str:
    """The id of ``objective`` on the designed failure-case layout (see ``DETOUR_LAYOUT_SEED``)."""
    return f"LeverGrid-16x16-Detour-{objective}-v0"


ENV_IDS: tuple[str, ...] = tuple(env_id(n, o) for n in PRESETS for o in OBJECTIVE_NAMES) + tuple(
    detour_id(o) for o in OBJECTIVE_NAMES
)
"""Every registered id: sizes 8, 16, 32 times the 15 named objectives, then the 15 on the
16x16 detour layout."""


def _table() -> list[tuple[str, int, str, int]]:
    """``(id, size, objective, layout_seed)`` of every registered id, in ``ENV_IDS`` order."""
    table = [(env_id(n, o), n, o, 0) for n in PRESETS for o in OBJECTIVE_NAMES]
    return table + [(detour_id(o), 16, o, DETOUR_LAYOUT_SEED) for o in OBJECTIVE_NAMES]


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
        lines.append(
            f"| `{eid}` | {size}x{size} | {spec.kwargs['layout_seed']} | {objective} | ({w}) | "
            f"{spec.max_episode_steps} | {dim} |"
        )
    return "\n".join(lines) + "\n"
