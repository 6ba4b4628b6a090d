"""RandomLeverGridEnv and the LeverGrid-Random-* ids: a new generated layout every reset."""

from __future__ import annotations

import pickle

import gymnasium as gym
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

import lever_gym
from lever_gym.envs.layout import PRESETS, Layout
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.errors import ConfigError
from lever_gym.objective import OBJECTIVE_NAMES, env_id

RANDOM_IDS = [env_id(n, o, family="Random") for n in PRESETS for o in OBJECTIVE_NAMES]


def test_random_ids_are_registered():
    assert len(RANDOM_IDS) == 60 and set(RANDOM_IDS) <= set(lever_gym.ENV_IDS)
    for eid in RANDOM_IDS:
        spec = gym.spec(eid)
        assert spec.kwargs["layout_seeds"] == [0, 1000]  # JSON-plain
        assert spec.max_episode_steps == spec.kwargs["size"] ** 2
        assert EnvSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("eid", "kwargs"),
    [
        ("LeverGrid-Random-8x8-PathGoldHazardLever-v0", {}),
        ("LeverGrid-Random-8x8-GoldLever-v0", {"random_start": True}),
        ("LeverGrid-Random-16x16-PathGold-v0", {"layout_seeds": [7, 9]}),
        ("LeverGrid-Random-32x32-Path-v0", {"layout_seeds": [0, 1]}),
    ],
)
def test_env_contract(eid, kwargs):
    env = gym.make(eid, **kwargs)
    base = env.unwrapped
    check_env(base, skip_render_check=False)
    size = gym.spec(eid).kwargs["size"]
    lo, hi = base.layout_seeds
    seen = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs.shape == (2 * size + 1 + PRESETS[size].gold,)
        assert lo <= info["layout_seed"] < hi
        assert base.layout == Layout.generate(size, info["layout_seed"])
        assert int(base.model.space.states_from_obs(obs)) == info["state"]
        seen.add(info["layout_seed"])
        _, reward, *_, step_info = env.step(0)
        assert step_info["layout_seed"] == info["layout_seed"]
        assert reward == pytest.approx(float(base.weights @ step_info["reward_components"]))
    assert len(seen) > 1 or hi - lo == 1


def test_same_seed_same_worlds():
    env = RandomLeverGridEnv("PathGold", size=8, random_start=True)
    first = [env.reset(seed=4)[1]] + [env.reset()[1] for _ in range(5)]
    again = [env.reset(seed=4)[1]] + [env.reset()[1] for _ in range(5)]
    for a, b in zip(first, again, strict=True):
        assert a["layout_seed"] == b["layout_seed"] and a["state"] == b["state"]
    assert len({i["layout_seed"] for i in first}) > 1


def test_pickle_keeps_the_current_layout():
    env = RandomLeverGridEnv("Path", size=8)
    env.reset(seed=9)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.layout == env.layout and clone.layout_seed == env.layout_seed
    assert clone.model.layout == env.layout


@pytest.mark.parametrize(
    "layout_seeds", [[5, 5], [3, 1], [-1, 4], [0], "ab", [0.0, 3], [True, 4], [0, 2**63 + 1]]
)
def test_bad_layout_seeds_raise(layout_seeds):
    expected = r"layout_seeds must be a list of two integers \[lo, hi\)"
    with pytest.raises(ConfigError, match=expected):
        RandomLeverGridEnv("Path", size=8, layout_seeds=layout_seeds)


def test_generated_sizes_only():
    with pytest.raises(ConfigError, match=r"size must be one of \[8, 16, 32, 64\]"):
        RandomLeverGridEnv("Path", size=5)
