"""Decomposition: a composite objective -> building blocks the library covers (offline).

Parts are named objectives (``"PathGold"``) or written in the paper's setup notation, one
letter per component (``"PG+HL"``: PathGold and HazardLever). Automatic decomposition
lists every exact cover by the available blocks, fewest parts first (ties: canonical
order), never the target objective itself.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import lever_gym.components as reward_components
from lever_gym.errors import RetrievalError, UnknownObjectiveError
from lever_gym.objective import Objective, objective_names

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
    """One building block of a split and the factor on its Q-values."""

    objective: str
    weight: float


def setup_target(setup: str) -> Objective:
    """The composite objective a setup's parts add up to (``"PG+HL"`` -> PathGoldHazardLever)."""
    parts = Objective.parse_split(setup)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def splits(
    target: Objective,
    available: Iterable[str],
    *,
    parts: str | Sequence[str] | None = None,
) -> list[tuple[Part, ...]]:
    """Every way to split ``target`` into available building blocks, fewest parts first.

    With ``parts`` only that split is returned (and checked). The target objective itself
    is never a block. A part's factor is the target's weight on its components, which must
    be equal within the part (a block's Q-values cannot be re-weighted per component).
    Results are kept per target, blocks and parts (a split is the same every time).
    """
    given = tuple(parts) if isinstance(parts, list) else parts
    try:
        hash(given)
    except TypeError:  # unhashable parts: compute (and refuse) them without the cache
        return list(_splits.__wrapped__(target, frozenset(available), parts))
    return list(_splits(target, frozenset(available), given))


@functools.lru_cache(maxsize=256)
def _splits(
    target: Objective, available: frozenset[str], parts: str | tuple[str, ...] | None
) -> tuple[tuple[Part, ...], ...]:
    active = set(target.active)
    blocks = sorted(set(available) - {target.name}, key=objective_names().index)
    if parts is not None:
        return (_given_split(target, blocks, parts),)
    usable = [b for b in blocks if set(_components(b)) <= active and _factor(target, b) is not None]
    covers = [
        combo
        for count in range(1, len(active) + 1)
        for combo in itertools.combinations(usable, count)
        if _exact(combo, active)
    ]
    if not covers:
        reachable = {c for b in usable for c in _components(b)}
        missing = sorted(active - reachable, key=reward_components.names().index)
        what = ", ".join(missing) if missing else "an exact split of " + target.name
        raise RetrievalError(
            f"the library cannot cover {target.name}: no building block for {what}; "
            f"available: {', '.join(blocks) or 'none'}."
        )
    return tuple(tuple(Part(b, _factor(target, b)) for b in combo) for combo in covers)  # type: ignore[arg-type]


def _given_split(
    target: Objective, blocks: list[str], parts: str | Sequence[str]
) -> tuple[Part, ...]:
    try:
        names = [p.name for p in Objective.parse_split(parts)]
    except UnknownObjectiveError as e:
        raise RetrievalError(f"{e} Setups: {', '.join(SETUPS)}.") from None
    missing = [n for n in names if n not in blocks]
    if missing:
        why = " (it is the target itself)" if target.name in missing else ""
        raise RetrievalError(
            f"part(s) {', '.join(missing)} not available{why}; the library has "
            f"{', '.join(blocks) or 'no blocks'} for this layout."
        )
    covered = [c for n in names for c in _components(n)]
    if sorted(covered) != sorted(target.active) or len(covered) != len(set(covered)):
        raise RetrievalError(
            f"parts {'+'.join(names)} must cover {target.name} exactly, each component once; "
            f"they cover {', '.join(covered)}."
        )
    for name in names:
        if _factor(target, name) is None:
            raise RetrievalError(
                f"part {name} mixes components with different target weights "
                f"({', '.join(f'{c}={target.weight(c):g}' for c in _components(name))}); "
                "split it further."
            )
    return tuple(Part(n, _factor(target, n)) for n in names)  # type: ignore[arg-type]


def _factor(target: Objective, name: str) -> float | None:
    values = {target.weight(c) for c in _components(name)}
    return values.pop() if len(values) == 1 else None


def _exact(combo: Sequence[str], active: set[str]) -> bool:
    covered = [c for b in combo for c in _components(b)]
    return len(covered) == len(set(covered)) and set(covered) == active


def _components(name: str) -> tuple[str, ...]:
    return Objective.named(name).active
