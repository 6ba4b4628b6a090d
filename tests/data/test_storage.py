"""Behaviour datasets and the Minari -> d3rlpy conversion."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import minari
import numpy as np
import pytest

from lever_gym.data.collect import DataConfig, collect
from lever_gym.data.convert import to_d3rlpy
from lever_gym.data.storage import open_dataset, read_episodes, write_dataset
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.train.tabular import TrainConfig, key_index, train


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """One dataset that ends in exits/hazards, one whose episodes all hit the time limit."""
    root = tmp_path_factory.mktemp("minari")
    env = gym.make("LeverGrid-8x8-PathGold-v0", layout_seed=4, random_start=True)
    model, w = env.unwrapped.model, env.unwrapped.weights
    q = train(model, w, TrainConfig(gamma=0.99, episodes=2000, seed=0)).q
    keys = key_index(model, "state")
    good = collect(model, q, keys, DataConfig(episodes=12, epsilon=0.2), seed=1)
    stuck = collect(model, np.zeros_like(q), keys, DataConfig(episodes=3, epsilon=0.0), seed=2)
    assert not any(stuck.terminated) and any(good.terminated)
    ids = ["lever/test/good-v0", "lever/test/stuck-v0"]
    for dataset_id, eps in zip(ids, (good, stuck), strict=True):
        write_dataset(root, dataset_id, env, eps, algorithm="test", description="test")
    return root, ids


def test_collect_is_seeded_and_counts_support(two_datasets):
    env = gym.make("LeverGrid-8x8-Path-v0", random_start=True)
    model = env.unwrapped.model
    q = np.random.default_rng(0).normal(size=(model.n_states, 4))
    keys = key_index(model, "state")
    a = collect(model, q, keys, DataConfig(episodes=6), seed=5)
    b = collect(model, q, keys, DataConfig(episodes=6), seed=5)
    for x, y in zip(a.states + a.actions, b.states + b.actions, strict=True):
        np.testing.assert_array_equal(x, y)
    support = a.support(model.n_states)
    assert support.sum() == a.n_transitions
    s, act = a.states[0][0], a.actions[0][0]
    assert support[s, act] >= 1


def test_to_d3rlpy_aligns_relabels_and_maps_flags(two_datasets, monkeypatch):
    root, ids = two_datasets
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    datasets = [minari.load_dataset(i) for i in ids]
    weights = np.array([0.5, 2.0, 1.0, 1.0])
    mdp = to_d3rlpy(datasets, weights)
    episodes = [ep for ds in datasets for ep in ds.iterate_episodes()]
    total = sum(len(ep.actions) for ep in episodes)
    timed_out = sum(1 for ep in episodes if not ep.terminations[-1])
    assert timed_out == 3
    assert mdp.transition_count == total - timed_out  # d3rlpy drops a timeout's last step
    assert len(mdp.episodes) == len(episodes)
    model = datasets[0].recover_environment().unwrapped.model
    for ep, d3 in zip(episodes, mdp.episodes, strict=True):
        states = ep.infos["state"][:-1]
        np.testing.assert_array_equal(
            d3.observations, model.space.observe(states)
        )  # obs t ~ state t
        np.testing.assert_array_equal(d3.actions[:, 0], ep.actions)
        expect = ep.infos["reward_components"][1:] @ weights
        np.testing.assert_allclose(d3.rewards[:, 0], expect.astype(np.float32), rtol=1e-6)
        assert d3.terminated == bool(ep.terminations[-1])


def test_to_d3rlpy_accepts_ids_and_named_objectives(two_datasets, monkeypatch):
    root, ids = two_datasets
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    mdp = to_d3rlpy(ids[0], "path+gold")
    ds = minari.load_dataset(ids[0])
    own = np.concatenate([ep.rewards for ep in ds.iterate_episodes()])
    got = np.concatenate([e.rewards[:, 0] for e in mdp.episodes])
    np.testing.assert_allclose(got, own.astype(np.float32), rtol=1e-6)  # PathGold = own rewards


def test_to_d3rlpy_needs_datasets():
    with pytest.raises(ConfigError, match="at least one dataset"):
        to_d3rlpy([], "Path")


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"episodes": 0}, "positive integer"), ({"epsilon": 2.0}, r"\[0, 1\]")]
)
def test_bad_data_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DataConfig(**kwargs)


def test_to_d3rlpy_refuses_datasets_without_components(tmp_path, monkeypatch):
    from minari.data_collector import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    env = gym.make("LeverGrid-8x8-Path-v0")
    obs, _ = env.reset(seed=0)
    nxt, reward, *_ = env.step(0)
    buf = EpisodeBuffer(
        id=0, observations=np.stack([obs, nxt]), actions=np.array([0]), rewards=[reward],
        terminations=[False], truncations=[True], infos={},
    )  # fmt: skip
    ds = minari.create_dataset_from_buffers("plain/none-v0", [buf], env=env, eval_env=env.spec)
    with pytest.raises(LibraryError, match="has no infos/reward_components"):
        to_d3rlpy(ds, "Path")


def malicious_metadata(folder, marker, **changes):
    """Rewrite a dataset's ``metadata.json`` so that opening it with Minari alone would run
    ``touch marker`` (its spaces gone, its env spec naming ``subprocess:getoutput``)."""
    path = folder / "data" / "metadata.json"
    meta = json.loads(path.read_text())
    spec = json.loads(meta["env_spec"])
    spec.update(entry_point="subprocess:getoutput", kwargs={"cmd": f"touch {marker}"})
    for key in ("observation_space", "action_space"):
        meta.pop(key)
    meta.update(env_spec=json.dumps(spec))
    meta.update(changes)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "edit",
    [
        {},
        {"eval_env_spec": json.dumps({"entry_point": "os:system", "kwargs": {}})},
        {"data_format": "arrow"},
        {"total_episodes": -1},
        {"env_spec": "{" * 50_000},
    ],
)
def test_open_dataset_never_runs_code_from_metadata(two_datasets, tmp_path, edit):
    root, ids = two_datasets
    folder = tmp_path / "ds"
    shutil.copytree(root / ids[0], folder)
    marker = tmp_path / "ran"
    malicious_metadata(folder, marker, **edit)
    with pytest.raises(LibraryError, match=r"lever_gym opens only the Minari datasets|valid JSON"):
        open_dataset(folder / "data")
    assert not marker.exists()


def test_open_dataset_reads_our_own_datasets_without_making_an_env(two_datasets, monkeypatch):
    root, ids = two_datasets
    monkeypatch.setattr(gym, "make", lambda *a, **k: pytest.fail("Minari made an env"))
    ds = open_dataset(root / ids[1] / "data")
    assert ds.total_episodes == 3 and ds.env_spec.id == "LeverGrid-8x8-PathGold-v0"
    assert len(list(read_episodes(ds, ("actions",)))) == 3
