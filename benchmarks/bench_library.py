"""Trainer speed, dataset I/O, to_d3rlpy, and library build times (issue: policy library).

Run: python benchmarks/bench_library.py [--skip-paper]   (writes benchmarks/results/library.md)
Targets: one 16x16 block, 10,000 episodes <= 0.5 s on one core; paper-scale library <= 15 min
on two cores; dataset writing >= 100,000 transitions/s; to_d3rlpy on 1,000,000 transitions <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gymnasium as gym
import numpy as np

import lever_gym
from lever_gym.data.collect import DataConfig, collect
from lever_gym.data.convert import to_d3rlpy
from lever_gym.data.storage import write_dataset
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.store import Library
from lever_gym.train.tabular import BUDGETS, TrainConfig, key_index, train

from _common import median_time, write_table

ROOT = Path(__file__).resolve().parents[1]


def folder_mb(path: Path) -> float:
    """Size of a folder's files in MB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def training_rows() -> list[list[object]]:
    rows = []
    for size in (8, 16, 32):
        env = gym.make(lever_gym.env_id(size, "PathGold")).unwrapped
        cfg = TrainConfig(gamma=0.99, episodes=10_000, seed=0)
        train(env.model, env.weights, cfg)  # warm the kernel cache
        runs = [train(env.model, env.weights, cfg) for _ in range(5)]
        seconds = float(np.median([r.seconds for r in runs]))
        rows.append(
            [
                f"train {size}x{size} PathGold, 10,000 episodes (Q-learning)",
                f"{seconds:.3f} s",
                f"{runs[0].steps / seconds / 1e6:.1f} M steps/s ({runs[0].steps} steps)",
            ]
        )
    return rows


def io_rows(tmp: Path) -> list[list[object]]:
    env = gym.make("LeverGrid-16x16-PathGold-v0", random_start=True)
    model = env.unwrapped.model
    keys = key_index(model, "state")
    q = np.zeros((model.n_states, 4))
    rows, ids = [], []
    total, write_s = 0, 0.0
    for i in range(4):  # about 1M transitions of long (epsilon 0.5) episodes
        eps = collect(model, q, keys, DataConfig(episodes=2000, epsilon=0.5), seed=i)
        start = time.perf_counter()
        write_dataset(tmp, f"lever/bench/big{i}-v0", env, eps, algorithm="bench", description="b")
        write_s += time.perf_counter() - start
        total += eps.n_transitions
        ids.append(f"lever/bench/big{i}-v0")
    rows.append(
        [
            f"write Minari datasets, {total} transitions in 8,000 episodes",
            f"{write_s:.1f} s",
            f"{total / write_s:,.0f} transitions/s",
        ]
    )
    small = collect(model, q, keys, DataConfig(episodes=20, epsilon=0.1), seed=9)
    seconds = median_time(
        lambda: (
            shutil.rmtree(tmp / "lever/bench/small-v0", ignore_errors=True),
            write_dataset(tmp, "lever/bench/small-v0", env, small, algorithm="b", description="b"),
        )
    )
    rows.append(
        [
            f"write one library-sized dataset ({small.n_transitions} transitions, 20 episodes)",
            f"{seconds * 1e3:.0f} ms",
            f"{small.n_transitions / seconds:,.0f} transitions/s",
        ]
    )
    import minari

    from lever_gym.data.storage import minari_root

    with minari_root(tmp):
        datasets = [minari.load_dataset(i) for i in ids]
        to_d3rlpy(datasets[:1], "PathGold")  # import d3rlpy outside the timing
        start = time.perf_counter()
        mdp = to_d3rlpy(datasets, "PathGoldHazardLever")
        seconds = time.perf_counter() - start
    rows.append(
        [
            f"to_d3rlpy, {total} transitions ({mdp.transition_count} kept by d3rlpy)",
            f"{seconds:.2f} s",
            f"{total / seconds:,.0f} transitions/s",
        ]
    )
    return rows


def paper_rows(tmp: Path) -> list[list[object]]:
    config = BuildConfig(
        sizes=(8, 16),
        layout_seeds=(0, 1, 2, 3, 4),
        gammas=(0.0, 0.99),
        budgets=(BUDGETS["X1"], BUDGETS["X5"], BUDGETS["X10"]),
    )
    start = time.perf_counter()
    lib = Library.build(tmp / "paper", config, workers=2)
    seconds = time.perf_counter() - start
    train_s = sum(json.loads((lib.root / r.directory / "timing.json").read_text())["train_seconds"]
                  for r in lib if r.snapshot == r.budget)  # fmt: skip
    return [
        [
            f"paper-scale library: {len(config.runs())} runs, {len(lib)} policies with datasets "
            "(7 blocks x 5 layouts x 2 gammas x X1/X5/X10 x 8x8, 16x16), 2 workers",
            f"{seconds:.0f} s",
            f"{folder_mb(lib.root):.0f} MB on disk; training alone {train_s:.1f} s",
        ]
    ]


def default_rows() -> list[list[object]]:
    lib = Library.load(ROOT / "datasets")
    timing = json.loads((ROOT / "datasets" / "build_timing.json").read_text())
    return [
        [
            f"default library (datasets/): {len(lib)} policies",
            f"{timing['seconds']:.0f} s to build (2 workers)",
            f"{folder_mb(ROOT / 'datasets'):.1f} MB on disk",
        ]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-paper", action="store_true", help="skip the paper-scale build")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lever-bench-"))
    try:
        rows = training_rows() + io_rows(tmp) + default_rows()
        if not args.skip_paper:
            rows += paper_rows(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_table(
        "library",
        "Policy library: training, datasets, conversion, builds",
        ["what", "time", "rate / size"],
        rows,
    )


if __name__ == "__main__":
    main()
