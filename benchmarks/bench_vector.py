"""Native vector env against SyncVectorEnv (issue: native batched vector env, random worlds),
on the state observation and on the ``view`` and ``grid`` modes that show the layout.

Run: python benchmarks/bench_vector.py   (writes benchmarks/results/vector.md)
Target: >= 10**7 env-steps/s at 1,024 envs on one core, and >= 100x gym.make_vec(...,
vectorization_mode="sync"). Both measured in this run on the same random actions (so with
the autoresets they cause); steps/s are medians of repeated runs. The speed issue's bound:
a hand-written numpy batched step on the same tables that returns the state index only
(next state, reward, termination, the time limit, reset to the start), beside the native
env at 1,024 and 8,192 envs, float32 and uint8 observations (``obs_dtype``), fresh and in
place (``copy``), and random starts against the fixed start, interleaved (targets: native
>= 0.8 of the bound; random starts >= 0.8 of the fixed start).
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

NATIVE_ENV_STEPS, NATIVE_MAX_CALLS = 4_000_000, 100_000
"""Env-steps per timed run of the native env, in at most this many ``step`` calls."""
RANDOM_WORLD_ENV_STEPS = 200_000
"""The same for randomised worlds, which step about 10^4 times slower per env."""
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


def bound_steps_per_second(envs: gym.vector.VectorEnv, calls: int) -> float:
    """Env-steps/s of the hand-written bound on ``envs``' own tables (one run)."""
    model = envs.unwrapped.template.model
    reward = model.reward(envs.unwrapped.objective)
    nxt, done, start = model.next_state, model.terminated, model.start_state
    n = envs.num_envs
    actions = np.random.default_rng(0).integers(0, 4, (256, n))
    limit = envs.unwrapped.max_episode_steps
    states = np.full(n, start, dtype=np.int64)
    elapsed = np.zeros(n, dtype=np.int64)
    began = time.perf_counter()
    for k in range(calls):
        a = actions[k & 255]
        rewards = reward[states, a]
        elapsed += 1
        ended = done[states, a] | (elapsed >= limit)
        states = np.where(ended, start, nxt[states, a])
        elapsed[ended] = 0
    del rewards
    return n * calls / (time.perf_counter() - began)


BOUND_VARIANTS = {
    "native": {},
    "native, obs_dtype=uint8": {"obs_dtype": "uint8"},
    "native, obs_dtype=uint8, copy=False": {"obs_dtype": "uint8", "copy": False},
}
"""The native env's settings measured against the bound, beside one another."""


def bound_rows() -> list[list[str]]:
    """The native env (each of ``BOUND_VARIANTS``) against the hand-written bound, and
    random starts against the fixed start, 16x16, interleaved over 7 runs."""
    out = []
    eid = lever_gym.env_id(16, "PathGoldHazardLever")
    for n in (1024, 8192):
        calls = min(NATIVE_ENV_STEPS // n, NATIVE_MAX_CALLS)
        envs = {name: gym.make_vec(eid, num_envs=n, **kw) for name, kw in BOUND_VARIANTS.items()}
        randomised = gym.make_vec(eid, num_envs=n, random_start=True)
        runs: dict[str, list[float]] = {name: [] for name in [*envs, "random", "bound"]}
        for _ in range(7):
            for name, env in envs.items():
                runs[name].append(steps_per_second(env, calls, 1))
            runs["random"].append(steps_per_second(randomised, calls, 1))
            runs["bound"].append(bound_steps_per_second(envs["native"], calls))
        rate = {name: float(np.median(r)) for name, r in runs.items()}
        for name in envs:
            out.append([
                f"`{eid}` {name} vs the numpy state-index bound", f"{n:,}",
                f"{rate[name]:,.0f}", f"{rate['bound']:,.0f} (bound)",
                f"{rate[name] / rate['bound']:.2f} of it",
            ])  # fmt: skip
        out.append([
            f"`{eid}` random_start=True vs the fixed start (native)", f"{n:,}",
            f"{rate['random']:,.0f}", f"{rate['native']:,.0f} (fixed start)",
            f"{rate['random'] / rate['native']:.2f} of it",
        ])  # fmt: skip
    return out


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
        budget = RANDOM_WORLD_ENV_STEPS if "Random" in eid else NATIVE_ENV_STEPS
        for n in NATIVE_SIZES:
            calls = max(1, min(budget // n, NATIVE_MAX_CALLS))
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
    rows += bound_rows()
    write_table(
        "vector",
        "Native LeverGridVectorEnv against SyncVectorEnv (env-steps/s, one core)",
        ["env", "num_envs", "native (steps/s, median)", "sync (steps/s, median)", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
