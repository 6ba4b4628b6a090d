"""LeverGridVectorEnv against ``gym.make_vec(..., vectorization_mode="sync")``: same results."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_match import check_environments_match
from hypothesis import given, settings
from hypothesis import strategies as st

import lever_gym
from lever_gym.envs.vector import LeverGridVectorEnv
from lever_gym.errors import ConfigError, LayoutError


def make_pair(eid: str, n: int, **kwargs):
    """The sync reference and the native env (make_vec's default mode) of ``eid``."""
    sync = gym.make_vec(eid, num_envs=n, vectorization_mode="sync", **kwargs)
    native = gym.make_vec(eid, num_envs=n, **kwargs)
    assert isinstance(native, LeverGridVectorEnv)
    return sync, native


def assert_same(a, b, where: str) -> None:
    """Same structure, dtypes and values (exactly) of two reset or step results."""
    assert type(a) is type(b), where
    if isinstance(a, tuple):
        assert len(a) == len(b), where
        for x, y in zip(a, b, strict=True):
            assert_same(x, y, where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}, info[{k!r}]")
    else:
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype} vs {b.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=where)


def run_both(sync, native, seed: int, steps: int, resets: dict[int, dict] | None = None):
    """Step both with the same seeded random actions; explicit ``resets`` at given steps.

    Returns the number of terminations and truncations seen."""
    assert_same(sync.reset(seed=seed), native.reset(seed=seed), "reset")
    rng = np.random.default_rng(seed)
    ends = np.zeros(2, dtype=int)
    for t in range(steps):
        if resets and t in resets:
            assert_same(sync.reset(**resets[t]), native.reset(**resets[t]), f"reset at {t}")
        actions = rng.integers(0, 4, sync.num_envs)
        a, b = sync.step(actions), native.step(actions)
        assert_same(a, b, f"step {t}")
        ends += [a[2].sum(), a[3].sum()]
    return ends


CASES = [
    ("LeverGrid-8x8-PathGoldHazardLever-v0", {}),
    ("LeverGrid-8x8-PathGold-v0", {"random_start": True}),
    ("LeverGrid-8x8-Path-v0", {"max_episode_steps": 12}),
    ("LeverGrid-16x16-PathLever-v0", {"weights": [0.5, -1.0, 2.0, 0.25], "random_start": True}),
    ("LeverGrid-16x16-Detour-PathGoldHazardLever-v0", {"max_episode_steps": 25}),
    ("LeverGrid-Random-8x8-PathGoldLever-v0", {}),
    ("LeverGrid-Random-8x8-GoldHazard-v0", {"random_start": True, "max_episode_steps": 20}),
    ("LeverGrid-Random-16x16-PathHazard-v0", {"layout_seeds": [0, 3], "max_episode_steps": 30}),
]


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize(("eid", "kwargs"), CASES, ids=[f"{e}-{k}" for e, k in CASES])
def test_matches_sync_vector_env(eid, kwargs, n):
    sync, native = make_pair(eid, n, **kwargs)
    resets = {150: {"seed": [11 + i if i % 2 else None for i in range(n)]}, 220: {}}
    if "Random" not in eid:  # a start cell valid on every env's layout
        start = sync.envs[0].unwrapped.layout.start_cells()[2]
        resets[80] = {"options": {"start_cell": start}}
    terminations, truncations = run_both(sync, native, seed=3 * n, steps=300, resets=resets)
    assert terminations + truncations >= 3  # autoresets were crossed
    if "max_episode_steps" in kwargs:
        assert truncations >= 3
    assert native.np_random_seed == sync.np_random_seed


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.sampled_from([1, 3, 8]),
    random_start=st.booleans(),
    weights=st.lists(st.sampled_from([0.0, 1.0, -0.5, 2.0]), min_size=4, max_size=4).filter(any),
    limit=st.integers(1, 64),
    world=st.sampled_from(["LeverGrid-8x8-Path-v0", "LeverGrid-Random-8x8-Path-v0"]),
)
def test_matches_sync_for_any_seed_and_objective(seed, n, random_start, weights, limit, world):
    kwargs = {"random_start": random_start, "weights": weights, "max_episode_steps": limit}
    run_both(*make_pair(world, n, **kwargs), seed=seed, steps=80)


