"""Observation modes: shapes, what the planes show, exact inversion, vector env agreement."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import Layout
from lever_gym.envs.views import CHANNELS, OBS_MODES, observer
from lever_gym.errors import ConfigError, ObservationError

MAP = """\
S.#..
..H..
.$.L.
.....
..$.E"""


def test_modes_have_the_documented_shapes() -> None:
    layout = Layout.from_ascii(MAP)
    assert observer(layout, "state").obs_dim == 2 * 5 + 1 + 2
    assert observer(layout, "view", 3).obs_dim == 3 * 3 * len(CHANNELS) + 1
    assert observer(layout, "grid").obs_dim == 5 * 5 * len(CHANNELS) + 1


def test_view_shows_the_window_around_the_agent_with_walls_outside() -> None:
    layout = Layout.from_ascii(MAP)
    seen = observer(layout, "view", 3)
    start = seen.space.start(layout.start)  # row 0, col 0; both gold present, lever not pulled
    planes = seen.planes(seen.observe(start))
    wall = planes[..., CHANNELS.index("wall")]
    # the row above and the column left of the corner are outside the grid
    assert wall.tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert planes[1, 1, CHANNELS.index("agent")] == 1 and planes[..., -1].sum() == 1
    at_lever = seen.space.start(2 * 5 + 3)  # cell of L: row 2, col 3
    p = seen.planes(seen.observe(at_lever))
    assert p[1, 1, CHANNELS.index("lever")] == 1
    assert p[0, 0, CHANNELS.index("hazard")] == 1  # H at row 1, col 2
    assert p[..., CHANNELS.index("gold")].sum() == 0  # gold at (2,1) and (4,2) lie outside


def test_gold_disappears_from_the_planes_when_its_bit_is_cleared() -> None:
    layout = Layout.from_ascii(MAP)
    seen = observer(layout, "grid")
    space = seen.space
    full = seen.planes(seen.observe(space.start(0)))[..., CHANNELS.index("gold")]
    assert full[2, 1] == 1 and full[4, 2] == 1
    one_left = space.encode(0, gold=0b10, lever=1)  # gold bit 0 (cell 11) collected
    obs = seen.observe(one_left)
    gold = seen.planes(obs)[..., CHANNELS.index("gold")]
    assert gold[2, 1] == 0 and gold[4, 2] == 1
    assert obs[-1] == 1  # the lever flag


@pytest.mark.parametrize("mode", ["state", "grid"])
def test_modes_that_determine_the_state_invert_exactly(mode: str) -> None:
    seen = observer(Layout.generate(8, 3), mode)
    states = np.arange(seen.space.n_states)
    obs = seen.observe(states)
    assert np.array_equal(seen.states_from_obs(obs), states)
    assert np.array_equal(seen.observe_one(int(states[77])), obs[77])


def test_view_observations_do_not_name_a_state_and_grid_refuses_another_layout() -> None:
    view = observer(Layout.generate(8, 3), "view")
    with pytest.raises(ObservationError, match="does not determine"):
        view.states_from_obs(view.observe(0))
    grid, other = observer(Layout.generate(8, 3), "grid"), observer(Layout.generate(8, 4), "grid")
    with pytest.raises(ObservationError, match="another layout"):
        grid.states_from_obs(other.observe(other.space.start(Layout.generate(8, 4).start)))


@pytest.mark.parametrize("mode", OBS_MODES)
def test_every_mode_passes_check_env_and_pickles(mode: str) -> None:
    env = gym.make("LeverGrid-8x8-PathGold-v0", obs_mode=mode)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert np.array_equal(clone.reset(seed=0)[0], obs)


def test_bad_modes_are_refused() -> None:
    with pytest.raises(ConfigError, match="obs_mode"):
        LeverGridEnv("Path", size=8, obs_mode="pixels")
    with pytest.raises(ConfigError, match="view_size"):
        LeverGridEnv("Path", size=8, obs_mode="view", view_size=4)


@pytest.mark.parametrize("mode", ["view", "grid"])
def test_native_vector_env_matches_sync_in_every_mode(mode: str) -> None:
    kwargs = {"obs_mode": mode, "random_start": True}
    native = gym.make_vec("LeverGrid-Random-8x8-PathGold-v0", num_envs=3, **kwargs)
    sync = gym.make_vec(
        "LeverGrid-Random-8x8-PathGold-v0", num_envs=3, vectorization_mode="sync", **kwargs
    )
    a, _ = native.reset(seed=5)
    b, _ = sync.reset(seed=5)
    assert np.array_equal(a, b)
    rng = np.random.default_rng(0)
    for _ in range(200):  # several episodes each, autoresets onto new layouts included
        actions = rng.integers(0, 4, 3)
        a, ra, ta, ua, ia = native.step(actions)
        b, rb, tb, ub, ib = sync.step(actions)
        assert np.array_equal(a, b) and np.array_equal(ra, rb)
        assert np.array_equal(ta, tb) and np.array_equal(ua, ub)
        assert np.array_equal(ia["layout_seed"], ib["layout_seed"])
