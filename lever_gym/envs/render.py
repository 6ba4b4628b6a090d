"""Pictures of a LeverGrid state: an ANSI text map, an RGB array (pure numpy), and a
matplotlib figure of frames with their colour legend (for the docs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

TILE_SIZE = 16
"""Default side of one cell in ``rgb_array`` frames, in pixels."""
TILE_SIZE_RANGE = (4, 64)
"""Smallest and largest accepted ``tile_size``."""
COLORS = {
    "floor": (236, 236, 228),
    "wall": (70, 70, 78),
    "gold": (240, 190, 30),
    "hazard": (210, 50, 40),
    "lever_off": (40, 90, 220),
    "lever_on": (150, 190, 250),
    "exit": (40, 170, 70),
    "agent": (20, 20, 20),
    "grid": (200, 200, 192),
}
LEGEND = (
    ("A", "agent", "agent"),
    ("#", "wall", "wall"),
    ("$", "gold", "gold"),
    ("H", "hazard", "hazard"),
    ("L", "lever", "lever_off"),
    ("l", "pulled lever", "lever_on"),
    ("E", "exit", "exit"),
    (".", "floor", "floor"),
)
"""``(ANSI character, meaning, colour key)`` of every symbol the two render modes draw."""
ANSI_LEGEND = "A agent  # wall  $ gold  H hazard  L lever (l pulled)  E exit  . floor"
"""The last line of every ``ansi`` frame."""


def check_tile_size(value: object) -> int:
    """Validate ``tile_size``: an integer number of pixels per cell in ``TILE_SIZE_RANGE``."""
    return checks.int_in(value, "tile_size", *TILE_SIZE_RANGE)


def _decoded(model: TabularModel, state: int) -> tuple[int, int, int]:
    """``(cell, lever, gold mask)`` of ``state`` (what the pictures draw)."""
    fields = model.space.fields_of(state)
    return int(model.space.cell_of(state)), int(fields["lever"]), int(fields["gold"])


def render_ansi(model: TabularModel, state: int) -> str:
    """Text map of ``state``, then the legend line ``ANSI_LEGEND``: the layout's characters
    with ``A`` for the agent, collected gold and the start shown as floor, and a pulled lever
    as ``l``."""
    cell, lever, mask = _decoded(model, state)
    chars = list(model.layout.to_ascii().replace("\n", ""))
    chars[model.layout.start] = "."
    for i, g in enumerate(model.layout.gold):
        if not (mask >> i) & 1:
            chars[g] = "."
    if lever:
        chars[model.layout.lever] = "l"
    chars[cell] = "A"
    n = model.layout.size
    rows = ["".join(chars[r * n : (r + 1) * n]) for r in range(n)]
    return "\n".join([*rows, ANSI_LEGEND]) + "\n"


def render_rgb(model: TabularModel, state: int, tile_size: int = TILE_SIZE) -> np.ndarray:
    """RGB picture (uint8, ``(tile_size * size, tile_size * size, 3)``) of ``state``: one
    square per cell in its ``COLORS`` entry, grid lines, and a disc for the agent."""
    t = check_tile_size(tile_size)
    lay = model.layout
    cell, lever, mask = _decoded(model, state)
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
    img = np.repeat(np.repeat(tiles.reshape(n, n, 3), t, axis=0), t, axis=1)
    img[::t, :] = COLORS["grid"]
    img[:, ::t] = COLORS["grid"]
    r, c = divmod(cell, n)
    yy, xx = np.mgrid[0:t, 0:t]
    disc = (yy - t / 2 + 0.5) ** 2 + (xx - t / 2 + 0.5) ** 2 <= (t * 0.32) ** 2
    img[r * t : (r + 1) * t, c * t : (c + 1) * t][disc] = COLORS["agent"]
    return img


def legend_figure(
    frames: Sequence[np.ndarray], titles: Sequence[str] = (), *, dpi: int = 100
) -> Figure:
    """A matplotlib figure of RGB ``frames`` side by side at their pixel size (one title
    above each, if given) with the colour legend of ``render_rgb`` on the right."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if titles and len(titles) != len(frames):
        raise ConfigError(f"titles must be one per frame; got {len(titles)} for {len(frames)}.")
    gap, legend_w, legend_h, title_h = 10, 140, 150, (20 if titles else 0)
    width = sum(f.shape[1] for f in frames) + gap * len(frames) + legend_w
    height = max(max(f.shape[0] for f in frames), legend_h) + title_h + 2 * gap
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    x = gap
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        bottom = height - gap - title_h - h
        ax = fig.add_axes((x / width, bottom / height, w / width, h / height))
        ax.imshow(frame, interpolation="nearest")
        ax.set_axis_off()
        if titles:
            ax.set_title(titles[i], fontsize=9, pad=4)
        x += w + gap

    handles: list[Artist] = []
    for char, name, key in LEGEND:
        r, g, b = (v / 255 for v in COLORS[key])
        color = (r, g, b)
        label = f"{name} ({char})".replace("$", r"\$")  # a bare "$" starts matplotlib math
        if char == "A":
            handles.append(Line2D([], [], marker="o", linestyle="", color=color, label=label))
        else:
            er, eg, eb = (v / 255 for v in COLORS["grid"])
            edge = (er, eg, eb)
            handles.append(Patch(facecolor=color, edgecolor=edge, label=label))
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(x / width, 1 - (gap + title_h) / height),
        fontsize=8,
        frameon=False,
    )
    return fig
