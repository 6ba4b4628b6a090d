"""The worlds of ``LeverGridVectorEnv``: the single env it copies, and each layout in use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.model import TabularModel
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.views import Observer
from lever_gym.errors import ConfigError


def template_env(
    objective: str,
    size: int | None,
    layout_seed: int | None,
    layout: str | None,
    layout_seeds: Sequence[int] | None,
    common: dict[str, Any],
) -> tuple[LeverGridEnv, int]:
    """The single env a vector env copies (its first world) and its layout seed:
    a ``RandomLeverGridEnv`` with ``layout_seeds``, else a ``LeverGridEnv``."""
    if layout_seeds is None:
        seed = 0 if layout_seed is None else layout_seed
        return LeverGridEnv(objective, size=size, layout_seed=seed, layout=layout, **common), 0
    if layout is not None or layout_seed is not None:
        raise ConfigError(
            "layout_seeds (a new generated layout every reset) excludes layout and "
            f"layout_seed; got layout_seeds={checks.shown(layout_seeds)} with "
            f"layout_seed={checks.shown(layout_seed)}, layout={'<map>' if layout else None}. "
            "Pass only one of them."
        )
    size = 16 if size is None else size
    worlds = RandomLeverGridEnv(objective, size=size, layout_seeds=layout_seeds, **common)
    return worlds, worlds.layout_seed


@dataclass(frozen=True, eq=False)
class World:
    """A layout in use: its model, the floor cells random starts are drawn from, where
    the objective's goals are met (``TabularModel.success`` of every state), and what the
    agent sees there."""

    model: TabularModel
    floor: tuple[int, ...]
    layout_seed: int
    success: np.ndarray
    observer: Observer
    floor_starts: np.ndarray
    """The start state of each floor cell (``GridSpace.start``), in ``floor`` order."""