def test_gymnasium_environments_match_check():
    sync, native = make_pair("LeverGrid-8x8-PathGoldHazardLever-v0", 1, random_start=True)
    check_environments_match(sync, native, num_steps=300, seed=5, skip_render=True)


def test_make_vec_picks_the_native_env_by_default():
    for eid in ("LeverGrid-8x8-Path-v0", "LeverGrid-Random-16x16-Gold-v0"):
        envs = gym.make_vec(eid, num_envs=4)
        assert type(envs) is LeverGridVectorEnv and envs.num_envs == 4
        assert envs.spec.kwargs["vectorization_mode"] == "vector_entry_point"
        assert envs.max_episode_steps == gym.spec(eid).max_episode_steps
    sync = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=2, vectorization_mode="sync")
    assert type(sync) is gym.vector.SyncVectorEnv
    assert lever_gym.LeverGridVectorEnv is LeverGridVectorEnv


@pytest.mark.parametrize("eid", ["LeverGrid-16x16-PathGold-v0", "LeverGrid-Random-8x8-Path-v0"])
def test_spaces_and_metadata_match_sync(eid):
    sync, native = make_pair(eid, 5)
    assert native.single_observation_space == sync.single_observation_space
    assert native.observation_space == sync.observation_space
    assert native.single_action_space == sync.single_action_space
    assert native.action_space == sync.action_space == gym.spaces.MultiDiscrete([4] * 5)
    assert native.metadata == {**sync.metadata, "autoreset_mode": "NextStep"}
    obs, _ = native.reset(seed=0)
    assert native.observation_space.contains(obs)
    native.action_space.seed(0)
    native.step(native.action_space.sample())


@pytest.mark.parametrize("mode", ["ansi", "rgb_array", None])
def test_render_matches_sync(mode):
    sync, native = make_pair("LeverGrid-8x8-PathGold-v0", 3, render_mode=mode)
    sync.reset(seed=1)
    native.reset(seed=1)
    for actions in ([0, 1, 2], [1, 1, 3]):
        sync.step(np.array(actions))
        native.step(np.array(actions))
        frames, expected = native.render(), sync.render()
        assert len(frames) == len(expected) == 3
        for f, e in zip(frames, expected, strict=True):
            assert (f is None and e is None) or np.array_equal(f, e)


def test_outputs_are_fresh_arrays():
    envs = gym.make_vec("LeverGrid-8x8-PathGold-v0", num_envs=4)
    envs.reset(seed=0)
    first = envs.step(np.zeros(4, dtype=np.int64))
    kept = [x.copy() for x in first[:4]] + [{k: v.copy() for k, v in first[4].items()}]
    for _ in range(5):
        envs.step(np.ones(4, dtype=np.int32))
    assert_same(tuple(first), tuple(kept), "earlier step results changed")


@pytest.mark.parametrize("eid", ["LeverGrid-8x8-Path-v0", "LeverGrid-Random-8x8-Path-v0"])
def test_step_before_reset_raises_reset_needed_as_sync_does(eid):
    sync, native = make_pair(eid, 2)
    for envs in (sync, native):
        with pytest.raises(gym.error.ResetNeeded, match=r"step\(\) before .*reset\(\)"):
            envs.step(np.array([1, 1]))
    assert isinstance(_raised(native.step, np.array([1, 1])), lever_gym.LeverGymError)
    native.reset(seed=0)
    native.step(np.array([1, 1]))  # and fine after a reset


def _raised(fn, *args):
    try:
        fn(*args)
    except Exception as e:
        return e
    raise AssertionError(f"{fn} raised nothing")


ATTRIBUTES = ["state", "layout", "objective", "random_start", "shaping", "render_mode"]
ATTRIBUTES += ["tile_size", "action_space", "observation_space", "metadata", "np_random_seed"]
ATTRIBUTES += ["_max_episode_steps"]


