"""The transitions and reward components of every state and move of a LeverGrid layout.

``build_tables`` computes what ``TabularModel`` holds (the env, the solver and the trainers
read these tables, so they agree exactly); ``RewardTerms`` are the constants of the four
components, modelled on the paper's (notes section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lever_gym.envs.layout import MOVES, Layout
from lever_gym.objective import COMPONENTS

N_ACTIONS = len(MOVES)


@dataclass(frozen=True)
class RewardTerms:
    """The constants of the reward components (modelled on the paper's, notes section 3)."""

    path_exit: float = 100.0
    path_step: float = -0.1
    gold_pickup: float = 5.0
    gold_exit_all: float = 100.0
    gold_exit_missing: float = -10.0
    """Scaled by the fraction of gold left when the exit is reached without all of it."""
    gold_step: float = -0.01
    hazard_hit: float = -100.0
    hazard_proximity: float = 2.0
    """Per hazard neighbour left behind (a potential difference, so it is shaping)."""
    hazard_exit: float = 100.0
    hazard_step: float = -0.1
    lever_pickup: float = 20.0
    lever_exit_on: float = 80.0
    lever_exit_off: float = 20.0
    lever_step: float = -0.1


TERMS = RewardTerms()


def build_tables(lay: Layout, shaping: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(next_state, components, terminated)`` of every state and action of ``lay``."""
    n, n_cells, n_gold = lay.size, lay.n_cells, len(lay.gold)
    n_masks = 1 << n_gold
    sh = 1.0 if shaping else 0.0

    next_cell = np.empty((n_cells, N_ACTIONS), dtype=np.int64)
    for c in range(n_cells):
        r, col = divmod(c, n)
        for a, (dr, dc) in enumerate(MOVES):
            rr, cc = r + dr, col + dc
            ok = 0 <= rr < n and 0 <= cc < n and rr * n + cc not in lay.walls
            next_cell[c, a] = rr * n + cc if ok else c

    d_exit = lay.distances([lay.exit]).astype(np.float64)
    d_lever = lay.distances([lay.lever]).astype(np.float64)
    d_gold = np.zeros((n_masks, n_cells))
    per_gold = [lay.distances([g]).astype(np.float64) for g in lay.gold]
    for m in range(1, n_masks):
        low = (m & -m).bit_length() - 1
        rest = m & (m - 1)
        d_gold[m] = per_gold[low] if rest == 0 else np.minimum(d_gold[rest], per_gold[low])
    hazard_cell = np.zeros(n_cells, dtype=bool)
    hazard_cell[list(lay.hazards)] = True
    near_hazards = np.array(
        [sum(hazard_cell[x] for x in lay.neighbours(c)) for c in range(n_cells)]
    )
    gold_bit = np.zeros(n_cells, dtype=np.int64)
    for i, g in enumerate(lay.gold):
        gold_bit[g] = 1 << i
    popcount = np.array([bin(m).count("1") for m in range(n_masks)], dtype=np.float64)

    n_states = n_cells * 2 * n_masks
    s = np.arange(n_states, dtype=np.int64)
    mask = s & (n_masks - 1)
    lever = (s >> n_gold) & 1
    cell = s >> (n_gold + 1)
    c2 = next_cell[cell]  # (S, A)
    bit = gold_bit[c2]
    collected = (mask[:, None] & bit) != 0
    mask2 = mask[:, None] & ~bit
    pulled = (lever[:, None] == 0) & (c2 == lay.lever)
    lever2 = lever[:, None] | pulled
    at_exit = c2 == lay.exit
    at_hazard = hazard_cell[c2]
    toward_exit = d_exit[cell][:, None] - d_exit[c2]

    t = TERMS
    path = sh * toward_exit + t.path_step + at_exit * t.path_exit
    gold_shape = np.where(
        mask[:, None] > 0, d_gold[mask, cell][:, None] - d_gold[mask[:, None], c2], toward_exit
    )
    gold_exit = np.where(
        mask2 == 0, t.gold_exit_all, t.gold_exit_missing * popcount[mask2] / max(n_gold, 1)
    )
    gold = collected * t.gold_pickup + sh * gold_shape + t.gold_step + at_exit * gold_exit
    proximity = t.hazard_proximity * (near_hazards[cell][:, None] - near_hazards[c2])
    hazard = (
        at_hazard * t.hazard_hit
        + sh * (proximity + toward_exit)
        + t.hazard_step
        + at_exit * t.hazard_exit
    )
    lever_shape = np.where(lever[:, None] == 0, d_lever[cell][:, None] - d_lever[c2], toward_exit)
    lever_exit = np.where(lever2 == 1, t.lever_exit_on, t.lever_exit_off)
    lever_c = pulled * t.lever_pickup + sh * lever_shape + t.lever_step + at_exit * lever_exit

    by_name = {"path": path, "gold": gold, "hazard": hazard, "lever": lever_c}
    components = np.stack([by_name[c] for c in COMPONENTS], axis=-1)
    next_state = ((c2 * 2 + lever2) << n_gold) + mask2
    terminated = at_exit | at_hazard

    # Agents never stand on walls, and exit/hazard cells end the episode: make those
    # states absorbing with zero reward so that values there are 0.
    dead = np.zeros(n_cells, dtype=bool)
    dead[list(lay.walls) + list(lay.hazards) + [lay.exit]] = True
    dead_state = dead[cell]
    next_state[dead_state] = s[dead_state][:, None]
    components[dead_state] = 0.0
    terminated[dead_state] = True

    for arr in (next_state, components, terminated):
        arr.setflags(write=False)
    return next_state, components, terminated
