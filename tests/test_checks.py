"""The one checked path for numbers: every validator refuses what is no number of its kind
(booleans, complex, numpy time types, non-finite, out of range) with the error family, and
never lets a raw ``OverflowError``, ``TypeError`` or numpy ``ValueError`` out."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

import lever_gym.checks as checks
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.vector import LeverGridVectorEnv
from lever_gym.errors import ConfigError, LeverGymError, UnknownObjectiveError
from lever_gym.objective import Objective

NOT_NUMBERS = [
    True,
    np.True_,
    1j,
    np.complex128(1),
    np.timedelta64(1),
    np.timedelta64(1, "s"),
    np.datetime64("2020-01-01"),
    "1",
    None,
    [1],
    np.array(1.0),
    np.array([1]),
]
NOT_FINITE = [float("nan"), float("inf"), -np.inf, np.float32("nan")]
HUGE = [10**400, -(10**400)]


@pytest.mark.parametrize("value", NOT_NUMBERS + NOT_FINITE + HUGE, ids=lambda x: repr(x)[:40])
def test_real_refuses_everything_but_a_finite_real_in_range(value):
    with pytest.raises(ConfigError, match="must be a number in") as caught:
        checks.real(value, "alpha", 0.0, 1.0)
    assert len(str(caught.value)) < 300  # a 400-digit integer is shown shortened
    with pytest.raises(ConfigError):
        checks.gamma(value)


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25), np.int8(1), np.uint64(0)])
def test_real_takes_real_numbers(value):
    assert checks.real(value, "alpha", 0.0, 1.0) == float(value)
    assert type(checks.real(value, "alpha", 0.0, 1.0)) is float


@pytest.mark.parametrize(
    "value", [*NOT_NUMBERS, *NOT_FINITE, 1.0, 2.5, np.float64(3)], ids=lambda x: repr(x)[:40]
)
def test_integer_checks_refuse_everything_but_integers(value):
    for check in (
        lambda v: checks.positive_int(v, "n"),
        lambda v: checks.non_negative_int(v, "n"),
        lambda v: checks.int_in(v, "n", 0, 10),
        lambda v: checks.seed(v),
        lambda v: checks.reset_seed(v),
    ):
        with pytest.raises(ConfigError):
            check(value)


def test_integer_checks_take_huge_integers_only_where_in_range():
    assert checks.positive_int(10**400, "n") == 10**400
    assert checks.reset_seed(10**400) == 10**400
    for check in (lambda v: checks.seed(v), lambda v: checks.int_in(v, "n", 0, 10)):
        with pytest.raises(ConfigError):
            check(10**400)


@pytest.mark.parametrize(
    "weights",
    [
        [[1, 0], [0, 1]],
        [[1, 0, 0, 0]],
        [1, [0], 0, 0],
        np.ones((1, 4)),
        [10**400, 0, 0, 0],
        [np.timedelta64(1), 0, 0, 0],
        np.array([1, 0, 0, 0], dtype="m8[s]"),
        [np.datetime64("2020-01-01"), 1, 0, 0],
        [1j, 0, 0, 0],
        [np.complex128(1), 0, 0, 0],
        np.array([1, 0, 0, 0], dtype=complex),
        [True, 0, 0, 0],
        [1, np.nan, 0, 0],
        [1, 0, 0, 1e7],
        "1000",
        {1: 1},
        4,
    ],
    ids=lambda x: repr(x)[:40],
)
def test_weights_refuse_what_is_not_a_flat_vector_of_real_numbers(weights):
    with pytest.raises(UnknownObjectiveError, match="weights"):
        Objective(weights)
    with pytest.raises(UnknownObjectiveError, match="weights"):
        LeverGridEnv("Path", size=8, weights=weights)


def test_weights_take_numbers_of_every_real_type():
    w = Objective([np.int8(1), np.float32(0.5), 2, np.uint16(0)]).weights
    assert w == (1.0, 0.5, 2.0, 0.0) and all(type(x) is float for x in w)
    assert Objective(np.array([1, 0, 0, 2], dtype=np.int32)).weights == (1.0, 0.0, 0.0, 2.0)


@pytest.mark.parametrize(
    "action",
    [np.timedelta64(1), np.datetime64("2020-01-01"), np.array(np.timedelta64(1)), np.True_, 1j],
    ids=lambda x: repr(x)[:40],
)
def test_step_refuses_time_values_and_booleans(action):
    for env in (LeverGridEnv("Path", size=8), gym.make("LeverGrid-8x8-Path-v0")):
        env.reset(seed=0)
        before = env.unwrapped.state
        with pytest.raises(ConfigError, match="action must be an integer"):
            env.step(action)
        assert env.unwrapped.state == before


@pytest.mark.parametrize(
    "actions",
    [
        [0, 1, True],
        (0, np.True_, 1),
        [0, 1, np.timedelta64(1)],
        np.array([0, 1, 1], dtype="m8[s]"),
        np.array([0, 1, 10**3], dtype=object),
        [0, 1, 10**400],
    ],
    ids=lambda x: repr(x)[:40],
)
def test_vector_step_refuses_booleans_and_time_values(actions):
    envs = gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=3)
    envs.reset(seed=0)
    before = envs.get_attr("state")
    with pytest.raises(ConfigError, match="actions must be"):
        envs.step(actions)
    assert envs.get_attr("state") == before


@pytest.mark.parametrize(
    "mode",
    [np.array(["ansi"]), np.array("ansi"), ["ansi"], b"ansi", 1, True],
    ids=lambda x: repr(x)[:40],
)
def test_render_mode_must_be_one_of_the_names(mode):
    for make in (
        lambda: LeverGridEnv("Path", size=8, render_mode=mode),
        lambda: RandomLeverGridEnv("Path", size=8, render_mode=mode),
        lambda: LeverGridVectorEnv(2, "Path", size=8, render_mode=mode),
    ):
        with pytest.raises(ConfigError, match="render_mode must be one of"):
            make()


def test_render_mode_is_stored_as_a_plain_string():
    env = LeverGridEnv("Path", size=8, render_mode=np.str_("ansi"))
    assert type(env.render_mode) is str and env.render() is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": np.timedelta64(8)}, "size must be one of"),
        ({"layout_seed": np.timedelta64(3)}, "layout_seed must be an integer"),
        ({"tile_size": np.timedelta64(8)}, "tile_size must be an integer"),
        ({"tile_size": 10**400}, "tile_size must be an integer"),
        ({"layout_seed": 10**400}, "layout_seed must be an integer"),
    ],
    ids=lambda x: repr(x)[:40],
)
def test_env_constructors_check_every_number(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LeverGridEnv("Path", **{"size": 8, **kwargs})


@pytest.mark.parametrize(
    "layout_seeds",
    [[np.timedelta64(0), 4], [0, np.timedelta64(4)], [0, 10**400]],
    ids=lambda x: repr(x)[:40],
)
def test_random_worlds_check_their_layout_seeds(layout_seeds):
    with pytest.raises(ConfigError, match="layout_seeds must be"):
        RandomLeverGridEnv("Path", size=8, layout_seeds=layout_seeds)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_envs": 10**400},
        {"num_envs": np.timedelta64(2)},
        {"num_envs": 2.0},
        {"max_episode_steps": 10**400},
        {"max_episode_steps": np.timedelta64(5)},
    ],
    ids=lambda x: repr(x)[:40],
)
def test_vector_env_checks_its_counts(kwargs):
    with pytest.raises(ConfigError, match=r"must be|num_envs=2\^1328 \(or more\) would take"):
        LeverGridVectorEnv(**{"num_envs": 2, "objective": "Path", "size": 8, **kwargs})


def test_make_vec_of_a_billion_envs_is_refused_before_allocating():
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"num_envs=1,000,000,000 .* about [\d,]+ GiB") as e:
        gym.make_vec("LeverGrid-16x16-PathGold-v0", num_envs=10**9)
    assert time.perf_counter() - start < 2.0
    assert "LEVER_GYM_MAX_VECTOR_BYTES" in str(e.value)
    assert isinstance(e.value, LeverGymError)


def test_random_worlds_count_the_tables_of_the_layouts_in_use():
    """The layouts in use (one per env at most) and those ``model_for`` keeps after."""
    with pytest.raises(ConfigError, match=r"108 layouts' tables kept .* narrower layout_seeds"):
        gym.make_vec("LeverGrid-Random-32x32-Path-v0", num_envs=100)
    envs = gym.make_vec("LeverGrid-Random-32x32-Path-v0", num_envs=100, layout_seeds=[0, 3])
    assert envs.num_envs == 100  # three layouts at most


def test_the_vector_memory_limit_is_set_by_its_variable(monkeypatch):
    monkeypatch.setenv("LEVER_GYM_MAX_VECTOR_BYTES", str(100_000))
    with pytest.raises(ConfigError, match=r"num_envs=1,000 would take .* limit of 0\.0 GiB"):
        LeverGridVectorEnv(1000, "Path", size=8)
    assert LeverGridVectorEnv(10, "Path", size=8).num_envs == 10
    monkeypatch.setenv("LEVER_GYM_MAX_VECTOR_BYTES", "lots")
    with pytest.raises(ConfigError, match="LEVER_GYM_MAX_VECTOR_BYTES must be a positive number"):
        LeverGridVectorEnv(10, "Path", size=8)


@pytest.mark.parametrize("eid", ["LeverGrid-8x8-Path-v0", "LeverGrid-16x16-PathGold-v0"])
def test_the_memory_estimate_bounds_what_the_vector_env_allocates(eid):
    import tracemalloc

    from lever_gym.envs.vector import COMPILED_DRAWS_FROM
    from lever_gym.envs.vector_checks import vector_bytes

    n = COMPILED_DRAWS_FROM  # warm: compiled kernels loaded, random starts drawn compiled
    warm = gym.make_vec(eid, num_envs=n, random_start=True, max_episode_steps=1)
    warm.reset(seed=0)
    for _ in range(2):  # the time limit, then the autoreset's random starts
        warm.step(np.zeros(n, dtype=np.int64))
    n = 5000
    tracemalloc.start()
    envs = gym.make_vec(eid, num_envs=n, random_start=True)
    kept = [envs.reset(seed=0), envs.step(np.zeros(n, dtype=np.int64))]
    kept.append(envs.step(np.ones(n, dtype=np.int64)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = vector_bytes(n, envs.single_observation_space.shape[0], 4)
    assert 0.5 * estimate < peak <= estimate
