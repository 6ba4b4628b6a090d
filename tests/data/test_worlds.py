"""Episodes over randomised worlds: each row's layout recorded, so any mode is recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lever_gym.data.modes import observations_in
from lever_gym.data.storage import read_episodes
from lever_gym.data.worlds import collect_worlds, transitions
from lever_gym.envs.layout import Layout
from lever_gym.envs.views import observer
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.train.dqn import Worlds


class Right:
    """Always moves right."""

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)


def test_collected_episodes_record_each_rows_layout_and_state() -> None:
    worlds = Worlds(size=8, layout_seeds=(20, 30), obs_mode="view", view_size=5)
    columns = collect_worlds(Right(), "Path", worlds, episodes=6, epsilon=0.5, seed=3)
    assert len(columns.lengths) == 6
    bounds = np.concatenate([[0], np.cumsum(columns.lengths + 1)])
    for e in range(6):
        rows = slice(bounds[e], bounds[e + 1])
        seeds = columns.infos["layout_seed"][rows]
        assert (seeds == seeds[0]).all() and worlds.covers(int(seeds[0]))
        see = observer(Layout.generate(8, int(seeds[0])), "view", 5).observe
        assert np.array_equal(columns.observations[rows], see(columns.infos["state"][rows]))
    again = collect_worlds(Right(), "Path", worlds, episodes=6, epsilon=0.5, seed=3)
    assert np.array_equal(again.observations, columns.observations)
    steps = transitions(columns)
    assert len(steps.actions) == int(columns.lengths.sum())


def test_a_member_dataset_converts_exactly_into_grid_mode(tiny_neural_library: Path) -> None:
    lib = NeuralLibrary.load(tiny_neural_library)
    ds = lib.dataset(lib.members[0].id)
    episodes = list(read_episodes(ds, ["infos/state", "infos/layout_seed"]))
    for grid, ep in zip(observations_in(ds, "grid"), episodes, strict=True):
        seed = int(ep["infos/layout_seed"][0])
        space = observer(Layout.generate(8, seed), "grid")
        assert np.array_equal(space.states_from_obs(grid), ep["infos/state"])
