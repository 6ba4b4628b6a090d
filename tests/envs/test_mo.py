"""Vector rewards in MO-Gymnasium's conventions, against the real mo-gymnasium package."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from lever_gym.envs import mo
from lever_gym.errors import ConfigError
from lever_gym.objective import weighted
from tests.envs.test_vector import assert_same


def import_mo_gymnasium():
    """mo-gymnasium, as installed by the dev extra (1.0.0, the one release that installs
    beside gymnasium 1.0.0 and numpy 2). It imports ``gymnasium.wrappers.normalize``, a module
    gymnasium 1.0 renamed ``gymnasium.wrappers.utils``; only when that is why the import
    fails, the old name is aliased to the new one (no code of either package is replaced)."""
    try:
        import mo_gymnasium
    except ModuleNotFoundError as e:
        if e.name != "gymnasium.wrappers.normalize":
            raise
        import gymnasium.wrappers.utils

        sys.modules["gymnasium.wrappers.normalize"] = gymnasium.wrappers.utils
        import mo_gymnasium
    return mo_gymnasium


EXACT = [
    ("LeverGrid-8x8-PathGoldHazardLever-v0", {"random_start": True}),
    ("LeverGrid-16x16-PathGold-v0", {}),
    ("LeverGrid-8x8-HazardLever-v0", {"weights": [0.5, -2.0, 0.25, 4.0]}),  # powers of two
    ("LeverGrid-Random-8x8-PathGoldLever-v0", {"random_start": True}),
]
GENERAL = ("LeverGrid-8x8-PathGold-v0", {"weights": [0.3, -1.7, 1 / 3, 0.1]})


def episodes(env, seed: int, steps: int):
    """``steps`` seeded random steps of ``env``, resetting as episodes end."""
    rng = np.random.default_rng(seed)
    out = [env.reset(seed=seed)]
    for _ in range(steps):
        out.append(env.step(int(rng.integers(4))))
        if out[-1][2] or out[-1][3]:
            out.append(env.reset())
    return out


@pytest.mark.parametrize(("eid", "kwargs"), [*EXACT, GENERAL], ids=lambda x: str(x))
def test_linear_reward_round_trips_to_the_scalar_reward(eid, kwargs):
    mo_gym = import_mo_gymnasium()
    scalar = episodes(gym.make(eid, **kwargs), seed=1, steps=300)
    vector = episodes(mo.make(eid, **kwargs), seed=1, steps=300)
    env = mo.make(eid, **kwargs)
    w = env.reset(seed=1)[1]["reward_weights"]
    linear = episodes(mo_gym.LinearReward(env, weight=w), seed=1, steps=300)
    exact = (eid, kwargs) != GENERAL
    space = env.unwrapped.reward_space
    assert space is env.reward_space and space.shape == (4,) and space.dtype == np.float64
    assert np.isfinite(space.low).all() == ("Random" not in eid)
    ends = 0
    for s, v, lin in zip(scalar, vector, linear, strict=True):
        np.testing.assert_array_equal(s[0], v[0])
        np.testing.assert_array_equal(v[-1]["reward_weights"], w)
        if len(s) == 2:  # a reset
            continue
        assert s[2:4] == v[2:4] == lin[2:4]
        ends += s[2] or s[3]
        assert v[1].dtype == np.float64 and v[1].shape == (4,) and space.contains(v[1])
        np.testing.assert_array_equal(v[1], s[-1]["reward_components"])
        assert weighted(v[1], v[-1]["reward_weights"]) == s[1]  # bit for bit
        np.testing.assert_array_equal(lin[-1]["vector_reward"], v[1])
        if exact:
            assert lin[1] == s[1]
        else:
            assert lin[1] == pytest.approx(s[1], rel=1e-14, abs=1e-12)
    assert ends >= 2


def test_general_weights_differ_from_np_dot_only_in_the_last_bits():
    """Why the round trip is exact only where products are exact: numpy's dot may fuse the
    multiply and add, lever_gym sums the products left to right (``weighted``)."""
    model = gym.make("LeverGrid-16x16-PathGoldHazardLever-v0").unwrapped.model
    c = model.components.reshape(-1, 4)[::13]
    w = np.array([0.3, -1.7, 1 / 3, 0.1])
    ours, dots = weighted(c, w), np.array([np.dot(x, w) for x in c])
    scale = np.abs(c * w).sum(axis=1)
    assert (np.abs(ours - dots) <= 4 * np.spacing(np.maximum(scale, 1e-300))).all()


@pytest.mark.parametrize(("eid", "kwargs"), EXACT, ids=lambda x: str(x))
def test_native_vector_env_matches_mo_sync_vector_env(eid, kwargs):
    mo_gym = import_mo_gymnasium()
    n = 3
    sync = mo_gym.MOSyncVectorEnv([lambda: mo.make(eid, **kwargs)] * n)
    native = mo.make_vec(eid, num_envs=n, **kwargs)
    assert isinstance(native, mo.MOLeverGridVectorEnv)
    assert native.reward_space == sync.reward_space
    assert_same(sync.reset(seed=2), native.reset(seed=2), "reset")
    rng = np.random.default_rng(2)
    for t in range(200):
        actions = rng.integers(0, 4, n)
        a, b = sync.step(actions), native.step(actions)
        assert_same(a, b, f"step {t}")
        assert b[1].shape == (n, 4) and b[1].dtype == np.float64
        assert b[4]["reward_weights"].shape == (n, 4)


@pytest.mark.parametrize(("eid", "kwargs"), EXACT[:3], ids=lambda x: str(x))
def test_linear_reward_in_a_vector_env_gives_the_native_scalar_rewards(eid, kwargs):
    mo_gym = import_mo_gymnasium()
    n = 4
    w = gym.make(eid, **kwargs).unwrapped.weights
    linear = gym.vector.SyncVectorEnv([lambda: mo_gym.LinearReward(mo.make(eid, **kwargs), w)] * n)
    scalar = gym.make_vec(eid, num_envs=n, **kwargs)
    vector = mo.make_vec(eid, num_envs=n, **kwargs)
    for envs in (linear, scalar, vector):
        envs.reset(seed=5)
    rng = np.random.default_rng(5)
    for _ in range(150):
        actions = rng.integers(0, 4, n)
        lin, sca, vec = linear.step(actions), scalar.step(actions), vector.step(actions)
        np.testing.assert_array_equal(lin[1], sca[1])
        np.testing.assert_array_equal(weighted(vec[1], vec[4]["reward_weights"][0]), sca[1])


def test_reward_space_bounds_are_the_layouts_tables():
    env = mo.make("LeverGrid-8x8-PathGoldHazardLever-v0", shaping=False)
    flat = env.unwrapped.model.components.reshape(-1, 4)
    np.testing.assert_array_equal(env.reward_space.low, flat.min(axis=0))
    np.testing.assert_array_equal(env.reward_space.high, flat.max(axis=0))
    assert mo.make_vec("LeverGrid-Random-8x8-Path-v0", 2).reward_space.is_bounded() is False


@pytest.mark.parametrize("eid", ["CartPole-v1", "LeverGrid-8x8-PathGld-v0", 3, None])
def test_only_lever_grid_ids_are_made(eid):
    with pytest.raises(ConfigError, match="expected a registered LeverGrid id"):
        mo.make(eid)
    with pytest.raises(ConfigError, match="expected a registered LeverGrid id"):
        mo.make_vec(eid, 2)


def test_make_vec_refuses_a_vectorization_mode():
    with pytest.raises(ConfigError, match="MOSyncVectorEnv"):
        mo.make_vec("LeverGrid-8x8-Path-v0", 2, vectorization_mode="sync")
