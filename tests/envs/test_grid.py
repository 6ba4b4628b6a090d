"""LeverGridEnv over every registered id: the Gymnasium contract, additivity, determinism."""

from __future__ import annotations

import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

import lever_gym
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.registration import ENTRY_POINT, VECTOR_ENTRY_POINT
from lever_gym.envs.vector import LeverGridVectorEnv
from lever_gym.errors import ConfigError, LayoutError, UnknownObjectiveError
from tests.conftest import TINY_LAYOUTS

ALL_SPECS = [
    s
    for s in gym.registry.values()
    if isinstance(s.entry_point, str) and s.entry_point.startswith("lever_gym.")
]
FIXED_SPECS = [s for s in ALL_SPECS if s.entry_point == ENTRY_POINT]
"""The ids on one layout; the random-world ids are checked in test_random_grid.py."""


def rollout(env, seed, steps=120):
    """Random actions from ``seed``; returns the list of step tuples (resetting as needed)."""
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [(obs, info)]
    for _ in range(steps):
        step = env.step(env.action_space.sample())
        out.append(step)
        if step[2] or step[3]:
            out.append(env.reset())
    return out


def test_every_id_is_registered():
    assert sorted(s.id for s in ALL_SPECS) == sorted(lever_gym.ENV_IDS)
    assert len(lever_gym.ENV_IDS) == 135
    assert len(FIXED_SPECS) == 75
    assert all(s.vector_entry_point == VECTOR_ENTRY_POINT for s in ALL_SPECS)


@pytest.mark.parametrize("spec", FIXED_SPECS, ids=[s.id for s in FIXED_SPECS])
def test_env_contract(spec):
    env = gym.make(spec.id)
    base = env.unwrapped
    check_env(base, skip_render_check=False)
    assert spec.max_episode_steps == base.layout.size**2
    w = base.weights
    assert base.objective.name == spec.kwargs["objective"]
    steps = rollout(env, seed=7)
    model = base.model
    for item in steps:
        if len(item) == 2:
            obs, info = item
            continue
        obs, reward, _terminated, _truncated, info = item
        assert reward == pytest.approx(float(w @ info["reward_components"]), abs=1e-9)
        assert info["cell"] == int(model.space.cell_of(info["state"]))
        assert env.observation_space.contains(obs)
    # observation determines the state
    for item in steps:
        obs, info = item[0], item[-1]
        assert int(model.space.states_from_obs(obs)) == info["state"]
    # same seed, same trajectory
    again = rollout(gym.make(spec.id), seed=7)
    for a, b in zip(steps, again, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, dict):
                assert x.keys() == y.keys()
                for k in x:
                    np.testing.assert_array_equal(x[k], y[k])
            else:
                np.testing.assert_array_equal(x, y)
    # pickles, and the spec round-trips through JSON
    clone = pickle.loads(pickle.dumps(base))
    assert clone.layout == base.layout and np.array_equal(clone.weights, base.weights)
    assert EnvSpec.from_json(env.spec.to_json()) == env.spec


@pytest.mark.parametrize("size", [8, 16, 32])
def test_observation_is_a_bijection_of_the_state(size):
    model = LeverGridEnv("Path", size=size).model
    for chunk in np.array_split(np.arange(model.n_states), 8):
        np.testing.assert_array_equal(
            model.space.states_from_obs(model.space.observe(chunk)), chunk
        )


def test_model_tables_match_brute_force_rules():
    env = LeverGridEnv("PathGoldHazardLever", layout=TINY_LAYOUTS["corridor"])
    m = env.model
    lay = env.layout
    s = m.start_state
    # step right twice: floor, then gold
    env.reset(seed=0)
    env.step(0)
    _, _, term, _, info = env.step(0)
    comps = info["reward_components"]
    assert comps[1] == pytest.approx(5.0 + 1.0 - 0.01)  # pick-up + one step closer + step cost
    assert int(m.space.field(info["state"], "gold")) == 0  # the only gold is gone
    assert not term and s != info["state"]
    # walking into the hazard ends the episode with the hazard penalty
    env.reset(seed=0)
    for a in (1, 1, 1, 0, 0):  # down x3 to row 3, then right onto the hazard at col 2
        _, _, term, _, info = env.step(a)
        if term:
            break
    assert term and not info["is_success"]
    assert info["cell"] in lay.hazards
    assert info["reward_components"][2] <= -100


