"""Fuzz lever_gym's trust boundary and write the table of ``docs/reliability.md``.

    python benchmarks/fuzz.py --profile full     # 18,500 inputs, a few minutes on one core
    python benchmarks/fuzz.py --profile ci       # the CI-sized counts, seconds

Each target (``tests/fuzz/registry.py``) runs in its own process, so a crash (a process
killed by a signal) is counted rather than fatal. Prints, per target, the inputs tried,
the outcomes by label and the time; with ``--profile full`` it rewrites the table between
the markers of ``docs/reliability.md`` and ``benchmarks/results/fuzz.md``.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package and tests of this checkout

from _common import machine, write_table  # noqa: E402

PAGE = ROOT / "docs" / "reliability.md"
START, END = "<!-- fuzz-table:start -->", "<!-- fuzz-table:end -->"
SEED = 20240611
"""The seed every target's inputs are drawn from."""


def child(name: str, examples: int) -> None:
    """Run one target in this process and print its tally as JSON."""
    from tests.fuzz.registry import run

    tally = run(name, examples, SEED)
    print(json.dumps({"counts": tally.counts, "failures": tally.failures,
                      "seconds": tally.seconds}))  # fmt: skip


def parent(profile: str) -> list[list[object]]:
    """Run every target in a child process; return the table rows."""
    from tests.fuzz.outcome import FAILURES
    from tests.fuzz.registry import TARGETS

    rows, total, failed = [], 0, 0
    for name, target in TARGETS.items():
        examples = getattr(target, profile)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--target", name, "--examples", str(examples)],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        if out.returncode < 0:
            counts = {f"crash ({signal.Signals(-out.returncode).name})": 1}
            failures = [out.stderr[-500:]]
        elif out.returncode:
            counts, failures = {"crash (runner error)": 1}, [out.stderr[-2000:]]
        else:
            tally = json.loads(out.stdout.strip().splitlines()[-1])
            counts, failures = tally["counts"], tally["failures"]
        n = sum(counts.values())
        bad = sum(v for k, v in counts.items() if k.startswith(FAILURES))
        total, failed = total + n, failed + bad
        labels = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        rows.append([name, n, labels, bad, f"{seconds:.0f} s"])
        print(f"{name}: {n} inputs, {bad} failures, {seconds:.0f} s\n  {labels}", flush=True)
        for failure in failures:
            print(f"  FAILURE {failure}", flush=True)
    rows.append(["**all**", total, "", failed, ""])
    return rows


def main() -> None:
    """Parse the options and run a profile (or, internally, one target)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("ci", "full"), default="full")
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--examples", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.target:
        child(args.target, args.examples)
        return
    rows = parent(args.profile)
    if args.profile == "full":
        header = ["target", "inputs", "outcomes (label count)", "failures", "time"]
        text = write_table("fuzz", "Fuzzing the trust boundary (full profile)", header, rows)
        page = PAGE.read_text()
        head, rest = page.split(START)
        table = text.split("\n", 2)[2].strip()
        PAGE.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END)[1]}")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