@pytest.mark.parametrize(
    ("eid", "kwargs"),
    [
        ("LeverGrid-8x8-PathGold-v0", {"random_start": True, "render_mode": "ansi"}),
        ("LeverGrid-Random-8x8-PathGold-v0", {"max_episode_steps": 5}),
    ],
)
def test_get_attr_and_call_match_sync(eid, kwargs):
    sync, native = make_pair(eid, 3, **kwargs)
    run_both(sync, native, seed=4, steps=17)
    names = ATTRIBUTES + (["layout_seed", "layout_seeds"] if "Random" in eid else [])
    for name in names:
        a, b = sync.get_attr(name), native.get_attr(name)
        assert type(a) is type(b) is tuple and len(b) == 3, name
        assert [type(x) for x in a] == [type(x) for x in b], name
        assert a == b, name
        assert native.call(name) == a, name
    weights = native.get_attr("weights")
    assert isinstance(weights, tuple) and all(np.array_equal(w, native.weights) for w in weights)
    assert weights[0] is not weights[1]  # one array per env, as sub-envs hold them
    states = [g.bit_generator.state for g in sync.get_attr("np_random")]
    assert [g.bit_generator.state for g in native.get_attr("np_random")] == states
    assert native.call("render") == sync.call("render") == native.render()
    assert native.get_attr("model")[0] is native.get_attr("model")[0]


def test_set_attr_matches_sync():
    sync, native = make_pair("LeverGrid-8x8-Path-v0", 3)
    for envs in (sync, native):
        envs.set_attr("curriculum", [1, 2, 3])
        assert envs.get_attr("curriculum") == (1, 2, 3)
        envs.set_attr("curriculum", "same")
        assert envs.get_attr("curriculum") == ("same",) * 3
        assert envs.set_attr("scale", np.array([4, 5, 6])) is None  # an array goes to every env
        assert all(np.array_equal(x, [4, 5, 6]) for x in envs.get_attr("scale"))
        envs.set_attr("hook", lambda k=2: k * 10)
        assert envs.call("hook", k=3) == (30, 30, 30)
        with pytest.raises(ValueError, match="length equal to the number of environments"):
            envs.set_attr("curriculum", [1, 2])
        with pytest.raises(AttributeError, match="no_such_thing"):
            envs.get_attr("no_such_thing")
        generators = [np.random.default_rng(i) for i in range(3)]
        envs.set_attr("np_random", generators)
        assert envs.get_attr("np_random") == tuple(generators)
        assert envs.np_random == tuple(generators)
    sync.reset(options={"start_cell": 9})
    native.reset(options={"start_cell": 9})
    run_both(sync, native, seed=1, steps=30)


@pytest.mark.parametrize("name", ["weights", "objective", "state", "render_mode", "layout"])
def test_set_attr_refuses_what_the_native_env_shares(name):
    envs = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=2)
    envs.reset(seed=0)
    before = envs.get_attr(name)
    with pytest.raises(ConfigError, match=rf"set_attr\({name!r}\).*vectorization_mode='sync'"):
        envs.set_attr(name, [None, None])
    assert str(envs.get_attr(name)) == str(before)


@pytest.mark.parametrize("name", ["reset", "step", "close"])
def test_call_refuses_the_methods_that_would_run_one_env_alone(name):
    envs = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=2)
    with pytest.raises(ConfigError, match=rf"call\({name!r}\).*envs\.{name}\("):
        envs.call(name)


def test_autoreset_is_next_step_declared_and_documented():
    """The env declares next-step autoreset as gymnasium 1.1's ``AutoresetMode.NEXT_STEP``
    spells it (its value on 1.0, which has no enum), resets on the step after an episode
    ends, and the docstring says so."""
    import gymnasium.vector

    native = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=1, max_episode_steps=2)
    mode = getattr(gymnasium.vector, "AutoresetMode", None)
    assert native.metadata["autoreset_mode"] == ("NextStep" if mode is None else mode.NEXT_STEP)
    assert "next-step autoreset" in LeverGridVectorEnv.__doc__
    native.reset(seed=0)
    native.step(np.array([0]))
    assert native.step(np.array([0]))[3][0]  # truncated at the limit
    obs, reward, term, trunc, _ = native.step(np.array([0]))
    assert reward[0] == 0 and not term[0] and not trunc[0]
    np.testing.assert_array_equal(obs, native.reset(seed=0)[0])


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([0, 1, 4], r"integers in 0..3; got 4 for env 2"),
        ([-1, 0, 0], r"got -1 for env 0"),
        (np.array([0, 1, 255], dtype=np.uint8), r"got 255 for env 2"),
        ([0, 1], r"shape \(3,\).*got shape \(2,\)"),
        ([[0, 1, 2]], r"got shape \(1, 3\)"),
        ([0.0, 1.0, 2.0], r"integer array.*dtype float64"),
        (2, r"got shape \(\)"),
    ],
)
def test_bad_actions_raise_config_error(actions, message):
    envs = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=3)
    envs.reset(seed=0)
    state = envs._states.copy()
    with pytest.raises(ConfigError, match=message):
        envs.step(actions)
    np.testing.assert_array_equal(envs._states, state)  # nothing moved


