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

STAGES = ("tune", "k", "report", "coverage")
"""The benchmark's stages: tuning, quality against k (both on the tuning layouts), the
report on the held-out layouts, the coverage tiers (held-out layouts, data of controlled
coverage)."""
COVERAGE_TIERS: dict[str, dict[str, object]] = {
    "expert": {"algorithm": "expert", "epsilon": 0.0},
    "mixed": {"algorithm": "expert", "epsilon": 0.5},
    "medium": {"algorithm": "q_learning", "epsilon": 0.3},
    "random": {"algorithm": "q_learning", "epsilon": 1.0},
}
"""Libraries of controlled coverage: the exact solver's policies acting greedily (expert)
or with half their actions random (mixed), Q-learning policies with 30% random actions
(medium), and uniformly random behaviour (random); 20 episodes per policy from random starts,
as the default library."""

TUNING_LAYOUTS = (0, 1, 2, 3, 4)
FAILURE_LAYOUT = (16, DETOUR_LAYOUT_SEED)
"""The designed failure case: the 16x16 detour layout, where the lever lies far off the
short path to the exit (``lever_gym.envs.layout.DETOUR_LAYOUT_SEED``)."""
FAILURE_SETUPS = ("P+L",)
"""Run on the failure case besides the six setups: PathLever from Path and Lever, whose
optimum is the detour itself."""
HELDOUT_LAYOUTS = tuple(range(1000, 1012))
"""Fixed in advance; no default was chosen on them (the first ``large_layouts`` of them on
sizes above 8)."""
SIGNED_SEED = 20_261_202


@dataclass(frozen=True)
class Unit:
    """One unit of evidence: a layout and a library built for it with one seed."""

    size: int
    layout_seed: int
    library_seed: int
    split: str
    """``tuning``, ``heldout``, ``failure`` (the designed failure case) or ``coverage-<tier>``."""


@dataclass(frozen=True)
class Task:
    """One objective to reach: one of the paper's setups or a weight vector of the declared
    distribution."""

    name: str
    objective: Objective
    parts: str
    """The split composed (setup letters, e.g. ``"PG+HL"``)."""
    kind: str
    """Its family (``FAMILIES``): ``setup`` or the family of a signed task."""


def setup_tasks(setups: tuple[str, ...]) -> list[Task]:
    """The paper's setups as tasks."""
    return [Task(s, setup_target(s), s, "setup") for s in setups]


STEP_COSTS = (-0.1, -0.01, -0.1, -0.1)
"""Each built-in component's cost per step (``components.TERMS``): ``w · STEP_COSTS > 0``
means every step pays under ``w``."""
FAMILIES = ("setup", "goal-reaching", "stalling pays", "hazard bonus")
"""How tasks are reported: the paper's setups, then the declared distribution's tasks by
family (``family``)."""


def family(objective: Objective) -> str:
    """The family of a signed task: ``stalling pays`` where every step pays (``w ·
    STEP_COSTS > 0``: the finite-horizon optimum wanders and ends at step H), ``hazard bonus``
    where a hazard pays (negative hazard weight) but steps cost, else ``goal-reaching``."""
    w = np.asarray(objective.weights[: len(STEP_COSTS)])
    if float(w @ np.asarray(STEP_COSTS)) > 0:
        return "stalling pays"
    return "hazard bonus" if objective.weight("hazard") < 0 else "goal-reaching"


def signed_tasks(size: int, layout_seed: int, n: int) -> list[Task]:
    """``n`` weight vectors per layout from the declared distribution, fixed in advance: the
    path weight uniform in [0, 2], every other weight uniform in [-2, 2], not rounded (seed
    ``[SIGNED_SEED, size, layout_seed]``); each composed from the primitives of its non-zero
    components and reported by ``family``."""
    rng = np.random.default_rng([SIGNED_SEED, size, layout_seed])
    tasks: list[Task] = []
    for i in range(n):
        w = rng.uniform(-2.0, 2.0, size=len(letters()))
        w[0] = abs(w[0])
        objective = Objective(tuple(float(x) for x in w))
        tasks.append(Task(f"W{i}", objective, "+".join(objective.letters), family(objective)))
    return tasks


