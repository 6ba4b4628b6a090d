"""Make a LeverGrid env and run a plain Gymnasium evaluation loop with two policies.

Run: python examples/01_evaluation_loop.py [--env-id ID] [--episodes N]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import lever_gym


def run_episodes(env: gym.Env, policy, episodes: int, seed: int) -> list[float]:
    """The usual loop: reset with a seed, act until terminated or truncated."""
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-id", default="LeverGrid-8x8-PathGoldHazard-v0")
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()

    env = gym.make(args.env_id, random_start=True)
    optimal = lever_gym.solve(env, gamma=0.99)  # exact Q*, usable as a policy: optimal(obs)
    rng = np.random.default_rng(0)

    def random_policy(obs):
        return int(rng.integers(4))

    for name, policy in [("optimal", optimal), ("random", random_policy)]:
        returns = run_episodes(env, policy, args.episodes, seed=0)
        print(f"{name:8s} mean return over {args.episodes} episodes: {np.mean(returns):8.2f}")


if __name__ == "__main__":
    main()
