"""The component registry: a fifth reward component added in a fixture reaches the env, a
library build and a composition, and libraries record the components they were built with."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import lever_gym.components as reward_components
from lever_gym.components import Component, Moves
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.build.builder import build_library
from lever_gym.library.build.runs import build_run
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.store import Library
from lever_gym.objective import Objective, objective_names
from lever_gym.reuse.composed import LeverComposedPolicy

DEFAULT = Path(__file__).resolve().parents[1] / "datasets"


def _bump(m: Moves) -> np.ndarray:
    """-1 for a move into a wall or the edge (the agent stays where it is)."""
    return np.where(m.next_cell == m.cell[:, None], -1.0, 0.0)


BUMP = Component("bump", "B", ("bump", "bonk"), "a cost for walking into a wall", _bump)


@pytest.fixture
def fifth():
    """The registry with a fifth component, ``bump``, for the duration of a test."""
    with reward_components.extended(BUMP) as component:
        yield component


def test_a_fifth_component_reaches_objectives_and_the_env(fifth):
    assert reward_components.names()[-1] == "bump" and len(objective_names()) == 31
    assert Objective.parse("path+bump").weights == (1.0, 0.0, 0.0, 0.0, 1.0)
    assert Objective.parse("reach the exit and bonk into walls").active == ("path", "bump")
    assert Objective.parse_split("P+B")[1].name == "Bump"
    env = LeverGridEnv("PathBump", layout="S..\n.#.\n$LE")
    _, info = env.reset(seed=0)
    cells, bumps = [info["cell"]], []
    for action in (3, 0, 1, 2, 2, 2):  # edge, right, wall, left, left, edge
        _, reward, terminated, _, info = env.step(action)
        assert info["reward_components"].shape == (5,)
        assert reward == pytest.approx(float(env.weights @ info["reward_components"]))
        cells.append(info["cell"])
        bumps.append(info["reward_components"][4])
        assert not terminated
    stayed = [a == b for a, b in itertools.pairwise(cells)]
    assert bumps == [-1.0 if s else 0.0 for s in stayed] == [-1, 0, -1, 0, -1, -1]


def test_a_library_built_with_five_components_composes_and_records_them(fifth, tmp_path):
    config = BuildConfig(
        sizes=(8,), layout_seeds=(0,), objectives=("Path", "Bump"), gammas=(0.99,),
        budgets=(300,), replicas=1,
    )  # fmt: skip
    lib = build_library(tmp_path / "lib", config)
    assert lib.components == reward_components.names()
    assert len(lib.records[0].weights) == 5
    policy = LeverComposedPolicy.from_library(lib, "PathBump", layout=(8, 0))
    env = LeverGridEnv("PathBump", size=8, layout_seed=0)
    obs, _ = env.reset(seed=0)
    assert policy(obs) in range(4)
    assert set(policy.explanation.chosen.policies) <= {r.id for r in lib}
    spare = Component("spare", "X", ("spare",), "nothing", _bump)
    with reward_components.extended(spare), pytest.raises(ConfigError, match="worker process"):
        build_run((str(tmp_path), config.to_dict(), {}, {}, ("path",)))


def test_a_library_of_four_components_opens_under_five_with_zero_columns(fifth):
    lib = Library.load(DEFAULT)
    assert lib.components == ("path", "gold", "hazard", "lever")
    record = lib.records[0]
    assert len(record.weights) == 5 and record.weights[4] == 0.0
    assert lib.policy_arrays(record)["psi"][:, 4].tolist() == [0.0] * len(
        lib.policy_arrays(record)["psi"]
    )
    assert not lib.empirical(8, 0).components[:, 4].any()
    policy = LeverComposedPolicy.from_library(lib, "PathGold", layout=(8, 0))
    env = LeverGridEnv("PathGold", size=8, layout_seed=0)
    obs, _ = env.reset(seed=0)
    assert policy(obs) in range(4)


def test_a_library_recording_an_unregistered_component_is_refused(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(DEFAULT, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["components"] = [*manifest["components"], "bump"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LibraryError, match=r"records the reward component.*'bump'.*Register"):
        Library.load(copy)


def test_registering_checks_names_and_letters():
    with pytest.raises(ConfigError, match="new lower-case name"):
        reward_components.register(Component("gold", "Q", (), "", _bump))
    with pytest.raises(ConfigError, match="new lower-case name"):
        reward_components.register(Component("spare", "P", (), "", _bump))
    with pytest.raises(ConfigError, match="built in"):
        reward_components.unregister("path")
    assert reward_components.names() == ("path", "gold", "hazard", "lever")
