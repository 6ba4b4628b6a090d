"""Shared fixtures: isolated Minari root, tiny hand-made layouts."""

from __future__ import annotations

import numpy as np
import pytest

import lever_gym  # noqa: F401  (registers the LeverGrid ids)
from lever_gym.library.build.builder import build_library

TINY_LAYOUTS = {
    "corridor": """
        S.$.E
        .#.#.
        .L...
        ..H..
        .....
    """,
    "detour": """
        S.H.
        .#..
        .$.L
        ..E.
    """,
    "open": """
        S..
        L$.
        .HE
    """,
}


@pytest.fixture(autouse=True)
def isolated_minari_root(tmp_path, monkeypatch):
    """Every test gets its own MINARI_DATASETS_PATH."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory):
    """A two-policy library built once per session (copy it before tampering)."""
    from tests.library.tamper import tiny_config

    return build_library(tmp_path_factory.mktemp("tiny") / "library", tiny_config())


@pytest.fixture
def rng():
    """A seeded generator for test data."""
    return np.random.default_rng(0)


def tiny_neural_config():
    """A neural library small enough for tests: three members on 8x8 layouts 0..9, 3x3 view."""
    from lever_gym.library.format.neural import NeuralBuildConfig
    from lever_gym.train.dqn import DQNConfig, Worlds
    from lever_gym.train.heads import HeadConfig

    worlds = Worlds(size=8, layout_seeds=(0, 10), obs_mode="view", view_size=3)
    dqn = DQNConfig(
        env_steps=1200,
        n_envs=8,
        hidden=(16,),
        batch_size=32,
        buffer_size=2000,
        learning_starts=200,
        gradient_steps=1,
        target_every=50,
        worlds=worlds,
    )
    return NeuralBuildConfig(
        objectives=("Path", "Gold", "PathGold"),
        worlds=worlds,
        dqn=dqn,
        heads=HeadConfig(steps=60, hidden=(16,)),
        episodes=4,
        n_trees=2,
    )


@pytest.fixture(scope="session")
def tiny_neural_library(tmp_path_factory):
    """A three-member neural library built once per session (copy it before tampering)."""
    from lever_gym.library.build.neural import build_neural_library

    return build_neural_library(tmp_path_factory.mktemp("neural") / "library", tiny_neural_config())
