"""Compose DQN library members for a new objective on a layout none of them trained on, and
run the composed policy in a plain Gymnasium loop on the view observation.

Run: python examples/04_neural_members.py                 (the default neural library)
     python examples/04_neural_members.py --build my-lib --env-steps 20000   (build one first)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym

from lever_gym.library.build.neural import build_neural_library
from lever_gym.library.format.neural import NeuralBuildConfig
from lever_gym.library.locate import default_neural_library
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.objective import Objective
from lever_gym.reuse.neural_pipeline import best_single, compose_neural
from lever_gym.train.dqn import DQNConfig, Worlds
from lever_gym.train.heads import HeadConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", type=Path, default=None, help="build a small library here")
    parser.add_argument("--env-steps", type=int, default=20_000, help="per member, with --build")
    parser.add_argument("--objective", default="path+gold")
    parser.add_argument("--layout-seed", type=int, default=1_000_007)
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()

    if args.build is not None:
        worlds = Worlds(size=8, layout_seeds=(0, 1000), obs_mode="view", view_size=7)
        config = NeuralBuildConfig(
            objectives=("Path", "Gold", "PathGold"),
            worlds=worlds,
            dqn=DQNConfig(env_steps=args.env_steps, worlds=worlds),
            heads=HeadConfig(steps=500),
            episodes=20,
        )
        build_neural_library(args.build, config)
    library = NeuralLibrary.load(args.build or default_neural_library())
    worlds = library.worlds
    print(f"{len(library.members)} members, trained on {worlds.size}x{worlds.size} layouts "
          f"{worlds.layout_seeds[0]}..{worlds.layout_seeds[1] - 1}; composing for layout "
          f"{args.layout_seed} (in their range: {worlds.covers(args.layout_seed)})")  # fmt: skip

    # the layout to act on: any LeverGrid env, observed the way the members see
    env = gym.make(
        Objective.parse(args.objective).env_id(worlds.size),
        layout_seed=args.layout_seed,
        obs_mode=worlds.obs_mode,
        view_size=worlds.view_size,
    )
    policy = compose_neural(library, args.objective, layout=env)
    info = policy.explain()
    print(f"composed {info['members']} in {info['seconds'] * 1000:.1f} ms")
    chosen, single = best_single(library, args.objective)
    for name, act in (("composed", policy), ("best single " + chosen, single)):
        for seed in range(args.episodes):
            obs, _ = env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, step_info = env.step(act(obs))
                total += float(reward)
                done = terminated or truncated
            print(f"{name}, episode {seed}: return {total:7.2f}, "
                  f"success {step_info['is_success']}")  # fmt: skip


if __name__ == "__main__":
    main()
