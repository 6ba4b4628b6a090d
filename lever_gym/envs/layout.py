"""Grid layouts: parsing ASCII maps, the seeded generator, and breadth-first distances.

Legend: ``.`` floor, ``#`` wall, ``S`` start, ``E`` exit, ``$`` gold, ``H`` hazard,
``L`` lever; rows separated by newlines. Cells are numbered ``row * size + col``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError, LayoutError

MIN_SIZE, MAX_SIZE = 3, 64
MAX_GOLD = 12
"""Gold is part of the Markov state (one bit each), so the state space grows as 2**gold."""

MAX_ATTEMPTS = 1000


@dataclass(frozen=True)
class Counts:
    """How many walls, hazards and gold the generator places (one lever, exit, start)."""

    walls: int
    hazards: int
    gold: int


PRESETS: dict[int, Counts] = {
    8: Counts(walls=4, hazards=4, gold=4),
    16: Counts(walls=16, hazards=16, gold=8),
    32: Counts(walls=64, hazards=64, gold=8),
    64: Counts(walls=256, hazards=256, gold=8),
}
"""Generator counts per size, after the paper's (gold capped to keep the state space tabular;
64x64 keeps 1 in 16 cells a wall and 1 in 16 a hazard, as 16x16 and 32x32 do)."""

RANDOM_LAYOUT_SEEDS = (0, 1000)
"""The half-open range ``[lo, hi)`` of layout seeds the registered random-world ids draw from."""
DETOUR_LAYOUT_SEED = 132
"""The designed failure case: on 16x16, ``Layout.generate(16, 132)`` puts the exit 4 steps
from the start and the lever 40 steps off that path (44 steps start -> lever -> exit), the
longest such detour among seeds 0-199. Objectives with the lever need value propagated along
a detour that a policy heading for the exit never records."""

LEGEND = {
    ".": "floor",
    "#": "wall",
    "S": "start",
    "E": "exit",
    "$": "gold",
    "H": "hazard",
    "L": "lever",
}
MOVES: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))
"""Action -> (d_row, d_col): 0 right, 1 down, 2 left, 3 up."""


@dataclass(frozen=True)
class Layout:
    """An immutable N×N layout. ``gold[i]`` is the cell of gold bit ``i`` in the state."""

    size: int
    walls: frozenset[int]
    hazards: frozenset[int]
    gold: tuple[int, ...]
    lever: int
    exit: int
    start: int

    @property
    def n_cells(self) -> int:
        """Number of cells, ``size ** 2``."""
        return self.size * self.size

    def to_ascii(self) -> str:
        """Render the layout as an ASCII map that ``from_ascii`` reads back identically."""
        chars = ["."] * self.n_cells
        for c in self.walls:
            chars[c] = "#"
        for c in self.hazards:
            chars[c] = "H"
        for c in self.gold:
            chars[c] = "$"
        chars[self.lever], chars[self.exit], chars[self.start] = "L", "E", "S"
        n = self.size
        return "\n".join("".join(chars[r * n : (r + 1) * n]) for r in range(n))

    @classmethod
    def from_ascii(cls, text: str) -> Layout:
        """Parse an ASCII map; raise ``LayoutError`` naming the row/col of any problem."""
        if not isinstance(text, str):
            raise LayoutError(f"layout must be an ASCII map (str); got {type(text).__name__}.")
        rows = [line.strip() for line in text.strip().splitlines() if line.strip()]
        n = len(rows)
        if not MIN_SIZE <= n <= MAX_SIZE:
            raise LayoutError(f"layout must have between {MIN_SIZE} and {MAX_SIZE} rows; got {n}.")
        cells: dict[str, list[int]] = {k: [] for k in LEGEND}
        for r, row in enumerate(rows):
            if len(row) != n:
                raise LayoutError(
                    f"layout must be square ({n}x{n}): row {r} has {len(row)} characters."
                )
            for col, ch in enumerate(row):
                if ch not in LEGEND:
                    raise LayoutError(
                        f"unknown character {ch!r} at row {r}, col {col}; legend: "
                        + ", ".join(f"{k!r} {v}" for k, v in LEGEND.items())
                    )
                cells[ch].append(r * n + col)
        for ch in "SEL":
            if len(cells[ch]) != 1:
                raise LayoutError(
                    f"layout needs exactly one {LEGEND[ch]} {ch!r}; found {len(cells[ch])}."
                )
        if len(cells["$"]) > MAX_GOLD:
            raise LayoutError(
                f"layout has {len(cells['$'])} gold; at most {MAX_GOLD} keep the state space "
                "tabular."
            )
        layout = cls(
            size=n,
            walls=frozenset(cells["#"]),
            hazards=frozenset(cells["H"]),
            gold=tuple(cells["$"]),
            lever=cells["L"][0],
            exit=cells["E"][0],
            start=cells["S"][0],
        )
        layout._check_reachable()
        return layout

    @classmethod
    def generate(cls, size: int, seed: int) -> Layout:
        """Draw a layout from the preset counts of ``size`` with ``np.random.default_rng(seed)``.

        Re-draws until every non-wall, non-hazard cell is reachable from the start without
        crossing a hazard or the exit, so every object can be reached in one episode.
        """
        size = check_size(size)
        seed = checks.seed(seed, "layout_seed")
        counts = PRESETS[size]
        rng = np.random.default_rng(seed)
        n_cells = size * size
        for _ in range(MAX_ATTEMPTS):
            order = rng.permutation(n_cells).tolist()
            start, exit_ = order[0], order[1]
            i = 2
            hazards = order[i : i + counts.hazards]
            i += counts.hazards
            gold = order[i : i + counts.gold]
            i += counts.gold
            walls = order[i : i + counts.walls]
            i += counts.walls
            layout = cls(
                size=size,
                walls=frozenset(walls),
                hazards=frozenset(hazards),
                gold=tuple(sorted(gold)),
                lever=order[i],
                exit=exit_,
                start=start,
            )
            if layout._fully_connected():
                return layout
        raise LayoutError(  # pragma: no cover - presets connect within a few draws
            f"no connected {size}x{size} layout in {MAX_ATTEMPTS} draws for seed {seed}."
        )

    def neighbours(self, cell: int) -> list[int]:
        """Cells reachable by one move from ``cell`` (walls and the edge block)."""
        n = self.size
        r, c = divmod(cell, n)
        out = []
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            if 0 <= rr < n and 0 <= cc < n and rr * n + cc not in self.walls:
                out.append(rr * n + cc)
        return out

    def distances(self, targets: list[int] | tuple[int, ...]) -> np.ndarray:
        """BFS distance (int64, per cell) to the nearest of ``targets``.

        Walls and hazards are obstacles; they and unreachable cells get ``size ** 2``.
        """
        far = self.n_cells
        dist = np.full(far, far, dtype=np.int64)
        queue = deque(targets)
        for t in targets:
            dist[t] = 0
        while queue:
            cell = queue.popleft()
            for nxt in self.neighbours(cell):
                if nxt not in self.hazards and dist[nxt] == far and nxt not in targets:
                    dist[nxt] = dist[cell] + 1
                    queue.append(nxt)
        return dist

    def start_cells(self) -> tuple[int, ...]:
        """Floor cells that can serve as random starts: reachable from the start, no object."""
        objects = set(self.gold) | {self.lever, self.exit}
        return tuple(sorted(c for c in self._reachable_from_start() if c not in objects))

    def _reachable_from_start(self) -> set[int]:
        """Cells reachable from the start without entering a hazard or the exit."""
        seen = {self.start}
        queue = deque([self.start])
        while queue:
            for nxt in self.neighbours(queue.popleft()):
                if nxt not in seen and nxt not in self.hazards and nxt != self.exit:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def _fully_connected(self) -> bool:
        free = self.n_cells - len(self.walls) - len(self.hazards)
        reach = self._reachable_from_start()
        exit_open = any(c in reach for c in self.neighbours(self.exit))
        return len(reach) == free - 1 and exit_open

    def _check_reachable(self) -> None:
        reach = self._reachable_from_start()
        n = self.size
        where = lambda c: f"row {c // n}, col {c % n}"  # noqa: E731
        for c, what in [(self.lever, "lever")] + [(g, "gold") for g in self.gold]:
            if c not in reach:
                raise LayoutError(
                    f"the {what} at {where(c)} cannot be reached from the start at "
                    f"{where(self.start)} without crossing a hazard or the exit."
                )
        if not any(c in reach for c in self.neighbours(self.exit)):
            raise LayoutError(
                f"the exit at {where(self.exit)} cannot be reached from the start at "
                f"{where(self.start)} without crossing a hazard."
            )


def check_size(size: object) -> int:
    """Validate a generator size: one of the ``PRESETS`` keys."""
    if not checks.is_int(size) or int(size) not in PRESETS:
        raise ConfigError(
            f"size must be one of {sorted(PRESETS)} for generated layouts; got {size!r}. "
            "Give an ASCII map (layout=) for other sizes."
        )
    return int(size)