@pytest.mark.parametrize("obs_mode", ["state", "view", "grid"])
@pytest.mark.parametrize(
    "eid", ["LeverGrid-8x8-PathGoldHazardLever-v0", "LeverGrid-Random-8x8-Path-v0"]
)
def test_uint8_and_in_place_observations_are_the_float32_ones(eid, obs_mode):
    """``obs_dtype="uint8"`` gives the float32 observations' values in a uint8 Box, and
    ``copy=False`` writes them into one buffer (the same array at every call); every other
    output is unchanged."""
    kwargs = {"num_envs": 5, "obs_mode": obs_mode, "random_start": True}
    plain = gym.make_vec(eid, **kwargs)
    small = gym.make_vec(eid, obs_dtype="uint8", **kwargs)
    kept = gym.make_vec(eid, obs_dtype="uint8", copy=False, **kwargs)
    space = small.single_observation_space
    assert space.dtype == np.uint8 and space.shape == plain.single_observation_space.shape
    assert small.observation_space.dtype == np.uint8
    results = [envs.reset(seed=3) for envs in (plain, small, kept)]
    buffer = results[2][0]
    rng = np.random.default_rng(0)
    for t in range(60):
        want, got, inplace = results
        assert got[0].dtype == np.uint8 and space.contains(got[0][0])
        np.testing.assert_array_equal(got[0].astype(np.float32), want[0])
        assert inplace[0] is buffer and np.array_equal(inplace[0], got[0])
        assert_same(got[1:], want[1:], f"step {t}")
        assert_same(inplace[1:], want[1:], f"step {t}")
        actions = rng.integers(0, 4, 5)
        results = [envs.step(actions) for envs in (plain, small, kept)]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"obs_dtype": "float16"}, ConfigError, r"obs_dtype must be one of"),
        ({"copy": "yes"}, ConfigError, r"copy must be"),
        ({"num_envs": 0}, ConfigError, "num_envs must be a positive integer"),
        ({"max_episode_steps": 0}, ConfigError, "max_episode_steps must be a positive integer"),
        ({"layout_seeds": [0, 5], "layout_seed": 3}, ConfigError, "excludes layout and"),
        ({"layout_seeds": [5, 5]}, ConfigError, r"layout_seeds must be a list of two integers"),
        ({"size": 12}, ConfigError, r"size must be one of \[8, 16, 32, 64\]"),
        ({"layout": "S.E\n.X.\n.L."}, LayoutError, "unknown character 'X'"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        LeverGridVectorEnv(**{"num_envs": 2, "objective": "Path", **kwargs})


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ([1, 2], r"list of 3 seeds"),
        (-1, r"seed must be a non-negative integer"),
        ([0, -2, 1], r"seed\[1\] must be a non-negative integer"),
        ("1", r"seed must be None, an integer"),
    ],
)
def test_bad_seeds_raise_config_error(seed, message):
    envs = LeverGridVectorEnv(3, "Path", size=8)
    with pytest.raises(ConfigError, match=message):
        envs.reset(seed=seed)


def test_ascii_layout_and_its_episode_limit():
    layout = "S.$.E\n.#.#.\n.L...\n..H..\n....."
    envs = LeverGridVectorEnv(2, "PathGold", layout=layout)
    assert envs.max_episode_steps == 25 and envs.single_observation_space.shape == (12,)
    sync = gym.vector.SyncVectorEnv(
        [
            lambda: gym.make(
                "LeverGrid-8x8-PathGold-v0", layout=layout, size=None, max_episode_steps=25
            )
        ]
        * 2
    )
    assert run_both(sync, envs, seed=0, steps=120).sum() >= 3


def test_random_worlds_keep_only_the_layouts_in_use():
    envs = gym.make_vec("LeverGrid-Random-8x8-Path-v0", num_envs=3, max_episode_steps=4)
    envs.reset(seed=0)
    seen = set()
    for _ in range(60):
        info = envs.step(np.zeros(3, dtype=np.int64))[4]
        seen |= set(info["layout_seed"].tolist())
        assert set(envs._in_use) == set(info["layout_seed"].tolist())
    assert len(seen) > 10
