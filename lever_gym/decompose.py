"""Decomposition: a composite objective -> building blocks the library covers (offline).

Parts are named objectives (``"PathGold"``) or written in the paper's setup notation, one
letter per component (``"PG+HL"``: PathGold and HazardLever). Automatic decomposition picks
the exact cover with the fewest parts among the available blocks (ties: canonical order),
never the target objective itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lever_gym.errors import RetrievalError
from lever_gym.objectives import COMPONENTS, OBJECTIVE_NAMES, active_components, objective_weights

LETTERS = {"P": "path", "G": "gold", "H": "hazard", "L": "lever"}

SETUPS: dict[str, tuple[str, ...]] = {
    "P+G": ("Path", "Gold"),
    "P+G+H": ("Path", "Gold", "Hazard"),
    "P+G+H+L": ("Path", "Gold", "Hazard", "Lever"),
    "PG+H": ("PathGold", "Hazard"),
    "PG+HL": ("PathGold", "HazardLever"),
    "PGH+L": ("PathGoldHazard", "Lever"),
}
"""The paper's six setups (notes section 13): the parts each composes."""


@dataclass(frozen=True)
class Part:
    """One building block of a decomposition and the factor on its Q-values."""

    objective: str
    weight: float


def parse_parts(parts: str | Sequence[str]) -> tuple[str, ...]:
    """``"PG+HL"`` or ``["PathGold", "HazardLever"]`` -> objective names."""
    items = parts.split("+") if isinstance(parts, str) else list(parts)
    names = []
    for item in items:
        item = item.strip()
        if item in OBJECTIVE_NAMES:
            names.append(item)
        elif item and set(item) <= set(LETTERS) and len(set(item)) == len(item):
            comps = {LETTERS[ch] for ch in item}
            names.append("".join(c.capitalize() for c in COMPONENTS if c in comps))
        else:
            raise RetrievalError(
                f"cannot read part {item!r}: use objective names (e.g. 'PathGold') or setup "
                f"letters P, G, H, L joined by '+' (e.g. 'PG+HL'); setups: {', '.join(SETUPS)}."
            )
    return tuple(names)


def decompositions(
    weights: np.ndarray,
    available: Iterable[str],
    *,
    parts: str | Sequence[str] | None = None,
) -> list[tuple[Part, ...]]:
    """Every way to split ``weights`` into available building blocks, fewest parts first.

    With ``parts`` only that split is returned (and checked). The target objective itself
    is never a block. A part's factor is the target's weight on its components, which must
    be equal within the part (a block's Q-values cannot be re-weighted per component).
    """
    target = set(active_components(weights))
    target_name = "".join(c.capitalize() for c in COMPONENTS if c in target)
    blocks = sorted(set(available) - {target_name}, key=OBJECTIVE_NAMES.index)
    w = dict(zip(COMPONENTS, np.asarray(weights, dtype=np.float64), strict=True))

    def factor(name: str) -> float | None:
        values = {float(w[c]) for c in _components(name)}
        return values.pop() if len(values) == 1 else None

    if parts is not None:
        names = parse_parts(parts)
        missing = [n for n in names if n not in blocks]
        if missing:
            why = " (it is the target itself)" if target_name in missing else ""
            raise RetrievalError(
                f"part(s) {', '.join(missing)} not available{why}; the library has "
                f"{', '.join(blocks) or 'no blocks'} for this layout."
            )
        covered = [c for n in names for c in _components(n)]
        if sorted(covered) != sorted(target) or len(covered) != len(set(covered)):
            raise RetrievalError(
                f"parts {'+'.join(names)} must cover {target_name} exactly, each component once; "
                f"they cover {', '.join(covered)}."
            )
        for name in names:
            if factor(name) is None:
                raise RetrievalError(
                    f"part {name} mixes components with different target weights "
                    f"({', '.join(f'{c}={w[c]:g}' for c in _components(name))}); split it further."
                )
        return [tuple(Part(n, factor(n)) for n in names)]  # type: ignore[arg-type]
    usable = [b for b in blocks if set(_components(b)) <= target and factor(b) is not None]
    covers = [
        combo
        for count in range(1, len(target) + 1)
        for combo in itertools.combinations(usable, count)
        if _exact(combo, target)
    ]
    if not covers:
        reachable = {c for b in usable for c in _components(b)}
        missing = sorted(target - reachable, key=COMPONENTS.index)
        what = ", ".join(missing) if missing else "an exact split of " + target_name
        raise RetrievalError(
            f"the library cannot cover {target_name}: no building block for {what}; "
            f"available: {', '.join(blocks) or 'none'}."
        )
    return [tuple(Part(b, factor(b)) for b in combo) for combo in covers]  # type: ignore[arg-type]


def decompose(
    weights: np.ndarray,
    available: Iterable[str],
    *,
    parts: str | Sequence[str] | None = None,
) -> tuple[Part, ...]:
    """The first of ``decompositions``: ``parts`` if given, else the fewest parts."""
    return decompositions(weights, available, parts=parts)[0]


def _exact(combo: Sequence[str], target: set[str]) -> bool:
    covered = [c for b in combo for c in _components(b)]
    return len(covered) == len(set(covered)) and set(covered) == target


def _components(name: str) -> tuple[str, ...]:
    return active_components(objective_weights(name))
