"""Compose a policy for a new objective from the default library, offline, and run it in a
plain Gymnasium loop and in a gym.make_vec loop.

Run: python examples/03_compose_policy.py [--objective path+gold+hazard] [--size 16]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import lever_gym
from lever_gym.reuse.composed import LeverComposedPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objective", default="PathGoldHazardLever")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--layout-seed", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()

    library = lever_gym.Library.load()  # the default library
    env_id = lever_gym.Objective.parse(args.objective).env_id(args.size)
    policy = LeverComposedPolicy.from_library(library, env_id, layout=(args.size, args.layout_seed))
    print(policy.summary())

    # 1. the evaluation loop you already have: policy(obs) -> action
    env = gym.make(env_id, layout_seed=args.layout_seed, random_start=True)
    for seed in range(args.episodes):
        obs, info = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            total += reward
            done = terminated or truncated
        print(f"episode {seed}: return {total:7.2f}, success {info['is_success']}")

    # 2. a vectorised loop: policy.predict(obs_batch) -> actions
    envs = gym.make_vec(
        env_id,
        num_envs=4,
        vectorization_mode="sync",
        layout_seed=args.layout_seed,
        random_start=True,
    )
    obs, _ = envs.reset(seed=100)
    totals = np.zeros(4)
    finished = np.zeros(4, dtype=bool)
    while not finished.all():
        obs, reward, terminated, truncated, _ = envs.step(policy.predict(obs))
        totals += np.where(finished, 0.0, reward)
        finished |= terminated | truncated
    print("make_vec returns:", np.round(totals, 2))


if __name__ == "__main__":
    main()
