"""Native vector env against SyncVectorEnv (issue: native batched vector env, random worlds),
on the state observation and on the ``view`` and ``grid`` modes that show the layout.

Run: python benchmarks/bench_vector.py   (writes benchmarks/results/vector.md)
Target: >= 10**7 env-steps/s at 1,024 envs on one core, and >= 100x gym.make_vec(...,
vectorization_mode="sync"). Both measured in this run on the same random actions (so with
the autoresets they cause); steps/s are medians of repeated runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gymnasium as gym
import numpy as np

import lever_gym

from _common import median_time, write_table

NATIVE_ENV_STEPS, NATIVE_MAX_CALLS = 4_000_000, 100_000
"""Env-steps per timed run of the native env, in at most this many ``step`` calls."""
SYNC_ENV_STEPS = 200_000
NATIVE_SIZES = (1, 8, 64, 1024)
SYNC_SIZES = (8, 64, 1024)


def steps_per_second(envs: gym.vector.VectorEnv, calls: int, repeats: int) -> float:
    """Median env-steps/s of ``calls`` ``envs.step`` calls on seeded random actions."""
    n = envs.num_envs
    actions = np.random.default_rng(0).integers(0, 4, (256, n))
    envs.reset(seed=0)
    for k in range(20):  # warm-up: compiled kernel loaded, first autoresets done
        envs.step(actions[k])

    def run() -> None:
        for k in range(calls):
            envs.step(actions[k & 255])

    return n * calls / median_time(run, repeats)


def main() -> None:
    rows = []
    cases = [
        (lever_gym.env_id(16, "PathGoldHazardLever"), {}),
        (lever_gym.env_id(8, "PathGoldHazardLever"), {}),
        (lever_gym.env_id(16, "PathGoldHazardLever"), {"random_start": True}),
        (lever_gym.env_id(8, "PathGoldHazardLever"), {"obs_mode": "view"}),
        (lever_gym.env_id(8, "PathGoldHazardLever"), {"obs_mode": "grid"}),
        ("LeverGrid-Random-8x8-PathGoldHazardLever-v0", {"obs_mode": "view"}),
    ]
    for eid, kwargs in cases:
        native, sync = {}, {}
        for n in NATIVE_SIZES:
            calls = min(NATIVE_ENV_STEPS // n, NATIVE_MAX_CALLS)
            native[n] = steps_per_second(gym.make_vec(eid, num_envs=n, **kwargs), calls, 7)
        if "random_start" not in kwargs:
            for n in SYNC_SIZES:
                envs = gym.make_vec(eid, num_envs=n, vectorization_mode="sync", **kwargs)
                sync[n] = steps_per_second(envs, SYNC_ENV_STEPS // n, 5 if n < 1024 else 3)
                envs.close()
        name = eid + ("".join(f", {k}={v}" for k, v in kwargs.items()))
        for n in NATIVE_SIZES:
            ratio = f"{native[n] / sync[n]:.0f}x" if n in sync else "-"
            rows.append(
                [
                    f"`{name}`",
                    f"{n:,}",
                    f"{native[n]:,.0f}",
                    f"{sync[n]:,.0f}" if n in sync else "-",
                    ratio,
                ]
            )
    write_table(
        "vector",
        "Native LeverGridVectorEnv against SyncVectorEnv (env-steps/s, one core)",
        ["env", "num_envs", "native (steps/s, median)", "sync (steps/s, median)", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
