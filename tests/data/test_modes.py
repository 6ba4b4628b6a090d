"""Re-expressing stored data in another observation mode: exact, written as a new dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lever_gym.data.modes import convert_dataset, observations_in
from lever_gym.data.storage import open_dataset, read_episodes
from lever_gym.envs.grid import lever_env
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError
from lever_gym.library.store import Library

DATASET = "lever/8x8-s0/PathGold-q_learning-g0-b10000-r0-e10000-v0"


@pytest.fixture(scope="module")
def dataset():
    library = Library.load()
    return library.dataset(next(r for r in library if r.dataset_id == DATASET))


def test_state_mode_reproduces_the_stored_observations(dataset) -> None:
    stored = [ep["observations"] for ep in read_episodes(dataset, ["observations"])]
    again = list(observations_in(dataset, "state"))
    assert len(again) == len(stored)
    assert all(np.array_equal(a, b) for a, b in zip(again, stored, strict=True))


def test_converted_dataset_opens_and_matches_the_env_in_its_mode(dataset, tmp_path: Path) -> None:
    out = convert_dataset(dataset, tmp_path, "lever/test/PathGold-view-v0", "view", 5)
    converted = open_dataset(out / "data")
    env = converted.recover_environment()
    base = lever_env(env)
    assert base.obs_mode == "view" and env.observation_space.shape == (5 * 5 * 6 + 1,)
    seen = observer(base.layout, "view", 5)
    old = list(read_episodes(dataset, ["actions", "rewards", "infos/state"]))
    new = list(read_episodes(converted, ["observations", "actions", "rewards", "infos/state"]))
    for a, b in zip(old, new, strict=True):
        assert np.array_equal(a["actions"], b["actions"])
        assert np.array_equal(a["rewards"], b["rewards"])
        assert np.array_equal(b["observations"], seen.observe(b["infos/state"]))
    # replaying the first episode's actions in the recovered env gives the stored observations
    first = new[0]
    start = int(base.model.space.cell_of(first["infos/state"][0]))
    obs, _ = env.reset(options={"start_cell": start})
    assert np.array_equal(obs, first["observations"][0])
    for t, action in enumerate(first["actions"]):
        obs, *_ = env.step(int(action))
        assert np.array_equal(obs, first["observations"][t + 1])


def test_a_bad_mode_is_refused_before_anything_is_written(dataset, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="obs_mode"):
        convert_dataset(dataset, tmp_path, "lever/test/x-v0", "pixels")
    assert not any(tmp_path.iterdir())
