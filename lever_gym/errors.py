"""The ``LeverGymError`` family: every error lever_gym raises on bad input.

Each subclass also derives from the builtin it refines, so callers may catch either
(``except ValueError`` keeps working). Messages say what was expected, what came, and
what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import gymnasium.error as gym_error


class LeverGymError(Exception):
    """Base class of every error raised by lever_gym."""


class UnknownObjectiveError(LeverGymError, LookupError):
    """An objective name, token or weight vector that lever_gym does not know."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class LayoutError(LeverGymError, ValueError):
    """A malformed, unsolvable or out-of-range grid layout."""


class ConfigError(LeverGymError, ValueError):
    """An argument outside its valid range or of the wrong shape."""


class SeedError(ConfigError, gym_error.Error):
    """A reset seed that is not a non-negative integer. It is also a ``gymnasium.error.Error``,
    the type gymnasium's own ``np_random`` raises for such a seed, so code written for
    gymnasium envs catches it."""


class ActionError(ConfigError, gym_error.InvalidAction):
    """An action outside the action space (also a ``gymnasium.error.InvalidAction``)."""


class ResetNeeded(LeverGymError, gym_error.ResetNeeded):
    """A step before the first reset (also a ``gymnasium.error.ResetNeeded``, what
    gymnasium's ``OrderEnforcing`` raises for it)."""


class UnknownAttributeError(LeverGymError, AttributeError):
    """An attribute an env does not have (an ``AttributeError``, as gymnasium raises it)."""


class ObservationError(ConfigError):
    """An observation that is not one of the layout's: wrong shape or type, entries other than
    0 and 1, or not exactly one row and one column set."""


class LibraryError(LeverGymError, OSError):
    """A policy library that is missing, incomplete, altered or from a newer schema."""


class RetrievalError(LeverGymError, LookupError):
    """A query the library or its index cannot answer."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def suggest(value: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` hint for ``value`` among ``choices``, or ``""``."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
