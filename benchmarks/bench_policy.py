"""Time to a composed policy on 16x16: cold (a fresh process) and warm, beside scratch training.

Cold: a new Python process imports lever_gym, opens the default library and builds one
composed policy; each phase is timed inside that process (from before ``import lever_gym``),
median over fresh processes. Warm: the same call repeated in one process (index answers
and splits are kept by then), and a new objective on every call (signed weights from the
results page's declared distribution, Path in [0, 2] and the rest in [-2, 2]: nothing about
the target is kept). Scratch: Q-learning at X1
(10,000 episodes) on the same objective and layout, timed in the same run. Pickle: the
size of the composed policy's pickle.
"""

from __future__ import annotations

import functools
import json
import pickle
import statistics
import subprocess
import sys
import time

from lever_gym.experiments.protocol import signed_tasks
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig
from lever_gym.train.tabular import BUDGETS, TrainConfig, train

from _common import median_time, write_table

ENV_ID = "LeverGrid-16x16-PathGoldHazardLever-v0"
VARIANTS = {
    "defaults (gpi, layout pool, exhaustive, improve 10, guard)": {},
    "paper rule (sum, hybrid k=3)": {"operator": "sum", "strategy": "hybrid", "pool": "parts",
                                     "rounds": 0, "guard": False},
    "targeted (sum, top-1 per part)": {"operator": "sum", "strategy": "targeted",
                                       "pool": "parts", "rounds": 0, "guard": False},
}  # fmt: skip
COLD = """
import time
t0 = time.perf_counter()
import json, sys
import lever_gym
from lever_gym import Library, LeverComposedPolicy
lib = Library.load()
t1 = time.perf_counter()
from lever_gym.reuse.config import ReuseConfig
LeverComposedPolicy.from_library(
    lib, sys.argv[1], config=ReuseConfig().with_options(**json.loads(sys.argv[2]))
)
t2 = time.perf_counter()
print(json.dumps({"open": t1 - t0, "compose": t2 - t1}))
"""
RUNS, WARM = 9, 200


def cold(options: dict) -> tuple[float, float, float]:
    """Medians over fresh processes of (import + open, first composition, their sum) s."""
    out = []
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", COLD, ENV_ID, json.dumps(options)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return (
        statistics.median(o["open"] for o in out),
        statistics.median(o["compose"] for o in out),
        statistics.median(o["open"] + o["compose"] for o in out),
    )


def new_objectives(lib: Library, options: dict) -> float:
    """Median seconds of ``from_library`` with fresh signed weights on every call, drawn from
    the results page's declared distribution (``experiments.protocol.signed_tasks``)."""
    times = []
    for task in signed_tasks(16, 0, WARM):
        weights = task.objective.weights
        start = time.perf_counter()
        LeverComposedPolicy.from_library(
            lib, weights, layout=(16, 0), config=ReuseConfig().with_options(**options)
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    lib = Library.load()
    model = lib.model(lib.layout_records(16, 0)[0])
    config = TrainConfig(gamma=0.99, episodes=BUDGETS["X1"], seed=0)
    objective = Objective.named("PathGoldHazardLever")
    train(model, objective, config)  # loads the kernel
    rows = []
    for name, options in VARIANTS.items():
        policy = LeverComposedPolicy.from_library(
            lib, ENV_ID, config=ReuseConfig().with_options(**options)
        )
        reuse = ReuseConfig().with_options(**options)
        again = functools.partial(LeverComposedPolicy.from_library, lib, ENV_ID, config=reuse)
        same = median_time(again, WARM)
        fresh = new_objectives(lib, options)
        scratch = median_time(lambda: train(model, objective, config), 5)
        opened, composed, total = cold(options)
        rows.append([
            name, f"{opened:.2f} s", f"{composed:.3f} s", f"{total:.2f} s",
            f"{1e3 * same:.2f} ms", f"{1e3 * fresh:.2f} ms", f"{1e3 * scratch:.1f} ms",
            f"{len(pickle.dumps(policy)) / 1e6:.1f} MB",
        ])  # fmt: skip
    write_table(
        "policy",
        f"Time to a composed policy, {ENV_ID} layout 0 (default library)",
        ["method", "cold: import + open", "cold: first composition", "cold: total",
         f"warm, same call (median of {WARM})", f"warm, new objective (median of {WARM})",
         "scratch Q-learning X1, same run", "pickle"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
