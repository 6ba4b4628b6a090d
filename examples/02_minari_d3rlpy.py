"""Load a library policy's dataset with plain Minari and train d3rlpy's DiscreteCQL on it.

Run: python examples/02_minari_d3rlpy.py [--library datasets] [--steps 300]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_LIBRARY = Path(__file__).resolve().parents[1] / "datasets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--library", default=str(DEFAULT_LIBRARY))
    parser.add_argument(
        "--dataset", default="lever/8x8-s0/PathGold-q_learning-g0p99-b10000-r0-e10000-v0"
    )
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    # A lever_gym library is a Minari datasets folder: point Minari at it.
    os.environ["MINARI_DATASETS_PATH"] = args.library
    import d3rlpy
    import minari
    from d3rlpy.logging import NoopAdapterFactory

    import lever_gym

    dataset = minari.load_dataset(args.dataset)
    print(f"{args.dataset}: {dataset.total_episodes} episodes, {dataset.total_steps} steps")
    episode = dataset[0]
    print("per-step infos:", sorted(episode.infos))

    # Relabel rewards to any objective from the stored reward components.
    mdp = lever_gym.to_d3rlpy(dataset, objective="PathGold")
    d3rlpy.seed(0)
    cql = d3rlpy.algos.DiscreteCQLConfig(batch_size=64, gamma=0.99).create(device="cpu:0")
    cql.fit(
        mdp,
        n_steps=args.steps,
        n_steps_per_epoch=args.steps,
        logger_adapter=NoopAdapterFactory(),  # no d3rlpy_logs/ folder
        show_progress=False,
    )

    env = dataset.recover_environment()  # the same LeverGrid layout and objective
    returns = []
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = int(cql.predict(obs[None])[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    print(f"DiscreteCQL after {args.steps} steps: mean return {sum(returns) / len(returns):.2f}")


if __name__ == "__main__":
    main()
