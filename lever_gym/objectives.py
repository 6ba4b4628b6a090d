"""Objectives: weight vectors over the four reward components, their names and parsing.

A LeverGrid step reports four reward components, always in the order of ``COMPONENTS``.
An objective is a weight vector ``w`` over them; the scalar reward is ``w @ components``.
The 15 objectives with 0/1 weights have CamelCase names in canonical order
(``"PathGoldHazard"``), which also name the registered env ids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np

from lever_gym.errors import UnknownObjectiveError, suggest

COMPONENTS: tuple[str, ...] = ("path", "gold", "hazard", "lever")
"""Reward components, in the order of ``info["reward_components"]`` and of weight vectors."""

OBJECTIVE_NAMES: tuple[str, ...] = tuple(
    "".join(c.capitalize() for c in subset)
    for size in range(1, len(COMPONENTS) + 1)
    for subset in itertools.combinations(COMPONENTS, size)
)
"""The 15 named objectives (every non-empty subset of ``COMPONENTS``), singles first."""

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "path": ("exit", "path", "shortest", "fast", "quick", "reach", "leav", "goal"),
    "gold": ("gold", "coin", "treasure", "collect", "loot"),
    "hazard": ("hazard", "avoid", "danger", "lava", "trap", "safe"),
    "lever": ("lever", "switch", "pull", "activate", "key"),
}
_TOKEN_SPLIT = re.compile(r"[+,\-\s]+")
_CAMEL_PART = re.compile(r"[A-Z][a-z]*")


def objective_weights(name: str) -> np.ndarray:
    """Return the 0/1 weight vector (float64, shape ``(4,)``) of a named objective."""
    if name not in OBJECTIVE_NAMES:
        raise UnknownObjectiveError(
            f"unknown objective {name!r}: expected one of {', '.join(OBJECTIVE_NAMES)}."
            + suggest(name, OBJECTIVE_NAMES)
        )
    parts = {p.lower() for p in _CAMEL_PART.findall(name)}
    return np.array([1.0 if c in parts else 0.0 for c in COMPONENTS])


def objective_name(weights: Sequence[float] | np.ndarray) -> str:
    """Name the active components (non-zero weights) of ``weights``, e.g. ``"PathGold"``."""
    w = check_weights(weights)
    return "".join(c.capitalize() for c, x in zip(COMPONENTS, w, strict=True) if x != 0)


def active_components(weights: Sequence[float] | np.ndarray) -> tuple[str, ...]:
    """Return the components with a non-zero weight, in canonical order."""
    w = check_weights(weights)
    return tuple(c for c, x in zip(COMPONENTS, w, strict=True) if x != 0)


def check_weights(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Validate a weight vector and return it as float64 of shape ``(4,)``."""
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UnknownObjectiveError(
            f"weights must be 4 numbers for {COMPONENTS}; got {weights!r}."
        ) from e
    if w.shape != (len(COMPONENTS),):
        raise UnknownObjectiveError(
            f"weights must have shape (4,) for components {COMPONENTS}; got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)):
        raise UnknownObjectiveError(f"weights must be finite; got {w.tolist()}.")
    if not np.any(w):
        raise UnknownObjectiveError(
            f"weights are all zero: at least one component of {COMPONENTS} needs a non-zero weight."
        )
    return w


def parse_objective(spec: str | Sequence[float] | np.ndarray) -> np.ndarray:
    """Turn any accepted form of an objective into its weight vector.

    Accepted: a weight vector; a name (``"PathGold"``); tokens joined by ``+``, ``-``,
    ``,`` or spaces (``"path+gold+hazard"``); a registered env id
    (``"LeverGrid-8x8-PathGold-v0"``, optionally ``"lever_gym:"``-prefixed); or a short
    plain-English request mapped by keywords (``"reach the exit and collect the gold"``).
    """
    if not isinstance(spec, str):
        return check_weights(spec)
    text = spec.strip()
    if text in OBJECTIVE_NAMES:
        return objective_weights(text)
    if text.startswith("lever_gym:") or text.startswith("LeverGrid-"):
        return _weights_from_env_id(text)
    tokens = [t for t in _TOKEN_SPLIT.split(text.lower()) if t]
    if tokens and all(t in COMPONENTS for t in tokens):
        return np.array([1.0 if c in tokens else 0.0 for c in COMPONENTS])
    words = set(re.findall(r"[a-z]+", text.lower()))
    found = [c for c in COMPONENTS if any(_stem_match(k, words) for k in _KEYWORDS[c])]
    if found:
        return np.array([1.0 if c in found else 0.0 for c in COMPONENTS])
    raise UnknownObjectiveError(
        f"cannot read an objective from {spec!r}: expected a name "
        f"({', '.join(OBJECTIVE_NAMES[:5])}, ...), tokens like 'path+gold+hazard', "
        "a LeverGrid env id, a weight vector of 4 numbers,"
        " or a sentence naming the exit, gold, hazards or the lever."
        + suggest(text, OBJECTIVE_NAMES)
    )


def _stem_match(keyword: str, words: set[str]) -> bool:
    return any(w.startswith(keyword) and len(w) <= len(keyword) + 3 for w in words)


def _weights_from_env_id(env_id: str) -> np.ndarray:
    import gymnasium as gym

    import lever_gym  # noqa: F401  (registers the ids)

    try:
        spec = gym.spec(env_id.removeprefix("lever_gym:"))
    except gym.error.Error as e:
        raise UnknownObjectiveError(
            f"{env_id!r} is not a registered LeverGrid id ({e}); ids look like "
            "'LeverGrid-8x8-PathGold-v0'."
        ) from e
    weights = spec.kwargs.get("weights")
    if weights is not None:
        return check_weights(weights)
    return objective_weights(spec.kwargs["objective"])
