"""Every fuzz target, and a runner that counts outcomes instead of stopping at a failure."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded

from tests.fuzz.api import CALLS, feed_api
from tests.fuzz.cli import command_lines, feed_cli
from tests.fuzz.library import MUTATIONS, feed_library, fuzz_library
from tests.fuzz.outcome import Outcome
from tests.fuzz.targets import (
    ENV_INPUTS,
    OBJECTIVES,
    OBSERVATIONS,
    STEPS,
    Target,
    feed_env,
    feed_objective,
    feed_observation,
    feed_steps,
)


def _feed_cli(argv: list[str]) -> Outcome:
    return feed_cli(argv, fuzz_library().root)


TARGETS: dict[str, Target] = {
    "env construction": Target(ENV_INPUTS, feed_env, ci=100, full=3000),
    "step and reset": Target(STEPS, feed_steps, ci=100, full=3000),
    "objective text": Target(OBJECTIVES, feed_objective, ci=300, full=3000),
    "observations": Target(OBSERVATIONS, feed_observation, ci=150, full=3000),
    "command line": Target(command_lines(), _feed_cli, ci=40, full=2000),
    "library API": Target(CALLS, feed_api, ci=40, full=1500),
    "library files": Target(MUTATIONS, feed_library, ci=40, full=3000),
}
"""Name -> target; ``full`` sums to over 10^4 inputs."""
PROFILES = ("ci", "full")
QUIET = settings(
    database=None, deadline=None, phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)  # fmt: skip


@dataclass
class Tally:
    """Outcomes of one target's run: counts per label, the first three failures of each
    kind, seconds."""

    counts: collections.Counter = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run(name: str, examples: int, seed: int) -> Tally:
    """Feed ``examples`` inputs of target ``name``, drawn from ``seed``; count every outcome."""
    target, tally = TARGETS[name], Tally()

    @settings(QUIET, max_examples=examples)
    @seeded(seed)
    @given(target.strategy)
    def each(x: object) -> None:
        outcome = target.feed(x)
        tally.counts[outcome.label] += 1
        kind = outcome.label.split()[0]
        if not outcome.ok and sum(f.startswith(kind) for f in tally.failures) < 3:
            tally.failures.append(f"{outcome.label}: {outcome.detail} <- {x!r}"[:500])

    start = time.perf_counter()
    each()
    tally.seconds = time.perf_counter() - start
    return tally