def test_success_requires_every_weighted_goal():
    layout = TINY_LAYOUTS["open"]  # S.. / L$. / .HE
    for objective, expect in [("Path", True), ("PathGold", False), ("PathLever", False)]:
        env = LeverGridEnv(objective, layout=layout)
        env.reset(seed=0)
        for a in (0, 0, 1, 1):  # right, right, down, down: straight to the exit
            *_, term, _, info = env.step(a)
        assert term and info["is_success"] is expect, objective


def test_random_start_draws_from_the_reset_seed():
    env = LeverGridEnv("Path", size=8, random_start=True)
    starts = {env.reset(seed=s)[1]["cell"] for s in range(30)}
    assert len(starts) > 5
    assert starts <= set(env.layout.start_cells())
    assert env.reset(seed=3)[1]["cell"] == env.reset(seed=3)[1]["cell"]


def test_render_modes():
    text = gym.make("LeverGrid-8x8-Path-v0", render_mode="ansi")
    text.reset(seed=0)
    frame = text.render()
    *rows, legend = frame.splitlines()
    assert "".join(rows).count("A") == 1 and len(rows) == 8 and legend.startswith("A agent")
    rgb = gym.make("LeverGrid-8x8-Path-v0", render_mode="rgb_array")
    rgb.reset(seed=0)
    img = rgb.render()
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert (
        len(np.unique(img.reshape(-1, 3), axis=0)) >= 6
    )  # floor, wall, gold, hazard, lever, exit...


def test_make_vec_sync():
    envs = gym.make_vec("LeverGrid-8x8-PathGold-v0", num_envs=3, vectorization_mode="sync")
    obs, info = envs.reset(seed=0)
    assert obs.shape == (3, envs.single_observation_space.shape[0])
    obs, reward, _term, _trunc, info = envs.step(np.array([0, 1, 2]))
    assert reward.shape == (3,) and info["state"].shape == (3,)
    envs.close()


