"""Dataset throughput: writing Minari datasets and reading them through to_d3rlpy.

The old path (Minari's writer plus an unchunked copy; h5py high-level reads; see
``_legacy_data.py``) and the new one (``lever_gym.data.minari_hdf5``) run side by side on the same
episodes; then Minari's own hdf5 and arrow storages against the new path.

Run: python benchmarks/bench_data.py   (writes benchmarks/results/data.md and storage.md)
Targets (issue: dataset throughput): writing >= 100,000 transitions/s; to_d3rlpy >= 200,000
transitions/s. The arrow rows need pyarrow, which lever_gym does not depend on; without it
they say so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _legacy_data as legacy
import gymnasium as gym
import minari
import numpy as np

import lever_gym
from lever_gym.data.collect import DataConfig, Episodes, collect
from lever_gym.data.convert import D3RLPY_FIELDS, to_d3rlpy
from lever_gym.data.minari_hdf5 import write_hdf5
from lever_gym.data.storage import (
    episode_buffers,
    episode_columns,
    minari_root,
    read_episodes,
    write_dataset,
)
from lever_gym.train.tabular import key_index

from _common import median_time, write_table

ENV_ID = lever_gym.env_id(16, "PathGold")
OBJECTIVE = "PathGoldHazardLever"


def rate(transitions: int, seconds: float) -> str:
    return f"{transitions / seconds:,.0f} transitions/s ({seconds:.2f} s)"


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def behaviour(env: gym.Env, episodes: int, epsilon: float, seed: int) -> Episodes:
    """Episodes of an all-zero Q-table (greedy action 0) with the given epsilon."""
    model = env.unwrapped.model
    q = np.zeros((model.n_states, 4))
    return collect(
        model, q, key_index(model, "state"), DataConfig(episodes=episodes, epsilon=epsilon), seed
    )


def old_vs_new_rows(tmp: Path, env: gym.Env, big: list[Episodes]) -> list[list[object]]:
    """Write the big datasets both ways, then to_d3rlpy on each path's own files."""
    total = sum(e.n_transitions for e in big)
    rows = []
    times: dict[str, list[float]] = {"old": [], "new": []}
    for i, eps in enumerate(big):
        name = f"lever/bench/big{i}-v0"
        start = time.perf_counter()
        legacy.write_dataset(tmp / "old", name, env, eps)
        times["old"].append(time.perf_counter() - start)
        start = time.perf_counter()
        write_dataset(tmp / "new", name, env, eps, algorithm="b", description="b")
        times["new"].append(time.perf_counter() - start)
    per = {k: [e.n_transitions / t for e, t in zip(big, v, strict=True)] for k, v in times.items()}
    rows.append(
        [
            f"write {len(big)} datasets of {len(big[0].actions):,} episodes, {total:,} "
            "transitions (median over datasets; total time)",
            f"{statistics.median(per['old']):,.0f} transitions/s ({sum(times['old']):.1f} s)",
            f"{statistics.median(per['new']):,.0f} transitions/s ({sum(times['new']):.1f} s)",
            f"{sum(times['old']) / sum(times['new']):.1f}x",
        ]
    )

    small = behaviour(env, 20, 0.1, seed=9)
    counter = iter(range(1000))
    old_s = median_time(
        lambda: legacy.write_dataset(tmp / "old", f"lever/small/o{next(counter)}-v0", env, small)
    )
    new_s = median_time(
        lambda: write_dataset(
            tmp / "new", f"lever/small/n{next(counter)}-v0", env, small, algorithm="b",
            description="b",
        )
    )  # fmt: skip
    rows.append(
        [
            f"write one library-sized dataset ({small.n_transitions:,} transitions, 20 "
            "episodes; median of 5)",
            rate(small.n_transitions, old_s),
            rate(small.n_transitions, new_s),
            f"{old_s / new_s:.1f}x",
        ]
    )

    ids = [f"lever/bench/big{i}-v0" for i in range(len(big))]
    old_ds = [minari.MinariDataset(tmp / "old" / i / "data") for i in ids]
    new_ds = [minari.MinariDataset(tmp / "new" / i / "data") for i in ids]
    to_d3rlpy(new_ds[:1], OBJECTIVE)  # import d3rlpy and torch outside the timings
    old_s = median_time(lambda: legacy.to_d3rlpy(old_ds, OBJECTIVE), repeats=3)
    new_s = median_time(lambda: to_d3rlpy(new_ds, OBJECTIVE), repeats=3)
    rows.append(
        [
            f"to_d3rlpy over the {len(big)} datasets, {total:,} transitions (median of 3)",
            rate(total, old_s),
            rate(total, new_s),
            f"{old_s / new_s:.1f}x",
        ]
    )

    def read_all(reader: Callable[..., Any], datasets: list[Any]) -> None:
        for ds in datasets:
            for _ in reader(ds, D3RLPY_FIELDS):
                pass

    old_s = median_time(lambda: read_all(legacy.read_episodes, old_ds), repeats=3)
    new_s = median_time(lambda: read_all(read_episodes, new_ds), repeats=3)
    rows.append(
        [
            "of which: reading the 5 arrays to_d3rlpy needs (read_episodes, median of 3)",
            rate(total, old_s),
            rate(total, new_s),
            f"{old_s / new_s:.1f}x",
        ]
    )
    return rows


