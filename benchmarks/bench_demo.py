"""`lever-gym demo` wall-clock, alone and beside a CPU-bound process (a busy machine).

Each run is a fresh `lever-gym demo` process writing to a temporary folder; the busy runs
start one process spinning on a core for the whole run. Medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_table

SPIN = "while True: pass"


def demo_seconds(busy: bool) -> float:
    out = Path(tempfile.mkdtemp(prefix="lever-demo-"))
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lever_gym.cli", "demo", "--out", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - start
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for busy in (False, True):
        times = [demo_seconds(busy) for _ in range(args.repeats)]
        label = "beside one CPU-bound process" if busy else "alone"
        rows.append([label, f"{statistics.median(times):.1f} s",
                     ", ".join(f"{t:.1f}" for t in times)])  # fmt: skip
    write_table(
        "demo",
        "`lever-gym demo` wall-clock (target: ≤ 3 min on a busy 2-core machine)",
        ["machine state", "median", "runs (s)"],
        rows,
    )


if __name__ == "__main__":
    main()
