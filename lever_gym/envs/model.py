"""The exact tabular model of a LeverGrid layout: states, transitions, reward components.

States are those of the layout's ``GridSpace`` (the agent's cell and the state fields of the
components: the lever flag, a bit per gold still on the grid). The model tabulates, for every
state and action, the next state, the reward components (``lever_gym.components``) and the
termination flag; the env, the solver and the trainers all read these tables, so they agree
exactly.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

import lever_gym.components as reward_components
from lever_gym.envs.layout import Layout
from lever_gym.envs.rewards import N_ACTIONS, build_tables
from lever_gym.envs.space import GridSpace
from lever_gym.errors import LayoutError
from lever_gym.objective import Objective, weighted

__all__ = [
    "BYTES_PER_STATE",
    "KEPT_MODELS",
    "MAX_MODEL_BYTES",
    "MAX_MODEL_BYTES_VAR",
    "N_ACTIONS",
    "TabularModel",
    "check_model_size",
    "max_model_bytes",
    "model_bytes",
    "model_for",
]
BYTES_PER_STATE = 680
"""Peak bytes ``model_for`` allocates per state (measured 667; the kept tables hold 164)."""
MAX_MODEL_BYTES = 2 * 2**30
"""Default limit on a model's estimated memory; ``$LEVER_GYM_MAX_MODEL_BYTES`` overrides it."""
MAX_MODEL_BYTES_VAR = "LEVER_GYM_MAX_MODEL_BYTES"
KEPT_MODELS = 8
"""Models ``model_for`` keeps after their last user lets go (the most recently built)."""


@dataclass(frozen=True, eq=False)
class TabularModel:
    """Transition and reward tables of one layout; build with ``model_for``. The tables are
    computed on first use (composing a policy from a library needs the state indexing only)."""

    layout: Layout
    shaping: bool

    def __reduce__(self) -> tuple:
        """Pickle as its layout and shaping flag; unpickling rebuilds (or reuses) the tables."""
        return (model_for, (self.layout, self.shaping))

    @functools.cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return build_tables(self.layout, self.shaping)

    @property
    def next_state(self) -> np.ndarray:
        """(n_states, N_ACTIONS) int64: the state after each action."""
        return self._tables[0]

    @property
    def components(self) -> np.ndarray:
        """(n_states, N_ACTIONS, n_components) float64: reward components of each move, in
        registry order (``lever_gym.components``)."""
        return self._tables[1]

    @property
    def terminated(self) -> np.ndarray:
        """(n_states, N_ACTIONS) bool: the move ends the episode (exit or hazard entered)."""
        return self._tables[2]

    @functools.cached_property
    def space(self) -> GridSpace:
        """The layout's state encoding and observations (``GridSpace``)."""
        return GridSpace.of(self.layout)

    @property
    def n_states(self) -> int:
        """Number of tabular states (``GridSpace.n_states``)."""
        return self.space.n_states

    @property
    def start_state(self) -> int:
        """The layout's start: every state field at its initial value (lever off, every gold
        on the grid)."""
        return self.space.start(self.layout.start)

    def reward(self, weights: Objective | np.ndarray) -> np.ndarray:
        """(n_states, N_ACTIONS) scalar rewards under ``weights`` (see ``weighted``); read-only,
        cached per objective."""
        w = weights.weights if isinstance(weights, Objective) else weights
        return _reward_table(self, tuple(float(x) for x in w))

    def success(self, states: np.ndarray | int, objective: Objective) -> np.ndarray:
        """Whether each state meets every goal of ``objective``: at the exit, with the success
        rule of every weighted component met (all gold, the lever pulled; a hazard ends the
        episode elsewhere)."""
        return success_of(self.space, self.layout.exit, states, objective)


def success_of(
    space: GridSpace, exit_cell: int, states: np.ndarray | int, objective: Objective
) -> np.ndarray:
    """``TabularModel.success`` on ``space``: the exit reached and every weighted component's
    rule (``Component.success``) met."""
    ok = space.cell_of(states) == exit_cell
    fields = None
    for c, w in zip(reward_components.registered(), objective.weights, strict=True):
        if w != 0 and c.success is not None:
            fields = space.fields_of(states) if fields is None else fields
            ok = ok & c.success(fields)
    return ok


@functools.lru_cache(maxsize=32)
def _reward_table(model: TabularModel, weights: tuple[float, ...]) -> np.ndarray:
    table = weighted(model.components, weights)
    table.setflags(write=False)
    return table


def model_bytes(layout: Layout) -> int:
    """Estimated peak memory of ``model_for(layout)`` in bytes (``BYTES_PER_STATE`` a state)."""
    return GridSpace.of(layout).n_states * BYTES_PER_STATE


def max_model_bytes() -> int:
    """The memory limit of one model: ``$LEVER_GYM_MAX_MODEL_BYTES`` or ``MAX_MODEL_BYTES``."""
    text = os.environ.get(MAX_MODEL_BYTES_VAR)
    if text is None:
        return MAX_MODEL_BYTES
    if not text.strip().isdigit() or int(text) < 1:
        raise LayoutError(
            f"{MAX_MODEL_BYTES_VAR} must be a positive number of bytes; got {text!r}. Unset it "
            f"for the default ({MAX_MODEL_BYTES:,} bytes)."
        )
    return int(text)


def check_model_size(layout: Layout) -> None:
    """Raise ``LayoutError`` before allocating if the model of ``layout`` would need more
    memory than ``max_model_bytes()``."""
    need, limit = model_bytes(layout), max_model_bytes()
    if need > limit:
        n, g = layout.size, len(layout.gold)
        raise LayoutError(
            f"the {n}x{n} layout with {g} gold has {GridSpace.of(layout).n_states:,} states; its "
            f"tabular model needs about {need / 2**30:.1f} GiB, above the limit of "
            f"{limit / 2**30:.1f} GiB. Use fewer gold (each doubles the states) or a smaller "
            f"grid, or raise the limit with {MAX_MODEL_BYTES_VAR}=<bytes>."
        )


def model_for(layout: Layout, shaping: bool = True) -> TabularModel:
    """The tabular model of ``layout`` (one per layout, shaping flag and component registry);
    raise ``LayoutError`` first if its tables would exceed the memory limit
    (``check_model_size``)."""
    return _model_for(layout, bool(shaping), reward_components.token())


@functools.lru_cache(maxsize=KEPT_MODELS)
def _model_for(layout: Layout, shaping: bool, components: tuple) -> TabularModel:
    check_model_size(layout)
    return TabularModel(layout, shaping)