def breakdown_rows(tmp: Path, env: gym.Env, eps: Episodes) -> list[list[object]]:
    """Where the new path's time goes: arrays, the hdf5 file, d3rlpy's own construction."""
    import d3rlpy
    from d3rlpy.dataset import MDPDataset

    base = env.unwrapped
    n = eps.n_transitions
    columns = episode_columns(base.model, base.objective, eps)
    counter = iter(range(100))
    arrays_s = median_time(lambda: episode_columns(base.model, base.objective, eps))
    file_s = median_time(lambda: write_hdf5(tmp / f"breakdown{next(counter)}.hdf5", columns))
    before_step = np.ones(len(columns.observations), dtype=bool)
    before_step[np.cumsum(columns.lengths + 1) - 1] = False  # drop each final observation
    arrays = {
        "observations": columns.observations[before_step],
        "actions": columns.actions,
        "rewards": columns.rewards.astype(np.float32),
        "terminals": columns.terminations.astype(np.float32),
        "timeouts": columns.truncations.astype(np.float32),
    }
    d3_s = median_time(
        lambda: MDPDataset(**arrays, action_space=d3rlpy.ActionSpace.DISCRETE, action_size=4)
    )
    per_episode = file_s / len(eps.actions) * 1e6
    return [
        [f"new write of {n:,} transitions: the episode arrays (episode_columns)", "",
         rate(n, arrays_s), ""],
        [f"new write: the hdf5 file (write_hdf5; {per_episode:.0f} µs per episode: 2 groups, "
         "3 attributes, 9 arrays)", "", rate(n, file_s), ""],
        [f"to_d3rlpy: d3rlpy's MDPDataset construction alone, {n:,} transitions", "",
         rate(n, d3_s), ""],
    ]  # fmt: skip


def storage_rows(tmp: Path, env: gym.Env, eps: Episodes) -> list[list[object]]:
    """Minari's hdf5 and arrow storages, and the direct hdf5 path, on the same episodes.

    Minari 0.5.4's arrow storage writes 1-d infos (``state``, ``cell``, ``is_success``) but
    cannot read them back (it parses their empty shape); a second arrow row stores them as
    (T+1, 1) columns so that its reading can be measured at all.
    """
    base = env.unwrapped
    n = eps.n_transitions
    counter = iter(range(1000))

    def minari_write(fmt: str, two_d: bool = False) -> Callable[[], Any]:
        def write() -> None:
            buffers = episode_buffers(base.model, base.objective, eps)
            if two_d:
                buffers = [
                    dataclasses.replace(
                        b, infos={k: v.reshape(len(v), -1) for k, v in b.infos.items()}
                    )
                    for b in buffers
                ]
            with minari_root(tmp / folder_of(fmt, two_d)):
                minari.create_dataset_from_buffers(
                    f"lever/storage/x{next(counter)}-v0",
                    buffers,
                    env=env,
                    eval_env=env.spec,
                    algorithm_name="b",
                    author="b",
                    author_email="b",
                    code_permalink="b",
                    description="b",
                    data_format=fmt,
                )

        return write

    def folder_of(fmt: str, two_d: bool) -> str:
        return f"{fmt}-2d" if two_d else fmt

    def direct_write() -> None:
        write_dataset(tmp / "direct", f"lever/storage/x{next(counter)}-v0", env, eps,
                      algorithm="b", description="b")  # fmt: skip

    ways = [
        ("Minari create_dataset_from_buffers, hdf5 storage", "hdf5", minari_write("hdf5")),
        ("Minari create_dataset_from_buffers, arrow storage", "arrow", minari_write("arrow")),
        ("the same, arrow storage, 1-d infos stored as (T+1, 1)", "arrow-2d",
         minari_write("arrow", two_d=True)),
        ("lever_gym write_dataset (direct hdf5)", "direct", direct_write),
    ]  # fmt: skip
    rows = []
    for label, folder, write in ways:
        if folder.startswith("arrow") and importlib.util.find_spec("pyarrow") is None:
            rows.append([label, "skipped: pyarrow is not installed", "", "", ""])
            continue
        # Minari's arrow writer takes minutes here: timed once.
        write_s = median_time(write, repeats=1 if folder.startswith("arrow") else 3)
        first = min(p for p in (tmp / folder / "lever" / "storage").iterdir() if p.is_dir())
        ds = minari.MinariDataset(first / "data")
        row = [label, rate(n, write_s)]
        for read in (lambda ds=ds: sum(1 for _ in ds.iterate_episodes()),
                     lambda ds=ds: to_d3rlpy(ds, OBJECTIVE)):  # fmt: skip
            try:
                row.append(rate(n, median_time(read, repeats=3)))
            except ValueError as exc:
                row.append(f"fails: {type(exc).__name__}: {exc}")
        rows.append([*row, f"{folder_mb(first):.1f} MB"])
    return rows


def main() -> None:
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start"
    env = gym.make(ENV_ID, random_start=True)
    big = [behaviour(env, 2000, 0.5, seed=i) for i in range(4)]  # about 1M transitions
    tmp = Path(tempfile.mkdtemp(prefix="lever-bench-data-"))
    try:
        rows = old_vs_new_rows(tmp, env, big) + breakdown_rows(tmp, env, big[0])
        storage = storage_rows(tmp, env, big[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_table(
        "data",
        f"Dataset throughput: old path against lever_gym.minari_hdf5 ({ENV_ID}, epsilon 0.5; "
        f"{load})",
        ["what", "old path", "new path", "speed-up"],
        rows,
    )
    write_table(
        "storage",
        f"Minari storages on {big[0].n_transitions:,} transitions ({len(big[0].actions):,} "
        f"episodes of {ENV_ID}; medians of 3, arrow writes timed once; {load})",
        ["writer", "write", "read: MinariDataset.iterate_episodes", "read: to_d3rlpy", "size"],
        storage,
    )


if __name__ == "__main__":
    main()
