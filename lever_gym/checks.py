"""Argument validators shared by every public entry.

Each returns the value in its canonical type or raises ``ConfigError`` (a ``ValueError``)
naming the argument, what was expected and what came. Booleans are never accepted as
numbers, and strings are never accepted as booleans.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Collection, Sequence
from typing import Any, TypeGuard, TypeVar

import numpy as np

from lever_gym.errors import ConfigError, LibraryError, SeedError, suggest

T = TypeVar("T")


def is_int(value: object) -> TypeGuard[int | np.integer]:
    """Whether ``value`` is an integer: a Python or numpy integer, not a boolean and not a numpy
    time value (``np.timedelta64`` is a numpy integer type)."""
    return isinstance(value, int | np.integer) and not isinstance(
        value, bool | np.bool_ | np.timedelta64
    )


def as_real(value: object) -> float | None:
    """``value`` as a float if it is a real number (a Python or numpy integer or float within
    float range), else ``None``: booleans, complex numbers, numpy time values, strings,
    arrays and integers too large for a float are no real numbers here."""
    if not (is_int(value) or isinstance(value, float | np.floating)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int of more than about 308 digits
        return None


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, shortened past ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...{text[-10:]} ({len(text)} characters)"


def positive_int(value: object, name: str) -> int:
    """An integer ≥ 1."""
    if not is_int(value) or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer; got {shown(value)}.")
    return int(value)


def non_negative_int(value: object, name: str) -> int:
    """An integer ≥ 0."""
    if not is_int(value) or int(value) < 0:
        raise ConfigError(f"{name} must be a non-negative integer; got {shown(value)}.")
    return int(value)


def int_in(value: object, name: str, low: int, high: int) -> int:
    """An integer in ``low..high`` (both ends included)."""
    if not is_int(value) or not low <= int(value) <= high:
        raise ConfigError(f"{name} must be an integer in {low}..{high}; got {shown(value)}.")
    return int(value)


def seed(value: object, name: str = "seed") -> int:
    """A seed: an integer in ``[0, 2**63)``."""
    if not is_int(value) or not 0 <= int(value) < 2**63:
        raise ConfigError(f"{name} must be an integer in [0, 2**63); got {shown(value)}.")
    return int(value)


def reset_seed(value: object, name: str = "seed") -> int:
    """A reset seed: any non-negative integer, of any size (Minari's ``DataCollector`` draws
    64-bit ones), as gymnasium's ``np_random`` takes it; numpy integers are read as ints.
    Anything else raises ``SeedError``, a ``ConfigError`` that is also the
    ``gymnasium.error.Error`` gymnasium raises for it. A boolean is no seed."""
    if not is_int(value) or int(value) < 0:
        raise SeedError(
            f"{name} must be a non-negative integer (of any size) or None; got {shown(value)} "
            f"({type(value).__name__}). Pass e.g. seed=0."
        )
    return int(value)


def boolean(value: object, name: str) -> bool:
    """``True`` or ``False`` (numpy booleans too; no strings, no numbers)."""
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def real(value: object, name: str, low: float, high: float, *, closed: str = "both") -> float:
    """A finite real number (``as_real``) within ``low``..``high``; ``closed`` is ``both``,
    ``left``, ``right`` or ``neither`` (which ends belong to the range)."""
    x = as_real(value)
    ok = x is not None and math.isfinite(x)
    if ok:
        left = x >= low if closed in ("both", "left") else x > low  # type: ignore[operator]
        right = x <= high if closed in ("both", "right") else x < high  # type: ignore[operator]
        ok = left and right
    if not ok:
        lo = "[" if closed in ("both", "left") else "("
        hi = "]" if closed in ("both", "right") else ")"
        raise ConfigError(
            f"{name} must be a number in {lo}{low:g}, {high:g}{hi} (a finite int or float; no "
            f"booleans, complex or time values); got {shown(value)}."
        )
    return x  # type: ignore[return-value]


def gamma(value: object, name: str = "gamma") -> float:
    """A discount in ``[0, 1)``."""
    return real(value, name, 0.0, 1.0, closed="left")


def one_of(value: object, choices: Collection[T], name: str) -> T:
    """The choice ``value`` equals (the choice itself, in its own type); the error lists the
    choices and the nearest one. Arrays, and booleans among non-booleans, match nothing."""
    found = [c for c in choices if _same(value, c)]
    if not found:
        names = [str(c) for c in choices]
        hint = suggest(value, names) if isinstance(value, str) else ""
        raise ConfigError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {shown(value)}.{hint}"
        )
    return found[0]


def _same(value: object, choice: object) -> bool:
    """``value == choice`` as one plain truth value (never an array's), booleans apart."""
    if isinstance(value, np.ndarray) or isinstance(value, bool | np.bool_) != isinstance(
        choice, bool | np.bool_
    ):
        return False
    try:
        equal = value == choice
    except (TypeError, ValueError):
        return False
    return isinstance(equal, bool | np.bool_) and bool(equal)


def non_empty(values: object, name: str) -> tuple:
    """A non-empty tuple or list, returned as a tuple."""
    if not isinstance(values, tuple | list) or not values:
        raise ConfigError(f"{name} must be a non-empty tuple; got {values!r}.")
    return tuple(values)


def distinct(values: Sequence[object], name: str) -> tuple:
    """A sequence without repeats, returned as a tuple."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise ConfigError(f"{name} must not repeat values; {', '.join(repeated)} appear twice.")
    return tuple(values)


MAX_JSON_BYTES = 512 * 2**20
"""Largest JSON file lever_gym reads (a manifest of 10^5 policies is about 110 MB)."""


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def json_file(data: bytes | str, where: str) -> Any:
    """The content of a JSON file lever_gym wrote: UTF-8, no ``NaN``/``Infinity``, bounded size
    and nesting; anything else raises ``LibraryError`` naming ``where``."""
    if len(data) > MAX_JSON_BYTES:
        raise LibraryError(
            f"{where} holds {len(data):,} bytes, more than the {MAX_JSON_BYTES:,} a JSON file of "
            "lever_gym may; it is not one lever_gym wrote. Restore it or rebuild."
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise LibraryError(f"{where} is not valid JSON ({reason}); restore it or rebuild.") from e
