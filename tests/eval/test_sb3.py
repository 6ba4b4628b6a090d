"""Stable-Baselines3 both ways, against the real package: its evaluate_policy runs lever_gym
policies, and lever_gym.evaluate runs its models."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import lever_gym
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.neural_pipeline import compose_neural


def rollout(act, env: gym.Env, seed: int) -> float:
    """The return of one episode of ``act`` (obs -> action)."""
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total += float(reward)
        done = terminated or truncated
    return total


def test_evaluate_policy_runs_a_composed_policy() -> None:
    env = gym.make("LeverGrid-8x8-PathGold-v0")
    policy = LeverComposedPolicy.from_library(lever_gym.Library.load(), env)
    actions, state = policy.predict(np.stack([env.reset(seed=0)[0]]), state=None)
    assert actions.shape == (1,) and state is None
    mean, std = evaluate_policy(policy, Monitor(env), n_eval_episodes=3)  # type: ignore[arg-type]
    assert mean == pytest.approx(rollout(policy, env, 0)) and std == pytest.approx(0.0)


def test_evaluate_policy_runs_composed_neural_members(tiny_neural_library: Path) -> None:
    env = gym.make("LeverGrid-8x8-PathGold-v0", layout_seed=1, obs_mode="view", view_size=3)
    policy = compose_neural(NeuralLibrary.load(tiny_neural_library), "PathGold", layout=env)
    mean, _ = evaluate_policy(policy, Monitor(env), n_eval_episodes=2)  # type: ignore[arg-type]
    assert mean == pytest.approx(rollout(policy, env, 0))


def test_lever_gym_evaluate_runs_an_sb3_model() -> None:
    env = gym.make("LeverGrid-8x8-PathGold-v0")
    model = DQN("MlpPolicy", env, learning_starts=50, seed=0, device="cpu")
    model.learn(300)
    result = lever_gym.evaluate(model, env, n_episodes=2)

    def act(obs: np.ndarray) -> int:
        return int(model.predict(obs, deterministic=True)[0])

    assert result.returns[0] == pytest.approx(rollout(act, env, 0))
    vector = lever_gym.evaluate(model, "LeverGrid-8x8-PathGold-v0", n_episodes=2, num_envs=2)
    assert np.allclose(vector.returns, result.returns)
