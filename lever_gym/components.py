"""The reward components: one registry names them, in order, with all that depends on them.

A ``Component`` owns its name, its setup letter, the words that name it in a request, its
reward on every move, its success rule and, optionally, the state bits it needs (a
``Field``: the lever flag, a bit per gold still on the grid). Objectives (names, letters,
keywords, weight vectors), the reward tables, success, the registered ids, the library
manifest and the dataset descriptions all read ``registered()``; nothing else counts or
names components. The order of the registry is the order of ``info["reward_components"]``
and of every weight vector.

``extended(component)`` adds one for the duration of a block (a plug-in component, or a
test's); everything cached per layout or objective is keyed by ``token()``, so a model built
under one registry is never reused under another.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lever_gym.errors import ConfigError


@dataclass(frozen=True)
class Moves:
    """Every state and move of one layout, as the reward and field rules read them.

    Arrays have a row per state (``cell``) or per state and action (the rest). ``before``
    holds each field's value in the state; ``after`` its value after the move (filled
    field by field, in registry order, before any reward is computed).
    """

    layout: Any
    """The ``lever_gym.envs.layout.Layout`` (its cells, objects and distances)."""
    shaping: float
    """1.0 with distance shaping, 0.0 without."""
    cell: np.ndarray
    next_cell: np.ndarray
    at_exit: np.ndarray
    at_hazard: np.ndarray
    toward_exit: np.ndarray
    """Drop in breadth-first distance to the exit (shaping toward it)."""
    before: dict[str, np.ndarray] = field(default_factory=dict)
    after: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """State bits a component owns: how many a layout needs, their value at the start, and
    their value after every move (``advance``)."""

    name: str
    bits: Callable[[Any], int]
    initial: Callable[[Any], int]
    advance: Callable[[Moves], np.ndarray]


@dataclass(frozen=True)
class Component:
    """One reward component: its names, its reward on every move, its success rule and the
    state bits it owns (``None``: none)."""

    name: str
    letter: str
    """One capital letter, for the setup notation (``"PG+HL"``)."""
    keywords: tuple[str, ...]
    """Word stems that name it in a request (``"collect the gold"``)."""
    summary: str
    """What it rewards, in a few words (dataset descriptions, docs)."""
    reward: Callable[[Moves], np.ndarray]
    """``(n_states, n_actions)`` float64 reward of every move."""
    success: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None
    """Given the fields of end states, whether the component's goal is met there (besides
    reaching the exit); ``None``: reaching the exit is enough."""
    field: Field | None = None
    spans: Callable[[int, float], tuple[Span, Span, Span]] | None = None
    """Given a grid size and the shaping factor (1 or 0): the range of its reward on an
    ordinary step, on the exit step and on a step into a hazard, valid on every layout of
    that size (``lever_gym.mdp.contract.step_reward_bounds`` adds them up); ``None``: no
    known range."""


Span = tuple[float, float]


def _hull(*values: float) -> Span:
    """The smallest interval holding ``values``."""
    return min(values), max(values)


def _add(*spans: Span) -> Span:
    """The interval of a sum of terms, each within its span."""
    return sum(s[0] for s in spans), sum(s[1] for s in spans)


@dataclass(frozen=True)
class RewardTerms:
    """The constants of the built-in components (modelled on the paper's, notes section 3)."""

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


# -- the built-in components ---------------------------------------------------------------


def _path(m: Moves) -> np.ndarray:
    t = TERMS
    return m.shaping * m.toward_exit + t.path_step + m.at_exit * t.path_exit


def _gold_bit(layout: Any) -> np.ndarray:
    """Per cell, the bit of the gold lying there (0: none)."""
    bit = np.zeros(layout.n_cells, dtype=np.int64)
    for i, g in enumerate(layout.gold):
        bit[g] = 1 << i
    return bit


def _gold_advance(m: Moves) -> np.ndarray:
    return m.before["gold"][:, None] & ~_gold_bit(m.layout)[m.next_cell]


def _nearest_gold(layout: Any) -> np.ndarray:
    """(2**n_gold, n_cells) distance to the nearest gold of each set of gold left."""
    n_masks = 1 << len(layout.gold)
    nearest = np.zeros((n_masks, layout.n_cells))
    per_gold = [layout.distances([g]).astype(np.float64) for g in layout.gold]
    for mask in range(1, n_masks):
        low = (mask & -mask).bit_length() - 1
        rest = mask & (mask - 1)
        nearest[mask] = per_gold[low] if rest == 0 else np.minimum(nearest[rest], per_gold[low])
    return nearest


def _gold(m: Moves) -> np.ndarray:
    t, n_gold = TERMS, len(m.layout.gold)
    mask, mask2 = m.before["gold"], m.after["gold"]
    d_gold = _nearest_gold(m.layout)
    popcount = np.array([bin(x).count("1") for x in range(1 << n_gold)], dtype=np.float64)
    collected = (mask[:, None] & _gold_bit(m.layout)[m.next_cell]) != 0
    shape = np.where(
        mask[:, None] > 0, d_gold[mask, m.cell][:, None] - d_gold[mask[:, None], m.next_cell],
        m.toward_exit,
    )  # fmt: skip
    exit_bonus = np.where(
        mask2 == 0, t.gold_exit_all, t.gold_exit_missing * popcount[mask2] / max(n_gold, 1)
    )
    return collected * t.gold_pickup + m.shaping * shape + t.gold_step + m.at_exit * exit_bonus


def _hazard(m: Moves) -> np.ndarray:
    t, lay = TERMS, m.layout
    hazard_cell = np.zeros(lay.n_cells, dtype=bool)
    hazard_cell[list(lay.hazards)] = True
    near = np.array([sum(hazard_cell[x] for x in lay.neighbours(c)) for c in range(lay.n_cells)])
    proximity = t.hazard_proximity * (near[m.cell][:, None] - near[m.next_cell])
    return (
        m.at_hazard * t.hazard_hit
        + m.shaping * (proximity + m.toward_exit)
        + t.hazard_step
        + m.at_exit * t.hazard_exit
    )


def _lever_advance(m: Moves) -> np.ndarray:
    return m.before["lever"][:, None] | _pulled(m)


def _pulled(m: Moves) -> np.ndarray:
    return (m.before["lever"][:, None] == 0) & (m.next_cell == m.layout.lever)


def _lever(m: Moves) -> np.ndarray:
    t, lay = TERMS, m.layout
    lever, lever2 = m.before["lever"], m.after["lever"]
    d_lever = lay.distances([lay.lever]).astype(np.float64)
    shape = np.where(
        lever[:, None] == 0, d_lever[m.cell][:, None] - d_lever[m.next_cell], m.toward_exit
    )
    exit_bonus = np.where(lever2 == 1, t.lever_exit_on, t.lever_exit_off)
    return _pulled(m) * t.lever_pickup + m.shaping * shape + t.lever_step + m.at_exit * exit_bonus


def _common(size: int, shaping: float, own_step: float) -> tuple[Span, Span, Span]:
    """The step cost and shaping every built-in component has: between free cells a
    breadth-first distance changes by at most 1; into a hazard (``size**2`` away) by up to
    ``size**2``."""
    near = (-shaping, shaping)
    drop = (-float(size * size) * shaping, 0.0)
    cost = (own_step, own_step)
    return _add(cost, near), _add(cost, near), _add(cost, drop)


def _path_spans(size: int, shaping: float) -> tuple[Span, Span, Span]:
    step, exit_, hit = _common(size, shaping, TERMS.path_step)
    return step, _add(exit_, (TERMS.path_exit,) * 2), hit


def _gold_spans(size: int, shaping: float) -> tuple[Span, Span, Span]:
    t = TERMS
    step, exit_, hit = _common(size, shaping, t.gold_step)
    bonus = _hull(t.gold_exit_all, t.gold_exit_missing, 0.0)
    return _add(step, _hull(0.0, t.gold_pickup)), _add(exit_, bonus), hit


def _hazard_spans(size: int, shaping: float) -> tuple[Span, Span, Span]:
    """Hazard neighbours change by at most 3 between free cells (the other neighbour is
    free), by at most 4 into a hazard."""
    t = TERMS
    step, exit_, hit = _common(size, shaping, t.hazard_step)
    hp = t.hazard_proximity * shaping
    moved = _hull(-3 * hp, 3 * hp)
    return (
        _add(step, moved),
        _add(exit_, moved, (t.hazard_exit,) * 2),
        _add(hit, _hull(-4 * hp, 4 * hp), (t.hazard_hit,) * 2),
    )


def _lever_spans(size: int, shaping: float) -> tuple[Span, Span, Span]:
    t = TERMS
    step, exit_, hit = _common(size, shaping, t.lever_step)
    bonus = _hull(t.lever_exit_on, t.lever_exit_off)
    return _add(step, _hull(0.0, t.lever_pickup)), _add(exit_, bonus), hit


BUILT_IN: tuple[Component, ...] = (
    Component(
        "path", "P", ("exit", "path", "shortest", "fast", "quick", "reach", "leav", "goal"),
        "shaping toward the exit, a cost per step, a bonus at the exit", _path,
        spans=_path_spans,
    ),
    Component(
        "gold", "G", ("gold", "coin", "treasure", "collect", "loot"),
        "a bonus per gold picked up, shaping toward the nearest gold, a bonus at the exit "
        "with all of it", _gold, lambda fields: fields["gold"] == 0,
        Field("gold", lambda lay: len(lay.gold), lambda lay: (1 << len(lay.gold)) - 1,
              _gold_advance), _gold_spans,
    ),
    Component(
        "hazard", "H", ("hazard", "avoid", "danger", "lava", "trap", "safe"),
        "a penalty on entering a hazard, shaping away from hazards, a bonus at the exit",
        _hazard, spans=_hazard_spans,
    ),
    Component(
        "lever", "L", ("lever", "switch", "pull", "activate", "key"),
        "a bonus for pulling the lever, shaping toward it, a larger exit bonus once pulled",
        _lever, lambda fields: fields["lever"] == 1,
        Field("lever", lambda lay: 1, lambda lay: 0, _lever_advance), _lever_spans,
    ),
)  # fmt: skip
"""The four components of the Lever paper's gridworld, in ``info["reward_components"]``
order."""

_registry: list[Component] = list(BUILT_IN)


def registered() -> tuple[Component, ...]:
    """Every registered component, in order."""
    return tuple(_registry)


def token() -> tuple[Component, ...]:
    """A hashable key of the current registry (caches of models and objectives use it)."""
    return tuple(_registry)


def names() -> tuple[str, ...]:
    """The registered components' names, in order."""
    return _names(token())


def count() -> int:
    """How many components are registered (the length of every weight vector)."""
    return len(_registry)


@functools.cache
def _names(components: tuple[Component, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in components)


def named(name: str) -> Component:
    """The registered component called ``name``."""
    for c in _registry:
        if c.name == name:
            return c
    raise ConfigError(f"no component {name!r}; components are {', '.join(names())}.")


def register(component: Component) -> None:
    """Add ``component`` at the end of the registry; its name and letter must be new."""
    if not isinstance(component, Component):
        raise ConfigError(f"register takes a Component; got {type(component).__name__}.")
    clash = [c.name for c in _registry if component.name == c.name or component.letter == c.letter]
    if clash or not component.name.isalpha() or not component.name.islower():
        raise ConfigError(
            f"a component needs a new lower-case name and a new letter; {component.name!r} "
            f"({component.letter!r}) clashes with {clash or 'the naming rule'}."
        )
    if len(component.letter) != 1 or not component.letter.isupper():
        raise ConfigError(f"a component's letter is one capital; got {component.letter!r}.")
    _registry.append(component)


def unregister(name: str) -> None:
    """Remove the component called ``name`` (a built-in one cannot be removed)."""
    component = named(name)
    if component in BUILT_IN:
        raise ConfigError(f"{name!r} is built in; only added components can be removed.")
    _registry.remove(component)


@contextlib.contextmanager
def extended(component: Component) -> Iterator[Component]:
    """Register ``component`` for the duration of the block."""
    register(component)
    try:
        yield component
    finally:
        unregister(component.name)


def fields() -> tuple[tuple[str, Field], ...]:
    """``(component name, field)`` of every component that owns state bits, in the order the
    state packs them after the cell: from the last component to the first, so that a
    component added at the end puts its bits next to the cell and the bits of the others
    keep their place."""
    return tuple((c.name, c.field) for c in reversed(_registry) if c.field is not None)
