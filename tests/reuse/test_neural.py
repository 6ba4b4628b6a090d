"""Composing neural members on layouts no member trained on, from data alone."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import lever_gym.envs.model as model_module
from lever_gym.envs.layout import Layout
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError, LayoutError, LibraryError
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.reuse.composition import ComposeConfig
from lever_gym.reuse.neural import NeuralComposedPolicy, NeuralReuseConfig
from lever_gym.reuse.neural_pipeline import best_single, compose_neural, target_layout

UNSEEN = 5_000
"""A layout seed outside the tiny library's range 0..9."""
CONFIGS = {
    "gpi-behaviour": NeuralReuseConfig(),
    "gpi-neighbour": NeuralReuseConfig(support="neighbour", n_trees=2),
    "sum": NeuralReuseConfig(compose=ComposeConfig(operator="sum")),
}


@pytest.fixture(scope="module")
def lib(tiny_neural_library: Path) -> NeuralLibrary:
    return NeuralLibrary.load(tiny_neural_library)


def test_composing_on_an_unseen_layout_never_builds_its_model(
    lib: NeuralLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not lib.worlds.covers(UNSEEN)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the target layout's true model was built")

    monkeypatch.setattr(model_module, "_model_for", forbidden)
    monkeypatch.setattr(model_module, "build_tables", forbidden)
    layout = Layout.generate(8, UNSEEN)
    obs = observer(layout, "view", 3).observe(np.arange(200))
    for name, config in CONFIGS.items():
        policy = compose_neural(lib, "PathGold", layout=(8, UNSEEN), config=config)
        actions = policy.predict(obs)
        assert actions.shape == (200,) and ((actions >= 0) & (actions < 4)).all(), name
        assert policy.q_values(obs).shape == (200, 4)
        assert policy.explain()["layout"]["map"] == layout.to_ascii()


def test_neighbour_indexes_are_built_once_per_open_library(lib: NeuralLibrary) -> None:
    from lever_gym.reuse.neural_pipeline import recorded_pairs

    config = CONFIGS["gpi-neighbour"]
    first = compose_neural(lib, "PathGold", layout=(8, UNSEEN), config=config)
    again = compose_neural(lib, "PathGold", layout=(8, UNSEEN), config=config)
    member = first.members[0].id
    assert recorded_pairs(lib, member, config) is recorded_pairs(lib, member, config)
    fresh = NeuralLibrary.load(lib.root)  # another open library builds its own, the same
    rebuilt = compose_neural(fresh, "PathGold", layout=(8, UNSEEN), config=config)
    assert recorded_pairs(fresh, member, config) is not recorded_pairs(lib, member, config)
    obs = observer(Layout.generate(8, UNSEEN), "view", 3).observe(np.arange(300))
    for other in (again, rebuilt):
        np.testing.assert_array_equal(other.q_values(obs), first.q_values(obs))


def test_gpi_takes_per_observation_the_best_supported_member(lib: NeuralLibrary) -> None:
    """With every action supported (τ → 0) GPI is the max over members of ψ·w."""
    config = NeuralReuseConfig(threshold=1e-12)
    policy = compose_neural(lib, "PathGold", layout=(8, UNSEEN), config=config)
    obs = observer(Layout.generate(8, UNSEEN), "view", 3).observe(np.arange(300))
    w = np.array(policy.target)
    values = np.stack([m.answer(obs)[1] @ w for m in policy.members])
    assert np.allclose(policy.q_values(obs), values.max(axis=0))


def test_sum_adds_the_parts_q_values(lib: NeuralLibrary) -> None:
    policy = compose_neural(
        lib, "PathGold", layout=(8, UNSEEN), config=CONFIGS["sum"], objectives=("Path", "Gold")
    )
    assert sorted(policy.explain()["members"]) == ["Gold-dqn-r0", "Path-dqn-r0"]
    assert policy.factors.tolist() == [1.0, 1.0]


def test_a_saved_policy_loads_to_the_same_values_without_pickle(
    lib: NeuralLibrary, tmp_path: Path
) -> None:
    layout = Layout.generate(8, UNSEEN)
    see = observer(layout, "view", 3).observe
    obs = see(np.arange(400))
    for name, config in CONFIGS.items():
        policy = compose_neural(lib, "PathGold", layout=layout, config=config)
        path = policy.save(tmp_path / f"{name}.npz")
        with np.load(path, allow_pickle=False) as npz:
            assert all(npz[k].dtype != object for k in npz.files)
        again = NeuralComposedPolicy.load(path, see)
        assert np.array_equal(again.q_values(obs), policy.q_values(obs)), name
        assert again.explain() == policy.explain()
        with pytest.raises(LibraryError, match="overwrite=True"):
            policy.save(path)
        policy.save(path, overwrite=True)


def test_the_member_protocol_answers_on_state_indices(lib: NeuralLibrary) -> None:
    policy = compose_neural(lib, "PathGold", layout=(8, UNSEEN))
    member = policy.members[0]
    states = np.arange(50)
    obs = observer(Layout.generate(8, UNSEEN), "view", 3).observe(states)
    assert np.array_equal(member.q_values(states), member.answer(obs)[0])
    assert member.successor_features(states).shape == (50, 4, 4)
    assert set(np.unique(member.support(states))) <= {0, 1}


def test_best_single_is_chosen_from_the_embeddings(lib: NeuralLibrary) -> None:
    w = np.array([1.0, 1.0, 0.0, 0.0])
    scores = {m.id: float(np.dot(m.embedding, w)) for m in lib.members}
    chosen, policy = best_single(lib, "PathGold")
    assert chosen == max(scores, key=scores.__getitem__)
    assert policy.predict(np.zeros((2, lib.worlds.obs_dim), np.float32)).shape == (2,)


@pytest.mark.parametrize(
    "layout, error, match",
    [
        (None, ConfigError, "needs the target layout"),
        ((16, 0), ConfigError, "8x8"),
        ("not a map", LayoutError, "between 3 and 64 rows"),
        (3.5, ConfigError, "layout must be"),
    ],
)
def test_a_missing_or_wrong_layout_is_refused(
    lib: NeuralLibrary, layout: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        compose_neural(lib, "PathGold", layout=layout)


def test_the_target_layout_can_be_an_env_a_map_or_a_seed() -> None:
    layout = Layout.generate(8, UNSEEN)
    env = gym.make("LeverGrid-8x8-PathGold-v0")
    assert target_layout((8, UNSEEN)) == layout
    assert target_layout(layout.to_ascii()) == layout
    assert target_layout(env) == env.unwrapped.layout  # type: ignore[attr-defined]


def test_objectives_the_library_lacks_are_refused(lib: NeuralLibrary) -> None:
    with pytest.raises(ConfigError, match="no member of Lever"):
        compose_neural(lib, "PathGold", layout=(8, UNSEEN), objectives=("Lever",))


def test_objectives_must_be_names(lib: NeuralLibrary) -> None:
    for bad in ([None], [5], "Path"):
        with pytest.raises(ConfigError, match="list of objective names"):
            compose_neural(lib, "PathGold", layout=(8, UNSEEN), objectives=bad)  # type: ignore[arg-type]
