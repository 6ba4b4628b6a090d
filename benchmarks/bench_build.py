"""Library builds at scale: executors side by side, 1,000 layouts on Ray, sharded libraries.

Every build is an 8x8 library of 7 building blocks per layout (gamma 0.99, budget X1, one
replica and snapshot: 7 policies a layout, datasets included).

1. Executors side by side on ``--small`` layouts: one process, the local pool, Ray.
2. ``--layouts`` layouts with the Ray executor, sharded (``shards.json``, one library per
   layout, a global index) and flat (one manifest): wall-clock, storage, time to open it,
   time to compose a policy on one layout after opening.
3. The global index of the sharded build: recall@10 against exact search and median query
   latency over 200 signed objectives.
4. A projection to 100,000 layouts on N nodes from the measured core-seconds per policy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from lever_gym.library.build.builder import build_library
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.shards import ShardedLibrary, build_sharded
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy

from _common import write_table


def config(layouts: int, start: int = 0) -> BuildConfig:
    return BuildConfig(
        sizes=(8,), layout_seeds=tuple(range(start, start + layouts)), gammas=(0.99,),
        budgets=(10_000,), replicas=1, snapshots=1,
    )  # fmt: skip


def megabytes(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def global_index_quality(lib: ShardedLibrary, queries: int = 200) -> tuple[float, float]:
    """Recall@10 of the global Annoy index against exact search, and its median ms a query."""
    ids, blocks = [], []
    for size, seed in lib.layouts():
        index = lib.shard(size, seed).layout_index(size, seed, backend="exact")
        ids += list(index.ids)
        blocks.append(index.embeddings[:, :4])
    values = np.vstack(blocks)
    rng = np.random.default_rng(0)
    lib.query("path", n=10)  # open the index outside the timing
    recalls, times = [], []
    for _ in range(queries):
        objective = Objective.parse(rng.uniform(-1, 2, 4).round(1))
        start = time.perf_counter()
        found = lib.query(objective, n=10)
        times.append(time.perf_counter() - start)
        exact = {ids[i] for i in np.argsort(-(values @ objective.weights), kind="stable")[:10]}
        recalls.append(len(exact & {pid for _, pid, _ in found}) / 10)
    return float(np.mean(recalls)), float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layouts", type=int, default=1000, help="layouts of the Ray builds")
    parser.add_argument("--small", type=int, default=20, help="layouts of the side-by-side")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="lever-build-"))
    rows = []
    try:
        for name, options in [
            ("local, 1 process", {"workers": 1}),
            (f"local pool, {cores} processes", {"workers": cores}),
            (f"Ray, local cluster of {cores} CPUs", {"workers": cores, "executor": "ray"}),
        ]:
            out = work / name.split(",")[0].replace(" ", "-")
            lib, seconds = timed(build_library, out, config(args.small, 5000), **options)
            rows.append([f"flat, {args.small} layouts, {name}", len(lib), f"{seconds:.1f} s",
                         f"{len(lib) / seconds:.1f}", f"{megabytes(out) / len(lib):.3f} MB",
                         "", ""])  # fmt: skip
            shutil.rmtree(out)
        big = config(args.layouts)
        ray = {"workers": cores, "executor": "ray"}
        built = {}
        for kind, build, load in (
            ("sharded", build_sharded, ShardedLibrary.load),
            ("flat", build_library, Library.load),
        ):
            out = work / kind
            lib, seconds = timed(build, out, big, **ray)
            opened, open_s = timed(load, out)
            last = args.layouts - 1
            _, compose_s = timed(
                LeverComposedPolicy.from_library, opened, "path+gold", size=8, layout_seed=last
            )
            rows.append([f"{kind}, {args.layouts} layouts, Ray ({cores} CPUs)", len(lib),
                         f"{seconds:.1f} s", f"{len(lib) / seconds:.1f}",
                         f"{megabytes(out) / len(lib):.3f} MB", f"{open_s * 1e3:.0f} ms",
                         f"{compose_s * 1e3:.0f} ms"])  # fmt: skip
            built[kind] = (lib, seconds, megabytes(out))
        recall, ms = global_index_quality(ShardedLibrary.load(work / "sharded"))
        lib, seconds, mb = built["sharded"]
        per_core = cores * seconds / len(lib)  # core-seconds per policy, indexing included
        total = 100_000 * 7
        for nodes in (1, 10, 100):
            hours = total * per_core / (cores * nodes) / 3600
            rows.append([f"projection: 100,000 layouts, sharded, {nodes} node(s) of {cores} "
                         "cores", total, f"{hours:.1f} h", f"{cores * nodes / per_core:.0f}",
                         f"{total * mb / len(lib) / 1e3:.1f} GB in all", "", ""])  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = write_table(
        "build",
        "Library builds: 8x8, 7 blocks per layout, gamma 0.99, X1, one replica",
        ["build", "policies", "wall-clock", "policies / s", "storage per policy",
         "open", "then compose one layout"],
        rows,
    )  # fmt: skip
    note = (
        f"\nGlobal index of the sharded {args.layouts}-layout build ({len(lib)} policies): "
        f"recall@10 {recall:.3f} against exact search, median {ms:.2f} ms a query "
        "(200 signed objectives, weights uniform in [-1, 2]).\n"
    )
    path = Path(__file__).resolve().parent / "results" / "build.md"
    path.write_text(text + note)
    print(note)


if __name__ == "__main__":
    main()
