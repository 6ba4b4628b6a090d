"""The evaluation protocol: units of evidence, tasks, and which layouts tune and which report.

A *unit* is one (grid size, layout, library seed): the library seed re-draws every training
and data collection of the library, so units are independent samples of "a layout and a
library for it". Every method is evaluated exactly on every task of every unit; statistics
run over units, never over episodes. Defaults are tuned on the tuning layouts only and
reported on held-out layouts fixed in advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, check_size
from lever_gym.errors import ConfigError
from lever_gym.objective import Objective, letters
from lever_gym.reuse.decompose import SETUPS, setup_target

STAGES = ("tune", "k", "report")
"""The benchmark's stages: tuning, quality against k (both on the tuning layouts), the
report on the held-out layouts."""

TUNING_LAYOUTS = (0, 1, 2, 3, 4)
FAILURE_LAYOUT = (16, DETOUR_LAYOUT_SEED)
"""The designed failure case: the 16x16 detour layout, where the lever lies far off the
short path to the exit (``lever_gym.envs.layout.DETOUR_LAYOUT_SEED``)."""
FAILURE_SETUPS = ("P+L",)
"""Run on the failure case besides the six setups: PathLever from Path and Lever, whose
optimum is the detour itself."""
HELDOUT_LAYOUTS = tuple(range(1000, 1020))
"""Fixed in advance; no default was chosen on them."""
HEADROOM_SEED = 20_261_123


@dataclass(frozen=True)
class Unit:
    """One unit of evidence: a layout and a library built for it with one seed."""

    size: int
    layout_seed: int
    library_seed: int
    split: str
    """``tuning``, ``heldout`` or ``failure`` (the designed failure case)."""


@dataclass(frozen=True)
class Task:
    """One objective to reach: one of the paper's setups or a headroom weight vector."""

    name: str
    objective: Objective
    parts: str
    """The split composed (setup letters, e.g. ``"PG+HL"``)."""
    kind: str
    """``setup`` or ``headroom``."""


def setup_tasks(setups: tuple[str, ...]) -> list[Task]:
    """The paper's setups as tasks."""
    return [Task(s, setup_target(s), s, "setup") for s in setups]


def headroom_tasks(size: int, layout_seed: int, n: int) -> list[Task]:
    """``n`` signed, non-unit weight vectors per layout from a fixed seeded distribution:
    each weight uniform in [-1, 2] rounded to 0.1, at least one positive; composed from
    the primitives of its non-zero components."""
    rng = np.random.default_rng([HEADROOM_SEED, size, layout_seed])
    tasks: list[Task] = []
    while len(tasks) < n:
        w = np.round(rng.uniform(-1.0, 2.0, size=len(letters())), 1)
        if not (w > 0).any():
            continue
        objective = Objective(tuple(float(x) for x in w))
        parts = "+".join(objective.letters)
        tasks.append(Task(f"W{len(tasks)}", objective, parts, "headroom"))
    return tasks


@dataclass(frozen=True, kw_only=True)
class ProtocolConfig:
    """What a protocol run evaluates (see ``PROTOCOLS`` for the presets)."""

    name: str = "protocol"
    sizes: tuple[int, ...] = (8, 16)
    tuning_layouts: tuple[int, ...] = TUNING_LAYOUTS
    heldout_layouts: tuple[int, ...] = HELDOUT_LAYOUTS
    library_seeds: tuple[int, ...] = (0, 1, 2)
    tuning_library_seeds: tuple[int, ...] = (0,)
    gammas: tuple[float, ...] = (0.0, 0.99)
    setups: tuple[str, ...] = tuple(SETUPS)
    headroom: int = 10
    start_protocols: tuple[str, ...] = ("fixed", "random")
    failure_case: bool = True
    """Also evaluate the designed failure case (library seed 0, its own library)."""
    offline_units: int = 2
    """d3rlpy learners run on this many held-out layouts (library seed 0, each size)."""
    offline_steps: int = 1000
    quality_budgets: tuple[int, ...] = (1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
    """Scratch budgets whose timed runs give the time to reach a quality."""
    workers: int = 2
    seed: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate before any work."""
        for name in ("sizes", "library_seeds", "gammas", "start_protocols"):
            checks.distinct(checks.non_empty(getattr(self, name), name), name)
        for size in self.sizes:
            check_size(size)
        for seed in (*self.tuning_layouts, *self.heldout_layouts):
            checks.seed(seed, "layout seed")
        overlap = set(self.tuning_layouts) & set(self.heldout_layouts)
        if overlap:
            raise ConfigError(f"tuning and held-out layouts overlap: {sorted(overlap)}.")
        for setup in self.setups:
            checks.one_of(setup, SETUPS, "setup")
        for protocol in self.start_protocols:
            checks.one_of(protocol, ("fixed", "random"), "start protocol")
        checks.non_negative_int(self.headroom, "headroom")
        checks.positive_int(self.workers, "workers")

    def units(self, split: str) -> list[Unit]:
        """The units of ``tuning``, ``heldout`` or ``failure``, in a fixed order."""
        if split == "failure":
            size, layout = FAILURE_LAYOUT
            return [Unit(size, layout, self.library_seeds[0], split)] if self.failure_case else []
        layouts = self.tuning_layouts if split == "tuning" else self.heldout_layouts
        seeds = self.tuning_library_seeds if split == "tuning" else self.library_seeds
        return [Unit(n, s, ls, split) for ls in seeds for n in self.sizes for s in layouts]

    def tasks(self, unit: Unit) -> list[Task]:
        """Every task of a unit: the setups (and on the failure case, ``FAILURE_SETUPS``),
        then its headroom weight vectors."""
        extra = FAILURE_SETUPS if unit.split == "failure" else ()
        setups = setup_tasks(self.setups) + setup_tasks(extra)
        return setups + headroom_tasks(unit.size, unit.layout_seed, self.headroom)
