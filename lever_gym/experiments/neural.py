"""The neural protocol: held-out layouts fixed in advance, exact scores, the compared methods.

Units are held-out layouts ``HELD_OUT + i`` (no member's training range reaches them) of the
library's size, for one library seed. A method is anything with ``predict`` (observations
to actions); it acts on every state of the layout, observed in the library's mode, and its
score is the exact undiscounted return within the env's time limit (``size**2`` steps) from
the start, normalised so that the uniform random policy scores 0 and a ceiling computed on
the layout's true model (used here for scoring only, never by a method) scores 1: the
finite-horizon optimum on the paper's setups, and on signed tasks the stationary reference
(``mdp.contract.stationary_reference``), since every method here is a stationary policy on
Markov observations and where stalling pays only a time-indexed policy reaches the
finite-horizon optimum. Signed tasks are the first ``SIGNED_PER_FAMILY`` of each family in
the results page's declared distribution (``experiments.protocol.signed_tasks`` of the
first held-out layout), composed from the four primitives. ``lever-gym demo`` and
``benchmarks/bench_neural.py`` share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import model_for
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError
from lever_gym.experiments.protocol import signed_tasks
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.mdp.contract import stationary_reference
from lever_gym.mdp.horizon import policy_values, random_values, reference_values
from lever_gym.objective import Objective
from lever_gym.reuse.composition import ComposeConfig
from lever_gym.reuse.decompose import SETUPS, setup_target
from lever_gym.reuse.neural import NeuralReuseConfig
from lever_gym.reuse.neural_pipeline import best_single, compose_neural
from lever_gym.train.dqn import Worlds

HELD_OUT = 1_000_000
"""The first held-out layout seed (every library's range lies below it)."""
COMPOSED: dict[str, NeuralReuseConfig] = {
    "lever gpi (behaviour)": NeuralReuseConfig(support="behaviour"),
    "lever gpi (neighbour)": NeuralReuseConfig(support="neighbour"),
    "Q-sum": NeuralReuseConfig(compose=ComposeConfig(operator="sum")),
}
"""The composed methods compared: GPI over ψ·w with each support estimate, the paper's sum."""
PRIMITIVES = ("Path", "Gold", "Hazard", "Lever")
"""The members a signed task composes (every component of the declared distribution is
non-zero)."""
SIGNED_PER_FAMILY = 2
SIGNED_DRAWS = 64
"""Draws of the declared signed distribution the first ``SIGNED_PER_FAMILY`` of each
family are taken from."""
CEILINGS = ("finite-horizon", "stationary")
"""What a normalised score's 1 is: the true model's finite-horizon optimum (time-aware), or
the best stationary policy of the true model (``score``)."""


@dataclass(frozen=True)
class NeuralTask:
    """A target of the neural protocol: its weights, the members' objectives it composes,
    its family (``setup`` or a signed family) and the ceiling its scores are normalised by."""

    name: str
    objective: Objective
    parts: tuple[str, ...]
    family: str
    ceiling: str

    def __post_init__(self) -> None:
        """Validate the ceiling, naming the choices."""
        checks.one_of(self.ceiling, CEILINGS, "ceiling")


def neural_tasks(size: int, signed: bool = True) -> dict[str, NeuralTask]:
    """The paper's six setups and (``signed``) the declared signed tasks, by name."""
    tasks = {
        s: NeuralTask(s, setup_target(s), tuple(parts), "setup", "finite-horizon")
        for s, parts in SETUPS.items()
    }
    if signed:
        kept: dict[str, int] = {}
        for t in signed_tasks(size, HELD_OUT, SIGNED_DRAWS):
            if kept.get(t.kind, 0) < SIGNED_PER_FAMILY:
                kept[t.kind] = kept.get(t.kind, 0) + 1
                tasks[t.name] = NeuralTask(t.name, t.objective, PRIMITIVES, t.kind, "stationary")
    return tasks


def held_out(worlds: Worlds, n: int) -> list[Layout]:
    """The first ``n`` held-out layouts of ``worlds``' size; ``ConfigError`` if the training
    range reaches them."""
    if worlds.layout_seeds[1] > HELD_OUT:
        raise ConfigError(
            f"the library trains on layouts up to {worlds.layout_seeds[1]:,}, which reaches "
            f"the held-out layouts from {HELD_OUT:,}; build it on a lower range."
        )
    return [Layout.generate(worlds.size, HELD_OUT + i) for i in range(n)]


def score(predict: Callable[[np.ndarray], np.ndarray], layout: Layout, worlds: Worlds,
          objective: Objective, ceiling: str = "finite-horizon") -> float:  # fmt: skip
    """The normalised exact return of ``predict`` on ``layout`` against ``ceiling``
    (``CEILINGS``; module docstring)."""
    checks.one_of(ceiling, CEILINGS, "ceiling")
    model = model_for(layout, True)
    seen = observer(layout, worlds.obs_mode, worlds.view_size).observe(np.arange(model.n_states))
    actions = np.asarray(predict(seen), dtype=np.int64)
    horizon = layout.size**2
    value = policy_values(model, objective, actions, horizon)
    s = model.start_state
    if ceiling == "stationary":
        low = random_values(model, objective, horizon)[s]
        high = stationary_reference(model, objective, horizon, np.array([s])).returns[0]
    else:
        random, optimal = reference_values(model, objective, horizon)
        low, high = random[s], optimal[s]
    return float((value[s] - low) / (high - low))


def composed_scores(
    library: NeuralLibrary,
    layouts: list[Layout],
    methods: Mapping[str, NeuralReuseConfig] = COMPOSED,
    tasks: Mapping[str, NeuralTask] | None = None,
) -> tuple[dict[tuple[str, str], list[float]], list[float]]:
    """Per (task, method) the scores on ``layouts`` of the composed methods and of the best
    single member (members: the task's parts; ``tasks`` default: the six setups), and the
    seconds of every composition."""
    scores: dict[tuple[str, str], list[float]] = {}
    seconds: list[float] = []
    chosen = neural_tasks(library.worlds.size, signed=False) if tasks is None else tasks
    for name, task in chosen.items():
        target, parts = task.objective, list(task.parts)
        for layout in layouts:
            for method, config in methods.items():
                policy = compose_neural(library, target, layout=layout, config=config,
                                        objectives=parts)  # fmt: skip
                seconds.append(float(policy.facts["seconds"]))
                scores.setdefault((name, method), []).append(
                    score(policy.predict, layout, library.worlds, target, task.ceiling)
                )
            _, single = best_single(library, target, parts)
            scores.setdefault((name, "best single"), []).append(
                score(single.predict, layout, library.worlds, target, task.ceiling)
            )
    return scores, seconds


def table(scores: Mapping[tuple[str, str], Any], methods: list[str]) -> list[str]:
    """Markdown rows: mean score per setup for each method."""
    lines = ["| method | " + " | ".join(SETUPS) + " | mean |", "|---" * (len(SETUPS) + 2) + "|"]
    for m in methods:
        means = [float(np.mean(scores[s, m])) for s in SETUPS]
        cells = " | ".join(f"{x:.2f}" for x in means)
        lines.append(f"| {m} | {cells} | {np.mean(means):.2f} |")
    return lines
