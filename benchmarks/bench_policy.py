"""Time to a composed policy on 16x16: cold (a fresh process) and warm, beside scratch training.

Cold: a new Python process imports lever_gym, opens the default library and builds one
composed policy (compiled kernels come from numba's on-disk cache); each phase is timed
inside that process, median over fresh processes. Warm: the same call repeated in one
process. Scratch: Q-learning at X1 (10,000 episodes) on the same objective and layout.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.train.tabular import BUDGETS, TrainConfig, train

from _common import median_time, write_table

ENV_ID = "LeverGrid-16x16-PathGoldHazardLever-v0"
VARIANTS = {
    "defaults (gpi, layout pool, exhaustive, improve 10, guard)": {},
    "paper rule (sum, hybrid k=3)": {"operator": "sum", "strategy": "hybrid", "pool": "parts",
                                     "improve": 0, "guarded": False},
    "targeted (sum, top-1 per part)": {"operator": "sum", "strategy": "targeted",
                                       "pool": "parts", "improve": 0, "guarded": False},
}  # fmt: skip
COLD = """
import json, time, sys
t0 = time.perf_counter()
import lever_gym
from lever_gym import Library, LeverComposedPolicy
lib = Library.load()
t1 = time.perf_counter()
LeverComposedPolicy.from_library(lib, sys.argv[1], **json.loads(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"open": t1 - t0, "compose": t2 - t1}))
"""


def cold(options: dict, runs: int = 9) -> tuple[float, float]:
    """Median (import + open, first composition) seconds over fresh processes."""
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", COLD, ENV_ID, json.dumps(options)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return statistics.median(o["open"] for o in out), statistics.median(o["compose"] for o in out)


def main() -> None:
    lib = Library.load()
    rows = []
    for name, options in VARIANTS.items():
        LeverComposedPolicy.from_library(lib, ENV_ID, **options)  # loads arrays and kernels
        warm = median_time(lambda o=options: LeverComposedPolicy.from_library(lib, ENV_ID, **o), 20)
        opened, composed = cold(options)
        rows.append([name, f"{opened:.2f} s", f"{composed:.3f} s", f"{1e3 * warm:.1f} ms"])
    model = lib.model(lib.filter(size=16, layout_seed=0)[0])
    objective = Objective.named("PathGoldHazardLever")
    config = TrainConfig(gamma=0.99, episodes=BUDGETS["X1"], seed=0)
    scratch = median_time(lambda: train(model, objective, config), 5)
    rows.append(["scratch Q-learning X1 (10,000 episodes), for scale", "–", "–",
                 f"{1e3 * scratch:.1f} ms"])  # fmt: skip
    write_table(
        "policy",
        f"Time to a composed policy, {ENV_ID} layout 0 (default library)",
        ["method", "cold: import + open library", "cold: first composition", "warm (median of 20)"],
        rows,
    )


if __name__ == "__main__":
    main()