@dataclass(frozen=True, kw_only=True)
class ProtocolConfig:
    """What a protocol run evaluates (see ``PROTOCOLS`` for the presets)."""

    name: str = "protocol"
    sizes: tuple[int, ...] = (8, 16)
    tuning_layouts: tuple[int, ...] = TUNING_LAYOUTS
    heldout_layouts: tuple[int, ...] = HELDOUT_LAYOUTS
    large_layouts: int = 4
    """Held-out layouts of sizes above 8 (the first of ``heldout_layouts``)."""
    library_seeds: tuple[int, ...] = (0, 1)
    tuning_library_seeds: tuple[int, ...] = (0,)
    gammas: tuple[float, ...] = (0.0, 0.99)
    setups: tuple[str, ...] = tuple(SETUPS)
    signed: int = 24
    """Tasks per unit from the declared distribution (``signed_tasks``)."""
    start_protocols: tuple[str, ...] = ("fixed", "random")
    failure_case: bool = True
    """Also evaluate the designed failure case (library seed 0, its own library)."""
    offline_layouts: int = 6
    """d3rlpy learners run on this many 8x8 held-out layouts, every library seed (12 units
    with two seeds), on the setups and ``offline_signed`` signed tasks, library γ 0.99."""
    offline_signed: int = 2
    offline_steps: int = 4000
    """Gradient steps per d3rlpy fit (batch 64; about 10 s each on one thread here)."""
    coverage_layouts: int = 6
    """8x8 held-out layouts of the coverage tiers (library seed ``library_seeds[0]``)."""
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
        checks.non_negative_int(self.signed, "signed")
        checks.positive_int(self.workers, "workers")

    def layouts(self, split: str, size: int) -> tuple[int, ...]:
        """The layouts of ``tuning`` or ``heldout`` on ``size``."""
        if split == "tuning":
            return self.tuning_layouts
        return self.heldout_layouts if size <= 8 else self.heldout_layouts[: self.large_layouts]

    def units(self, split: str) -> list[Unit]:
        """The units of ``tuning``, ``heldout``, ``failure`` or ``coverage`` (one per tier),
        in a fixed order."""
        if split == "failure":
            size, layout = FAILURE_LAYOUT
            return [Unit(size, layout, self.library_seeds[0], split)] if self.failure_case else []
        if split == "coverage":
            layouts = self.heldout_layouts[: self.coverage_layouts]
            return [Unit(8, s, self.library_seeds[0], f"coverage-{tier}")
                    for tier in COVERAGE_TIERS for s in layouts]  # fmt: skip
        seeds = self.tuning_library_seeds if split == "tuning" else self.library_seeds
        return [
            Unit(n, s, ls, split)
            for ls in seeds
            for n in self.sizes
            for s in self.layouts(split, n)
        ]

    def offline(self, unit: Unit, task: Task) -> bool:
        """Whether the d3rlpy learners run on ``task`` of ``unit``."""
        first = self.heldout_layouts[: self.offline_layouts]
        signed = task.kind == "setup" or task.name in {f"W{i}" for i in range(self.offline_signed)}
        chosen = unit.split in ("heldout", "demo") and unit.size == 8 and unit.layout_seed in first
        return chosen and signed

    def tasks(self, unit: Unit) -> list[Task]:
        """Every task of a unit: the setups (and on the failure case, ``FAILURE_SETUPS``),
        then its tasks from the declared distribution."""
        extra = FAILURE_SETUPS if unit.split == "failure" else ()
        setups = setup_tasks(self.setups) + setup_tasks(extra)
        return setups + signed_tasks(unit.size, unit.layout_seed, self.signed)
