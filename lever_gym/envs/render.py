"""Pictures of a LeverGrid state: an ANSI text map and an RGB array (pure numpy)."""

from __future__ import annotations

import numpy as np

from lever_gym.envs.model import TabularModel

TILE = 16
COLORS = {
    "floor": (236, 236, 228),
    "wall": (70, 70, 78),
    "gold": (240, 190, 30),
    "hazard": (210, 50, 40),
    "lever_off": (40, 90, 220),
    "lever_on": (150, 190, 250),
    "exit": (40, 170, 70),
    "start": (200, 200, 190),
    "agent": (20, 20, 20),
    "grid": (200, 200, 192),
}


def render_ansi(model: TabularModel, state: int) -> str:
    """Text map of ``state``: the layout legend with ``A`` for the agent and collected
    objects removed (a pulled lever shows as ``l``)."""
    cell, lever, mask = (int(x) for x in model.decode(state))
    chars = list(model.layout.to_ascii().replace("\n", ""))
    chars[model.layout.start] = "."
    for i, g in enumerate(model.layout.gold):
        if not (mask >> i) & 1:
            chars[g] = "."
    if lever:
        chars[model.layout.lever] = "l"
    chars[cell] = "A"
    n = model.layout.size
    return "\n".join("".join(chars[r * n : (r + 1) * n]) for r in range(n)) + "\n"


def render_rgb(model: TabularModel, state: int) -> np.ndarray:
    """RGB picture (uint8, ``(16 * size, 16 * size, 3)``) of ``state``."""
    lay = model.layout
    cell, lever, mask = (int(x) for x in model.decode(state))
    tiles = np.empty((lay.n_cells, 3), dtype=np.uint8)
    tiles[:] = COLORS["floor"]
    tiles[list(lay.walls)] = COLORS["wall"]
    tiles[list(lay.hazards)] = COLORS["hazard"]
    tiles[lay.exit] = COLORS["exit"]
    tiles[lay.lever] = COLORS["lever_on" if lever else "lever_off"]
    for i, g in enumerate(lay.gold):
        if (mask >> i) & 1:
            tiles[g] = COLORS["gold"]
    n = lay.size
    img = np.repeat(np.repeat(tiles.reshape(n, n, 3), TILE, axis=0), TILE, axis=1)
    img[::TILE, :] = COLORS["grid"]
    img[:, ::TILE] = COLORS["grid"]
    r, c = divmod(cell, n)
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    disc = (yy - TILE / 2 + 0.5) ** 2 + (xx - TILE / 2 + 0.5) ** 2 <= (TILE * 0.32) ** 2
    img[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE][disc] = COLORS["agent"]
    return img
