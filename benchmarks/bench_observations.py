"""The cost of checking observations: policies with ``validate=True`` (the default) and the
``validate=False`` fast path, one call and a batch, on 16x16.

Run: python benchmarks/bench_observations.py   (writes benchmarks/results/observations.md)
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from lever_gym.library.store import Library
from lever_gym.reuse.composed import LeverComposedPolicy

from _common import write_table

TASK = "LeverGrid-16x16-PathGoldHazardLever-v0"
BATCH = 100_000


def per_call_us(fn, obs: np.ndarray, validate: bool, repeats: int = 7, number: int = 2000) -> float:
    """Median microseconds of ``fn(obs, validate=validate)`` over ``repeats`` timings."""
    times = timeit.repeat(lambda: fn(obs, validate=validate), number=number, repeat=repeats)
    return float(np.median(times)) / number * 1e6


def main() -> None:
    """Time both paths for a tabular and a composed policy; write the table."""
    lib = Library.load()
    composed = LeverComposedPolicy.from_library(lib, TASK, layout=(16, 0))
    tabular = lib.policy(lib.filter(size=16, layout_seed=0)[0])
    rng = np.random.default_rng(0)
    rows = []
    for name, policy in (("tabular", tabular), ("composed", composed)):
        model = policy.model
        batch = model.space.observe(rng.integers(0, model.n_states, BATCH))
        policy.predict(batch)  # tabulate every state once: time the lookups, not composing
        one = batch[0]
        call = [per_call_us(policy, one, v) for v in (True, False)]
        many = [per_call_us(policy.predict, batch, v, repeats=5, number=3) for v in (True, False)]
        rows.append([
            name, f"{call[0]:.1f}", f"{call[1]:.1f}", f"{call[0] - call[1]:.1f}",
            f"{BATCH / many[0]:.2f}", f"{BATCH / many[1]:.2f}", f"{many[0] / many[1]:.2f}x",
        ])  # fmt: skip
    header = [
        "policy", "call, checked (us)", "call, validate=False (us)", "check cost (us)",
        f"predict {BATCH:,}, checked (M obs/s)", "predict, validate=False (M obs/s)",
        "batch slowdown",
    ]  # fmt: skip
    write_table("observations", "Checking observations: cost per call and per batch", header, rows)


if __name__ == "__main__":
    main()