def test_module_prefixed_id_in_a_fresh_interpreter():
    code = (
        "import gymnasium as gym; e = gym.make('lever_gym:LeverGrid-8x8-Path-v0'); "
        "print(e.reset(seed=0)[0].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(21,)"  # 2 * 8 + 1 + 4 gold


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"objective": "PathGould"}, UnknownObjectiveError, "Did you mean 'PathGold'"),
        ({"weights": [1, 0, 0]}, UnknownObjectiveError, r"shape \(4,\).*got shape \(3,\)"),
        ({"weights": [0, 0, 0, 0]}, UnknownObjectiveError, "all zero"),
        ({"size": 12}, ConfigError, r"size must be one of \[8, 16, 32, 64\]"),
        ({"layout_seed": -3}, ConfigError, "layout_seed must be an integer"),
        ({"layout": "S.E\n.X.\n.L.", "size": None}, LayoutError, "unknown character 'X'"),
        ({"layout": TINY_LAYOUTS["open"], "size": 8}, ConfigError, "layout is 3x3 but size=8"),
        ({"render_mode": "human"}, ConfigError, "render_mode must be one of"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        LeverGridEnv(**kwargs)


def test_bad_action_raises():
    env = LeverGridEnv("Path", size=8)
    env.reset(seed=0)
    with pytest.raises(ConfigError, match=r"action must be an integer in 0..3; got 4"):
        env.step(4)


@pytest.mark.parametrize(
    ("seed", "options", "message"),
    [
        (-1, None, r"seed must be a non-negative integer \(of any size\) or None; got -1"),
        ("0", None, "seed must be"),
        (None, "start_cell", "options must be a dict"),
        (None, {"start_cel": 1}, "unknown reset option"),
        (None, {"start_cell": 1.0}, "start_cell must be a floor cell"),
        (None, {"minari_autoseed": "no"}, "minari_autoseed must be True or False"),
    ],
)
def test_bad_reset_arguments_raise_config_errors_in_every_env(seed, options, message):
    envs = [
        LeverGridEnv("Path", size=8),
        RandomLeverGridEnv("Path", size=8),
        LeverGridVectorEnv(2, "Path", size=8),
    ]
    for env in envs:
        with pytest.raises(ConfigError, match=message):
            env.reset(seed=seed, options=options)


@pytest.mark.parametrize("seed", [-1, -(2**70), 1.5, "0", True, np.float64(2.0), [3]])
def test_bad_seeds_raise_gymnasiums_error_type_as_a_config_error(seed):
    """Where gymnasium's ``np_random`` raises ``gymnasium.error.Error``, so does LeverGrid
    (a ``SeedError``, in lever_gym's family too). gymnasium takes ``True`` as seed 1;
    lever_gym refuses booleans as numbers everywhere."""
    for env in (gym.make("LeverGrid-8x8-Path-v0"), gym.make("LeverGrid-Random-8x8-Path-v0")):
        with pytest.raises(gym.error.Error, match="seed") as caught:
            env.reset(seed=seed)
        assert isinstance(caught.value, ConfigError)
    if not isinstance(seed, bool):
        with pytest.raises(gym.error.Error):
            gym.utils.seeding.np_random(seed)  # gymnasium's own refusal: the same type
    with pytest.raises(gym.error.Error) as caught:
        gym.make_vec("LeverGrid-8x8-Path-v0", num_envs=2).reset(seed=seed)
    assert isinstance(caught.value, ConfigError)


def test_minari_data_collector_records_with_its_default_seeding():
    """DataCollector draws 64-bit seeds (up to 2**64 - 1) and passes its own reset option;
    every reset must take them, and plain Minari must read the episodes back."""
    import minari

    env = minari.DataCollector(gym.make("LeverGrid-8x8-PathGold-v0"))
    env.action_space.seed(0)
    for _ in range(12):  # about half of 64-bit seeds are >= 2**63
        env.reset()
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    env.reset(options={"minari_autoseed": False})  # Minari's opt-out reaches the env too
    env.step(0)
    env.create_dataset("test/collected-v0", algorithm_name="random", author="lever_gym tests")
    data = minari.load_dataset("test/collected-v0")
    assert data.total_episodes == 13
    episodes = list(data.iterate_episodes())
    assert all(e.observations.shape == (len(e.actions) + 1, 21) for e in episodes)
    seeds = [e["seed"] for e in data.storage.get_episode_metadata(range(12))]
    assert all(isinstance(s, int | np.integer) and 0 <= s < 2**64 for s in seeds)
    assert data.recover_environment().unwrapped.objective.name == "PathGold"


@pytest.mark.parametrize("seed", [2**63, 2**64 - 1, 2**64, 10**40])
def test_seeds_of_any_size_are_accepted_and_reproducible(seed):
    for env in (
        LeverGridEnv("Path", size=8, random_start=True),
        RandomLeverGridEnv("Path", size=8),
    ):
        first = env.reset(seed=seed)[1]["cell"], int(env.np_random.integers(2**62))
        again = env.reset(seed=seed)[1]["cell"], int(env.np_random.integers(2**62))
        assert first == again
        assert env.np_random_seed == seed
    envs = LeverGridVectorEnv(2, "Path", size=8, random_start=True)
    envs.reset(seed=seed)
    assert envs.np_random_seed == (seed, seed + 1)
    sync = gym.make_vec("LeverGrid-8x8-Path-v0", 2, vectorization_mode="sync", random_start=True)
    sync.reset(seed=seed)
    assert sync.np_random_seed == envs.np_random_seed


@pytest.mark.parametrize("weights", [None, [1.0, -0.7, -1.9, 0.3], [0.13, 2.0, 0.5, -1.1]])
def test_step_rewards_are_the_models_to_the_bit(weights):
    """The step's plain-float reward equals ``model.reward`` (numpy, ``objective.weighted``)
    bit for bit along a seeded random walk, resets included."""
    kwargs = {} if weights is None else {"weights": weights}
    env = LeverGridEnv("PathGoldHazardLever", size=16, layout_seed=0, random_start=True, **kwargs)
    table = env.model.reward(env.objective)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for a in rng.integers(0, 4, 3000).tolist():
        s = env.state
        _, reward, terminated, _, info = env.step(a)
        assert type(reward) is float
        assert np.float64(reward).tobytes() == table[s, a].tobytes()
        np.testing.assert_array_equal(info["reward_components"], env.model.components[s, a])
        if terminated:
            env.reset()
