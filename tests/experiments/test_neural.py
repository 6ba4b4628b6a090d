"""The neural protocol: held-out layouts outside the training range, exact normalised scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import model_for
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError
from lever_gym.experiments.demo import neural_summary
from lever_gym.experiments.neural import HELD_OUT, held_out, score, table
from lever_gym.mdp.solve import value_iteration
from lever_gym.objective import Objective
from lever_gym.train.dqn import Worlds

WORLDS = Worlds(size=8, layout_seeds=(0, 10), obs_mode="grid")


def test_held_out_layouts_lie_outside_every_training_range() -> None:
    layouts = held_out(WORLDS, 3)
    assert layouts == [Layout.generate(8, HELD_OUT + i) for i in range(3)]
    with pytest.raises(ConfigError, match="reaches the held-out layouts"):
        held_out(Worlds(size=8, layout_seeds=(0, HELD_OUT + 1)), 1)


def test_the_optimum_scores_one_and_a_wall_walker_less() -> None:
    layout = Layout.generate(8, HELD_OUT)
    model, path = model_for(layout, True), Objective.parse("Path")
    q, _ = value_iteration(model, path, 0.99)
    grid = observer(layout, "grid")

    def optimal(obs: np.ndarray) -> np.ndarray:
        return np.argmax(q[grid.states_from_obs(obs)], axis=1)

    def still(obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), 3)

    assert score(optimal, layout, WORLDS, path) == pytest.approx(1.0)
    assert score(still, layout, WORLDS, path) < 0.5


def test_the_table_has_a_row_per_method_and_a_mean() -> None:
    from lever_gym.reuse.decompose import SETUPS

    scores = {(s, m): [0.5, 1.0] for s in SETUPS for m in ("a", "b")}
    lines = table(scores, ["a", "b"])
    assert len(lines) == 4 and lines[2].endswith("| 0.75 |")


def test_the_demo_table_needs_every_setup_part(tiny_neural_library: Path) -> None:
    with pytest.raises(ConfigError, match="no member of"):
        neural_summary(tiny_neural_library)


def test_signed_tasks_are_declared_and_scored_against_the_stationary_reference() -> None:
    """The neural protocol's signed tasks are the first two of each family drawn from the
    declared distribution, composed from the four primitives; against the stationary
    reference its own policy scores 1, and a stalling-pays task's finite-horizon optimum
    lies above it (so the stationary ceiling is the lower one there)."""
    from lever_gym.experiments.neural import PRIMITIVES, neural_tasks
    from lever_gym.experiments.protocol import signed_tasks
    from lever_gym.mdp.contract import stationary_reference

    tasks = neural_tasks(8)
    signed = [t for t in tasks.values() if t.family != "setup"]
    drawn = signed_tasks(8, HELD_OUT, 64)
    families = {t.kind for t in drawn}
    for family in families:
        firsts = [t.name for t in drawn if t.kind == family][:2]
        assert [t.name for t in signed if t.family == family] == firsts
    assert all(t.parts == PRIMITIVES and t.ceiling == "stationary" for t in signed)
    assert all(t.ceiling == "finite-horizon" for t in tasks.values() if t.family == "setup")
    stalling = next(t for t in signed if t.family == "stalling pays")
    layout = Layout.generate(8, HELD_OUT)
    model = model_for(layout, True)
    reference = stationary_reference(
        model, stalling.objective, layout.size**2, np.array([model.start_state])
    )
    grid = observer(layout, "grid")

    def stationary(obs: np.ndarray) -> np.ndarray:
        return reference.actions[grid.states_from_obs(obs)]

    objective = stalling.objective
    assert score(stationary, layout, WORLDS, objective, "stationary") == pytest.approx(1.0)
    assert score(stationary, layout, WORLDS, objective, "finite-horizon") < 1.0
    with pytest.raises(ConfigError, match="ceiling must be one of"):
        score(stationary, layout, WORLDS, objective, "best")
