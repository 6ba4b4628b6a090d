"""``Objective``: a weight vector over the reward components, its names, and parsing.

A LeverGrid step reports one reward per registered component (``lever_gym.components``),
always in registry order; an objective weights them, and the scalar reward is
``weighted(components, w)``.
The objectives with 0/1 weights have CamelCase names in canonical order
(``"PathGoldHazard"``), which also name the registered env ids. Every public entry of
lever_gym parses its objective argument once, with ``Objective.parse``, and passes the
value on.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.errors import UnknownObjectiveError, suggest


def objective_names() -> tuple[str, ...]:
    """The named objectives (every non-empty subset of the registered components), singles
    first, in canonical order."""
    return _objective_names(reward_components.token())


@functools.cache
def _objective_names(components: tuple[reward_components.Component, ...]) -> tuple[str, ...]:
    names = [c.name for c in components]
    return tuple(
        "".join(c.capitalize() for c in subset)
        for size in range(1, len(names) + 1)
        for subset in itertools.combinations(names, size)
    )


def letters() -> dict[str, str]:
    """Setup notation: the letter of each component (``"PG+HL"``), letter -> name."""
    return {c.letter: c.name for c in reward_components.registered()}


def __getattr__(name: str) -> object:
    """``COMPONENTS``, ``N_COMPONENTS`` and ``OBJECTIVE_NAMES`` of the current registry."""
    if name == "COMPONENTS":
        return reward_components.names()
    if name == "N_COMPONENTS":
        return reward_components.count()
    if name == "OBJECTIVE_NAMES":
        return objective_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_WEIGHT = 1e6
"""Largest absolute weight: rewards stay finite and comparable."""

ENV_ID_RE = re.compile(
    r"^(?:lever_gym:)?LeverGrid-(?:[A-Za-z]+-)?(\d+)x\1(?:-[A-Z][a-z]+)??-(?P<name>[A-Za-z]+)-v0$"
)
"""LeverGrid ids: ``LeverGrid-[Family-]NxN[-Variant]-Objective-v0``."""

_NEGATIONS = frozenset(
    {"not", "no", "don't", "dont", "never", "without", "except", "nor", "ignore", "skip"}
)
_TOKEN_SPLIT = re.compile(r"[+,\-\s]+")
_CAMEL_PART = re.compile(r"[A-Z][a-z]*")


def weighted(components: np.ndarray, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """``components[..., k] * weights[k]`` summed over ``k`` in component order.

    Every scalar reward in lever_gym is computed here, in one order, so the env, the
    solver, the datasets and the scorers agree to the last bit.
    """
    c = np.asarray(components)
    total = c[..., 0] * weights[0]
    for k in range(1, len(weights)):
        total = total + c[..., k] * weights[k]
    return total


def weighted_one(components: Sequence[float], weights: Sequence[float]) -> float:
    """``weighted`` of one transition's float64 components in plain Python floats: the same
    products summed in the same order, so the same bits, without numpy's per-scalar cost
    (the env's step)."""
    total = components[0] * weights[0]
    for k in range(1, len(weights)):
        total = total + components[k] * weights[k]
    return float(total)


def env_id(size: int, name: str, *, family: str = "", variant: str = "") -> str:
    """The registered id of objective ``name`` on ``size`` × ``size`` layouts
    (``family="Random"``: a new layout every episode; ``variant="Detour"``: the designed
    failure-case layout)."""
    head = f"{family}-" if family else ""
    middle = f"-{variant}" if variant else ""
    return f"LeverGrid-{head}{size}x{size}{middle}-{name}-v0"


@dataclass(frozen=True)
class Objective:
    """A weight per registered component, in registry order: finite, bounded, not all zero."""

    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        """Validate and store the weights as a tuple of floats."""
        w = _check_weights(self.weights)
        object.__setattr__(self, "weights", tuple(float(x) for x in w))

    # -- constructing -----------------------------------------------------------------------

    @classmethod
    def parse(cls, spec: Any) -> Objective:
        """Any accepted form of an objective, as an ``Objective``.

        Accepted: an ``Objective``; a LeverGrid env (its own objective); a weight vector;
        a name (``"PathGold"``); component words joined by ``+``, ``,``, ``-`` or spaces
        (``"path+gold+hazard"``); a LeverGrid env id; or a short request in English mapped
        by keywords (``"reach the exit and collect the gold"``). A misspelt word or a
        negation raises ``UnknownObjectiveError`` naming the nearest valid words.
        """
        if isinstance(spec, Objective):
            return spec
        if isinstance(spec, str):
            return cls._from_text(spec)
        unwrapped = getattr(spec, "unwrapped", None)
        if unwrapped is not None and isinstance(getattr(unwrapped, "objective", None), Objective):
            return unwrapped.objective
        return cls(spec)

    @classmethod
    def named(cls, name: str) -> Objective:
        """The 0/1 objective called ``name`` (one of ``OBJECTIVE_NAMES``)."""
        known = objective_names()
        if name not in known:
            raise UnknownObjectiveError(
                f"unknown objective {name!r}: expected one of {', '.join(known)}."
                + suggest(str(name), known)
            )
        return _named(name, reward_components.token())

    @classmethod
    def of(cls, components: Iterable[str]) -> Objective:
        """The 0/1 objective of the given component names."""
        chosen, names = set(components), reward_components.names()
        unknown = chosen - set(names)
        if unknown:
            raise UnknownObjectiveError(
                f"unknown component(s) {', '.join(sorted(unknown))}; components are "
                f"{', '.join(names)}."
            )
        return cls(tuple(1.0 if c in chosen else 0.0 for c in names))

    @classmethod
    def from_env_id(cls, env_id: str) -> Objective:
        """The objective a registered LeverGrid env id names."""
        from gymnasium.envs.registration import registry

        text = env_id.strip()
        match = ENV_ID_RE.match(text)
        if match is None or text.removeprefix("lever_gym:") not in registry:
            raise UnknownObjectiveError(
                f"{env_id!r} is not a registered LeverGrid id; ids look like "
                "'LeverGrid-8x8-PathGold-v0' (`lever-gym envs` lists them)."
                + (suggest(match["name"], objective_names()) if match else "")
            )
        return cls.named(match["name"])

    @classmethod
    def parse_split(cls, parts: str | Sequence[str]) -> tuple[Objective, ...]:
        """The parts of a split: ``"PG+HL"`` (setup letters) or names, ``+``-joined or listed."""
        if not isinstance(parts, str | list | tuple):
            raise UnknownObjectiveError(
                f"parts must be a split such as 'PG+HL' or a list of names; got {parts!r}."
            )
        items = parts.split("+") if isinstance(parts, str) else list(parts)
        out, by_letter = [], letters()
        for item in items:
            text = item.strip() if isinstance(item, str) else item
            if text in objective_names():
                out.append(cls.named(text))
            elif isinstance(text, str) and text and set(text) <= set(by_letter):
                if len(set(text)) != len(text):
                    raise UnknownObjectiveError(f"part {text!r} repeats a letter.")
                out.append(cls.of(by_letter[ch] for ch in text))
            else:
                raise UnknownObjectiveError(
                    f"cannot read part {item!r}: use objective names (e.g. 'PathGold') or the "
                    f"letters {', '.join(by_letter)} joined by '+' (e.g. 'PG+HL')."
                )
        return tuple(out)

    # -- reading ----------------------------------------------------------------------------

    @property
    def vector(self) -> np.ndarray:
        """The weights as a new float64 array, one per component."""
        return np.array(self.weights, dtype=np.float64)

    @functools.cached_property
    def active(self) -> tuple[str, ...]:
        """Components with a non-zero weight, in canonical order."""
        return tuple(
            c for c, x in zip(reward_components.names(), self.weights, strict=True) if x != 0
        )

    @functools.cached_property
    def name(self) -> str:
        """CamelCase name of the active components (``"PathGold"``)."""
        return "".join(c.capitalize() for c in self.active)

    @property
    def letters(self) -> str:
        """Setup letters of the active components (``"PG"``)."""
        return "".join(reward_components.named(c).letter for c in self.active)

    @property
    def is_unit(self) -> bool:
        """True when every weight is 0 or 1 (the objective is exactly its name)."""
        return all(x in (0.0, 1.0) for x in self.weights)

    def weight(self, component: str) -> float:
        """The weight of one component."""
        return self.weights[reward_components.names().index(component)]

    def env_id(self, size: int) -> str:
        """The registered id of this objective's name on generated ``size`` layouts."""
        return env_id(size, self.name)

    def __add__(self, other: Objective) -> Objective:
        """Component-wise sum of the weights."""
        return Objective(tuple(a + b for a, b in zip(self.weights, other.weights, strict=True)))

    def __str__(self) -> str:
        if self.is_unit:
            return self.name
        return (
            "("
            + ", ".join(
                f"{c}={x:g}" for c, x in zip(reward_components.names(), self.weights, strict=True)
            )
            + ")"
        )

    # -- parsing text -----------------------------------------------------------------------

    @classmethod
    def _from_text(cls, spec: str) -> Objective:
        text, names = spec.strip(), reward_components.names()
        if text in objective_names():
            return cls.named(text)
        if text.startswith(("lever_gym:", "LeverGrid-")):
            return cls.from_env_id(text)
        tokens = [t for t in _TOKEN_SPLIT.split(text.lower()) if t]
        if not tokens:
            raise _unreadable(spec)
        singular = [t[:-1] if t.endswith("s") and t[:-1] in names else t for t in tokens]
        if all(t in names for t in singular):
            return cls.of(singular)
        if "+" in text or ("," in text and " " not in text):
            bad = next(t for t in singular if t not in names)
            raise UnknownObjectiveError(
                f"unknown component {bad!r} in {spec!r}: components are "
                f"{', '.join(names)}; names are {', '.join(objective_names()[:4])}, ..."
                + suggest(bad, (*names, *objective_names()))
            )
        return cls._from_sentence(spec)

    @classmethod
    def _from_sentence(cls, spec: str) -> Objective:
        words = re.findall(r"[a-z']+", spec.lower())
        negated = [w for w in words if w in _NEGATIONS or w.endswith("n't")]
        if negated:
            raise UnknownObjectiveError(
                f"{spec!r} contains a negation ({negated[0]!r}); lever_gym does not read "
                "negations from text. Pass a weight vector with a negative weight instead, "
                f"one number per component of {reward_components.names()}."
            )
        comps = reward_components.registered()
        found = {c.name for c in comps for w in words if any(_stem(k, w) for k in c.keywords)}
        keywords = [k for c in comps for k in c.keywords]
        for w in words:
            if len(w) < 4 or any(_stem(k, w) for k in keywords):
                continue
            close = difflib.get_close_matches(w, keywords, n=1, cutoff=0.8)
            if close:
                raise UnknownObjectiveError(
                    f"unknown word {w!r} in {spec!r}: did you mean {close[0]!r}? Keywords: "
                    f"{', '.join(keywords)}."
                )
        if not found:
            raise _unreadable(spec)
        return cls.of(found)


@functools.cache
def _named(name: str, components: tuple[reward_components.Component, ...]) -> Objective:
    """The objective of a valid name, built once per registry (objectives are immutable)."""
    return Objective.of(p.lower() for p in _CAMEL_PART.findall(name))


def _stem(keyword: str, word: str) -> bool:
    return word.startswith(keyword) and len(word) <= len(keyword) + 3


def _unreadable(spec: str) -> UnknownObjectiveError:
    return UnknownObjectiveError(
        f"cannot read an objective from {spec!r}: expected a name "
        f"({', '.join(objective_names()[:5])}, ...), tokens like 'path+gold+hazard', "
        f"a LeverGrid env id, a weight vector of {reward_components.count()} numbers,"
        " or a sentence naming the exit, gold, hazards or the lever."
        + suggest(spec.strip(), objective_names())
    )


def _check_weights(weights: Any) -> np.ndarray:
    """``weights`` as a float64 vector: a flat list, tuple or 1-D array of one real number per
    component (``checks.as_real``: no booleans, complex or time values, nothing beyond float
    range), finite, within ``MAX_WEIGHT``, not all zero; else ``UnknownObjectiveError``."""
    names, n = reward_components.names(), reward_components.count()
    items = _flat_items(weights)
    if items is None:
        raise UnknownObjectiveError(
            f"weights must be a flat list of {n} numbers for components {names}; got "
            f"{checks.shown(weights)}."
        )
    if len(items) != n:
        raise UnknownObjectiveError(
            f"weights must have shape ({n},) for components {names}; got shape ({len(items)},)."
        )
    values = [checks.as_real(x) for x in items]
    if any(x is None for x in values):
        raise UnknownObjectiveError(
            f"weights must be {n} real numbers for {names} (ints or floats; no booleans, "
            f"complex or time values); got {checks.shown(weights)}."
        )
    w = np.array(values, dtype=np.float64)
    if not all(math.isfinite(x) and abs(x) <= MAX_WEIGHT for x in w):
        raise UnknownObjectiveError(
            f"weights must be finite with |w| <= {MAX_WEIGHT:g}; got {w.tolist()}."
        )
    if not np.any(w):
        raise UnknownObjectiveError(
            f"weights are all zero: at least one component of {names} needs a non-zero weight."
        )
    return w


def _flat_items(weights: Any) -> list | None:
    """The items of a list, tuple or 1-D array of scalars; ``None`` for anything else (text,
    nested sequences, arrays of another shape, mappings, scalars)."""
    if isinstance(weights, np.ndarray):
        return list(weights) if weights.ndim == 1 else None
    if not isinstance(weights, Sequence) or isinstance(weights, str | bytes):
        return None
    if any(isinstance(x, list | tuple | np.ndarray | str | bytes | dict) for x in weights):
        return None
    return list(weights)
