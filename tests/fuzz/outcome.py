"""What one fuzzed input did: accepted, refused by a ``LeverGymError``, or a failure.

Failures are any exception outside the error family (``escaped``), an input accepted that
should have been refused (``silent``), code run from a file (``code ran``), a file opened
(read or written) or listed outside the library (``outside the root``) and, counted by
``benchmarks/fuzz.py``, a process killed by a signal (``crash``).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lever_gym.errors import LeverGymError

FAILURES = ("escaped", "silent", "code ran", "outside the root", "crash")


@dataclass(frozen=True)
class Outcome:
    """The label an input earned (``accepted``, an error class name, or a failure) and why."""

    label: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the input was handled as the trust boundary promises."""
        return not self.label.startswith(FAILURES)


def attempt(action: Callable[[], object]) -> Outcome:
    """Run ``action``: ``accepted``, the name of the ``LeverGymError`` it raised, or
    ``escaped <type>`` for any other exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except LeverGymError as e:
        return Outcome(type(e).__name__, str(e)[:300])
    except Exception as e:
        return Outcome(f"escaped {type(e).__name__}", f"{type(e).__name__}: {e}"[:300])
    return Outcome("accepted")


class OutsideReads:
    """Records, through an audit hook, every file opened or listed under watched paths (the
    targets a tampered library points at). One hook per process; ``watch`` arms it."""

    _instance: OutsideReads | None = None

    def __init__(self) -> None:
        self.watched: tuple[str, ...] = ()
        self.seen: list[str] = []
        sys.addaudithook(self._hook)

    @classmethod
    def get(cls) -> OutsideReads:
        """The process's recorder (installed on first use)."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def watch(self, *paths: Path) -> None:
        """Record touches of ``paths`` (and below) from now on, forgetting earlier ones."""
        self.watched = tuple(os.path.realpath(p) for p in paths)
        self.seen = []

    def stop(self) -> list[str]:
        """Stop recording; return what was touched since ``watch``."""
        self.watched = ()
        return self.seen

    def _hook(self, event: str, args: tuple) -> None:
        if not self.watched or event not in ("open", "os.listdir", "os.scandir"):
            return
        target = args[0] if args else None
        if isinstance(target, str | bytes | os.PathLike):
            path = os.path.realpath(os.fsdecode(target))
            if path.startswith(self.watched):
                self.seen.append(path)
