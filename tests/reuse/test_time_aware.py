"""The time-aware composed policy (``improve.contract="time-aware"``): it earns exactly what it
plans on the data, beats the stationary policy where stalling pays, runs through
``TimeAwareObservation`` and SB3, saves, loads and pickles to the same actions."""

from __future__ import annotations

import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeAwareObservation

import lever_gym
from lever_gym.errors import ConfigError, LibraryError, ObservationError
from lever_gym.eval.exact import exact_returns
from lever_gym.experiments.protocol import family
from lever_gym.library.store import Library, layout_model
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"
TIME_AWARE = ReuseConfig().with_options(contract="time-aware")
STALLING = [(0.19, 0.13, -0.92, 0.47), (0.02, -1.09, -1.66, -0.17), (1.22, -1.17, -0.16, -1.91)]
"""Weights where every step pays (``protocol.family``): the finite-horizon optimum wanders."""


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(DEFAULT)


def built(library: Library, weights: tuple, config: ReuseConfig | None = None):
    return LeverComposedPolicy.from_library(library, weights, layout=(8, 0), config=config)


@pytest.mark.parametrize("weights", STALLING)
def test_time_aware_policy_earns_its_plan_and_beats_the_stationary_one(library, weights):
    objective = Objective(weights)
    assert family(objective) == "stalling pays"
    model, start = layout_model(8, 0), np.array([layout_model(8, 0).start_state])
    stationary, timed = built(library, weights), built(library, weights, TIME_AWARE)
    assert timed.time_aware and not stationary.time_aware
    plan = timed.explain()["time_aware"]
    true = exact_returns(timed, model, objective, start, model.layout.n_cells)[0]
    bounds = timed.explain()["bounds"]
    assert bounds["lower"] - 1e-9 <= true <= bounds["upper"] + 1e-9
    assert true == pytest.approx(plan["start_value_after"], abs=1e-9)  # it stays in the data
    assert plan["start_value_after"] >= plan["start_value_before"] - 1e-9
    assert true > exact_returns(stationary, model, objective, start, model.layout.n_cells)[0] + 0.5


def test_goal_reaching_weights_lose_nothing(library):
    weights = (1.0, 1.0, -1.0, 0.0)
    model = layout_model(8, 0)
    start = np.array([model.start_state])
    returns = [
        exact_returns(p, model, Objective(weights), start, model.layout.n_cells)[0]
        for p in (built(library, weights), built(library, weights, TIME_AWARE))
    ]
    assert returns[1] >= returns[0] - 1e-9


def test_the_env_with_time_aware_observation_pays_the_exact_return(library):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    weights = STALLING[0]
    policy = built(library, weights, TIME_AWARE)
    env = TimeAwareObservation(
        gym.make(lever_gym.env_id(8, "PathGoldHazardLever"), layout_seed=0, weights=list(weights))
    )
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        done = terminated or truncated
    model = layout_model(8, 0)
    exact = exact_returns(
        policy, model, Objective(weights), np.array([model.start_state]), model.layout.n_cells
    )[0]
    assert total == pytest.approx(exact, abs=1e-6)
    mean, _ = evaluate_policy(policy, Monitor(env), n_eval_episodes=2)
    assert mean == pytest.approx(exact, abs=1e-4)
    with pytest.raises(ObservationError, match="elapsed steps"):
        policy(obs[:-1])  # an observation without the elapsed steps


def test_saved_and_pickled_time_aware_policy_acts_the_same(library, tmp_path):
    policy = built(library, STALLING[1], TIME_AWARE)
    model = layout_model(8, 0)
    states = np.arange(0, model.n_states, 7)
    obs = model.space.observe(states)
    batch = np.hstack([obs, (np.arange(len(states)) % 70)[:, None].astype(np.float32)])
    loaded = LeverComposedPolicy.load(policy.save(tmp_path / "p"))
    for other in (loaded, pickle.loads(pickle.dumps(policy))):
        assert other.time_aware
        np.testing.assert_array_equal(other.predict(batch), policy.predict(batch))
        np.testing.assert_array_equal(other.q_values(batch), policy.q_values(batch))
    assert loaded.explain()["time_aware"] == policy.explain()["time_aware"]


def test_a_saved_plan_that_does_not_fit_the_layout_is_refused(library, tmp_path):
    folder = built(library, STALLING[0], TIME_AWARE).save(tmp_path / "p")
    with np.load(folder / "policy.npz") as npz:
        arrays = dict(npz)
    arrays["timed_actions"] = arrays["timed_actions"][:-1]  # one row of steps left short
    np.savez_compressed(folder / "policy.npz", **arrays)
    with pytest.raises(LibraryError, match="does not match its layout"):
        LeverComposedPolicy.load(folder)


def test_contract_is_checked_and_named():
    with pytest.raises(ConfigError, match="contract"):
        ReuseConfig().with_options(contract="timed")
    assert TIME_AWARE.label.endswith("+time-aware")
    assert "+time-aware" not in ReuseConfig().label


def test_evaluate_wraps_an_env_id_for_a_time_aware_policy(library):
    from lever_gym.eval.evaluate import evaluate

    weights = STALLING[2]
    policy = built(library, weights, TIME_AWARE)
    eid = lever_gym.env_id(8, "PathGoldHazardLever")
    result = evaluate(policy, eid, 2, 0, layout_seed=0, weights=list(weights))
    model = layout_model(8, 0)
    exact = exact_returns(
        policy, model, Objective(weights), np.array([model.start_state]), model.layout.n_cells
    )[0]
    np.testing.assert_allclose(result.returns, exact, atol=1e-6)
    with pytest.raises(ConfigError, match="num_envs=1"):
        evaluate(policy, eid, 2, 0, num_envs=2, layout_seed=0, weights=list(weights))


def test_bad_elapsed_steps_batches_and_downgraded_files_are_refused(library, tmp_path):
    policy = built(library, STALLING[0], TIME_AWARE)
    obs = layout_model(8, 0).space.observe(np.array([layout_model(8, 0).start_state]))[0]
    for elapsed in (np.inf, 1e30, 2.0**63):
        with pytest.raises(ObservationError, match="elapsed steps"):
            policy(np.append(obs, np.float32(elapsed)))
    with pytest.raises(ObservationError, match="Use predict for a batch"):
        policy(np.stack([np.append(obs, 0.0)] * 2))
    folder = policy.save(tmp_path / "p")
    with np.load(folder / "policy.npz") as npz:
        arrays = dict(npz)
    arrays["timed_states"] = np.zeros(0, np.int64)  # the plan dropped, the JSON kept
    arrays["timed_actions"] = np.zeros((0, 0), np.int8)
    np.savez_compressed(folder / "policy.npz", **arrays)
    with pytest.raises(LibraryError, match="disagree on whether the policy is time-aware"):
        LeverComposedPolicy.load(folder)
