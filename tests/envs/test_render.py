"""Rendering: the ANSI map and its legend, ``tile_size`` in every env class, the docs figure."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.render import ANSI_LEGEND, COLORS, LEGEND, legend_figure
from lever_gym.errors import ConfigError
from tests.conftest import TINY_LAYOUTS


def test_ansi_is_the_map_then_the_legend():
    env = LeverGridEnv("PathLever", layout=TINY_LAYOUTS["corridor"], size=None, render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "A.$.E\n.#.#.\n.L...\n..H..\n.....\n" + ANSI_LEGEND + "\n"
    env.step(1)
    env.step(1)  # down twice: next to the lever
    assert env.render().splitlines()[:3] == ["..$.E", ".#.#.", "AL..."]
    env.step(0)
    assert env.render().splitlines()[2] == ".A..."
    env.step(0)  # off the pulled lever
    assert env.render().splitlines()[2] == ".lA.."


def test_the_legend_names_every_character_and_colour():
    env = LeverGridEnv("Path", size=16, render_mode="ansi")
    env.reset(seed=0)
    *rows, _ = env.render().splitlines()
    chars = {char for char, _, _ in LEGEND}
    assert set("".join(rows)) <= chars
    assert all(f"{char} " in ANSI_LEGEND for char in chars)
    assert {key for _, _, key in LEGEND} == set(COLORS) - {"grid"}


@pytest.mark.parametrize("tile_size", [4, 12, 16, 64])
def test_tile_size_sets_the_frame_size(tile_size):
    env = gym.make("LeverGrid-8x8-Path-v0", render_mode="rgb_array", tile_size=tile_size)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (8 * tile_size, 8 * tile_size, 3) and frame.dtype == np.uint8
    wall = min(env.unwrapped.layout.walls)
    r, c = divmod(wall, 8)
    inside = frame[r * tile_size + 1 : (r + 1) * tile_size, c * tile_size + 1 : (c + 1) * tile_size]
    assert (inside == COLORS["wall"]).all()
    assert json.loads(env.spec.to_json())["kwargs"]["tile_size"] == tile_size


def test_default_tile_size_is_16():
    env = LeverGridEnv("Path", size=8, render_mode="rgb_array")
    env.reset(seed=0)
    assert env.tile_size == 16 and env.render().shape == (128, 128, 3)


@pytest.mark.parametrize("bad", [3, 65, 16.0, True, "16", None])
def test_bad_tile_size_raises(bad):
    with pytest.raises(ConfigError, match=r"tile_size must be an integer in 4\.\.64"):
        LeverGridEnv("Path", size=8, tile_size=bad)


def test_random_worlds_and_vector_envs_pass_tile_size_on():
    random = RandomLeverGridEnv("Path", size=8, render_mode="rgb_array", tile_size=6)
    random.reset(seed=0)
    assert random.render().shape == (48, 48, 3)
    kwargs = {"num_envs": 2, "render_mode": "rgb_array", "tile_size": 6}
    for eid in ("LeverGrid-8x8-Path-v0", "LeverGrid-Random-8x8-Path-v0"):
        sync = gym.make_vec(eid, vectorization_mode="sync", **kwargs)
        native = gym.make_vec(eid, **kwargs)
        sync.reset(seed=3)
        native.reset(seed=3)
        assert native.tile_size == 6
        for got, expected in zip(native.render(), sync.render(), strict=True):
            assert got.shape == (48, 48, 3)
            np.testing.assert_array_equal(got, expected)
    with pytest.raises(ConfigError, match="tile_size"):
        gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=2, tile_size=0)


def test_legend_figure_draws_each_frame_and_the_legend():
    frames = [np.zeros((40, 40, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)]
    fig = legend_figure(frames, ["a", "b"])
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["a", "b"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["agent (A)", "wall (#)", r"gold (\$)"] and len(labels) == len(LEGEND)
    with pytest.raises(ConfigError, match="one per frame"):
        legend_figure(frames, ["a"])
