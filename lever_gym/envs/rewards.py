"""The transitions and reward components of every state and move of a LeverGrid layout.

``build_tables`` computes what ``TabularModel`` holds (the env, the solver and the trainers
read these tables, so they agree exactly): the moves of every cell, then each state field
after each move (``lever_gym.components``, in registry order), then each component's
reward, stacked in registry order.
"""

from __future__ import annotations

import numpy as np

import lever_gym.components as reward_components
from lever_gym.components import Moves
from lever_gym.envs.layout import MOVES, Layout
from lever_gym.envs.space import GridSpace

N_ACTIONS = len(MOVES)


def next_cells(lay: Layout) -> np.ndarray:
    """(n_cells, N_ACTIONS) int64: the cell after each move (walls and the edge block)."""
    n = lay.size
    out = np.empty((lay.n_cells, N_ACTIONS), dtype=np.int64)
    for c in range(lay.n_cells):
        r, col = divmod(c, n)
        for a, (dr, dc) in enumerate(MOVES):
            rr, cc = r + dr, col + dc
            ok = 0 <= rr < n and 0 <= cc < n and rr * n + cc not in lay.walls
            out[c, a] = rr * n + cc if ok else c
    return out


def build_tables(lay: Layout, shaping: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(next_state, components, terminated)`` of every state and action of ``lay``."""
    space = GridSpace.of(lay)
    s = np.arange(space.n_states, dtype=np.int64)
    cell = space.cell_of(s)
    c2 = next_cells(lay)[cell]  # (S, A)
    hazard_cell = np.zeros(lay.n_cells, dtype=bool)
    hazard_cell[list(lay.hazards)] = True
    d_exit = lay.distances([lay.exit]).astype(np.float64)
    moves = Moves(
        layout=lay, shaping=1.0 if shaping else 0.0, cell=cell, next_cell=c2,
        at_exit=c2 == lay.exit, at_hazard=hazard_cell[c2],
        toward_exit=d_exit[cell][:, None] - d_exit[c2], before=space.fields_of(s),
    )  # fmt: skip
    for name, field in reward_components.fields():
        moves.after[name] = field.advance(moves)
    components = np.stack([c.reward(moves) for c in reward_components.registered()], axis=-1)
    next_state = np.asarray(space.encode(c2, **moves.after))
    terminated = moves.at_exit | moves.at_hazard

    # Agents never stand on walls, and exit/hazard cells end the episode: make those
    # states absorbing with zero reward so that values there are 0.
    dead = np.zeros(lay.n_cells, dtype=bool)
    dead[list(lay.walls) + list(lay.hazards) + [lay.exit]] = True
    dead_state = dead[cell]
    next_state[dead_state] = s[dead_state][:, None]
    components[dead_state] = 0.0
    terminated[dead_state] = True

    for arr in (next_state, components, terminated):
        arr.setflags(write=False)
    return next_state, components, terminated
