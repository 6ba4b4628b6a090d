"""Library builds at scale: the Ray executor against the local pool, and a projection.

``--layouts N`` builds an 8x8 library over N generated layouts (7 building blocks each,
gamma 0.99, budget X1, one replica and snapshot: N x 7 policies, datasets included) with
the Ray executor on this machine's cores and reports wall-clock, policies per second and
storage. A small build on each executor, side by side, gives the per-policy cost; the
projection multiplies it out to 100,000 layouts on N nodes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from lever_gym.library.build import build_library
from lever_gym.library.config import BuildConfig

from _common import write_table


def config(layouts: int, start: int = 0) -> BuildConfig:
    return BuildConfig(
        sizes=(8,), layout_seeds=tuple(range(start, start + layouts)), gammas=(0.99,),
        budgets=(10_000,), replicas=1, snapshots=1,
    )  # fmt: skip


def timed_build(cfg: BuildConfig, **options: object) -> tuple[float, float, int]:
    """Seconds, MB on disk and policies of one build into a fresh folder."""
    root = Path(tempfile.mkdtemp(prefix="lever-build-"))
    try:
        start = time.perf_counter()
        lib = build_library(root / "lib", cfg, **options)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (root / "lib").rglob("*") if p.is_file())
        return seconds, size / 1e6, len(lib)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layouts", type=int, default=1000, help="layouts of the Ray build")
    parser.add_argument("--small", type=int, default=20, help="layouts of the side-by-side")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    for name, options in [
        ("local, 1 process", {"workers": 1}),
        (f"local pool, {cores} processes", {"workers": cores}),
        (f"Ray, local cluster of {cores} CPUs", {"workers": cores, "executor": "ray"}),
    ]:
        seconds, mb, n = timed_build(config(args.small, 5000), **options)
        rows.append([name, n, f"{seconds:.1f} s", f"{n / seconds:.1f}", f"{mb / n:.3f} MB"])
    seconds, mb, n = timed_build(config(args.layouts), workers=cores, executor="ray")
    rows.append([f"Ray, {args.layouts} layouts", n, f"{seconds:.1f} s", f"{n / seconds:.1f}",
                 f"{mb / n:.3f} MB"])  # fmt: skip
    per_core = cores * seconds / n  # core-seconds per policy
    total = 100_000 * 7
    for nodes in (1, 10, 100):
        hours = total * per_core / (cores * nodes) / 3600
        rows.append([f"projection: 100,000 layouts on {nodes} node(s) of {cores} cores", total,
                     f"{hours:.1f} h", f"{cores * nodes / per_core:.0f}",
                     f"{total * mb / n / 1e3:.1f} GB in all"])  # fmt: skip
    write_table(
        "build",
        "Library builds: 8x8, 7 blocks per layout, gamma 0.99, X1, one replica",
        ["build", "policies", "wall-clock", "policies / s", "storage per policy"],
        rows,
    )


if __name__ == "__main__":
    main()
