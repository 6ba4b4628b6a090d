"""Env step cost and exact-solver time (issue: LeverGrid environments and the exact solver).

Run: python benchmarks/bench_env.py   (writes benchmarks/results/env.md)
Targets: unwrapped 16x16 step <= 10 us; solve 16x16 with 8 gold, gamma 0.99, <= 2 s on one core;
the unwrapped step at most FrozenLake8x8's in the same run (half of it: the stretch), both
measured in interleaved repetitions; 64x64 solved in <= 5 s (the model's build, timed on the
first ``gym.make`` of the process, then the solve).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gymnasium as gym
import numpy as np

import lever_gym

from _common import median_time, write_table

STEPS = 100_000


def step_cost(env: gym.Env) -> float:
    """Microseconds per ``step`` (resets excluded) over STEPS random actions."""
    actions = np.random.default_rng(0).integers(0, 4, STEPS).tolist()
    env.reset(seed=0)
    spent = 0.0
    i = 0
    while i < STEPS:
        start = time.perf_counter()
        while i < STEPS:
            _, _, term, trunc, _ = env.step(actions[i])
            i += 1
            if term or trunc:
                break
        spent += time.perf_counter() - start
        env.reset()
    return spent / STEPS * 1e6


def main() -> None:
    rows = []
    for size in (8, 16, 32, 64):
        eid = lever_gym.env_id(size, "PathGoldHazardLever")
        began = time.perf_counter()
        wrapped = gym.make(eid)
        raw = wrapped.unwrapped
        model = raw.model
        model.next_state  # noqa: B018  (the tables are built on first use)
        build_s = time.perf_counter() - began
        lake = gym.make("FrozenLake8x8-v1").unwrapped
        pairs = [(step_cost(raw), step_cost(lake)) for _ in range(7)]  # interleaved
        unwrapped_us = np.median([p[0] for p in pairs])
        lake_us = np.median([p[1] for p in pairs])
        wrapped_us = np.median([step_cost(wrapped) for _ in range(5)])
        sol = lever_gym.solve(eid, 0.99)  # (loads the compiled sweeps)
        solve_s = median_time(lambda eid=eid: lever_gym.solve(eid, 0.99), repeats=3)
        rows.append(
            [
                f"{size}x{size}",
                len(raw.layout.gold),
                model.n_states,
                f"{unwrapped_us:.2f}",
                f"{lake_us:.2f}",
                f"{unwrapped_us / lake_us:.2f}",
                f"{wrapped_us:.2f}",
                sol.iterations,
                f"{build_s:.3f}",
                f"{solve_s:.3f}",
                f"{build_s + solve_s:.3f}",
            ]
        )
    write_table(
        "env",
        "LeverGrid step cost and exact solve time",
        [
            "size",
            "gold",
            "states",
            "step, unwrapped (us, median of 7)",
            "FrozenLake8x8 step, unwrapped (us, same run)",
            "ratio",
            "step, gym.make wrappers (us)",
            "sweeps of the slowest layer (gamma 0.99)",
            "model build (s, first make)",
            "solve (s, median, model built)",
            "build + solve (s)",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
