"""Building a sharded library (``lever_gym.library.shards``): every shard a library of one
layout, built in batches on one executor session, then the global index over every shard's
embeddings, then ``shards.json``, written last and atomically."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.build.builder import build_libraries
from lever_gym.library.build.executor import executor_session
from lever_gym.library.build.staging import build_lock, make_root
from lever_gym.library.format.annoy_file import AnnoyFacts
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import atomic_path, inside, sha256, write_json_atomic
from lever_gym.library.format.manifest import MANIFEST
from lever_gym.library.index import DEFAULT_METRIC, AnnoyBackend
from lever_gym.library.shards import (
    GLOBAL,
    GLOBAL_FILES,
    GLOBAL_SEARCH_K,
    SHARDS,
    SHARDS_SCHEMA,
    ShardedLibrary,
    global_trees,
    shard_configs,
)
from lever_gym.library.store import Library
from lever_gym.version import __version__

BATCH = 64
"""Shards built per executor round (each round holds one lock per shard it builds)."""


def build_sharded(
    out: str | os.PathLike[str],
    config: BuildConfig,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    batch: int = BATCH,
) -> ShardedLibrary:
    """Build ``config`` as a sharded library at ``out`` (see the module docstring).

    Shards are built ``batch`` at a time, every run of a batch on ``executor`` at once
    (options as ``build_library``'s), then the global index, then ``shards.json``, written
    last and atomically: an interrupted build resumes shard by shard, and a folder holding
    a sharded library of another config is refused unless ``force``.
    ``progress(done, total)`` counts runs over the whole build.
    """
    if not isinstance(config, BuildConfig):
        raise ConfigError(f"config must be a BuildConfig; got {type(config).__name__}.")
    batch = checks.positive_int(batch, "batch")
    root = make_root(out)
    shards = shard_configs(config)
    names = list(shards)
    total, done = len(config.runs()), 0

    def counted(finished: int, _: int) -> None:
        if progress is not None:
            progress(done + finished, total)

    with build_lock(root):
        _check_previous(root, config, force)
        start = time.perf_counter()
        libraries: list[Library] = []
        with executor_session(executor, workers, address):
            for i in range(0, len(names), batch):
                chunk = names[i : i + batch]
                targets = [(root / name, shards[name]) for name in chunk]
                n_runs = sum(len(c.runs()) for _, c in targets)
                libraries += build_libraries(
                    targets, workers=workers, executor=executor, address=address,
                    progress=counted, force=force,
                )  # fmt: skip
                done += n_runs
        meta = _write_global(root, config, names, libraries)
        write_json_atomic(root / SHARDS, meta)
        write_json_atomic(root / "build_timing.json", {"seconds": time.perf_counter() - start})
    return ShardedLibrary.load(root)


def _check_previous(root: Path, config: BuildConfig, force: bool) -> None:
    """Refuse a folder holding a sharded library of another config (unless ``force``), or a
    flat library."""
    if (root / MANIFEST).exists():
        raise LibraryError(
            f"{root} holds a flat library (manifest.json); build the sharded one in another folder."
        )
    if not (root / SHARDS).exists() or force:
        return
    previous = ShardedLibrary.load(root)
    if previous.config.fingerprint != config.fingerprint:
        raise LibraryError(
            f"{root} holds a sharded library of another config; choose a new --out folder or "
            "pass --force to rebuild its shards."
        )


def _write_global(
    root: Path, config: BuildConfig, names: list[str], libraries: list[Library]
) -> dict[str, Any]:
    """Write the global index over every shard's embeddings; return ``shards.json``."""
    ids, blocks = [], []
    for lib in libraries:
        ((size, layout_seed),) = lib.layouts()
        index = lib.layout_index(size, layout_seed, backend="exact")
        ids += list(index.ids)  # policy ids start with their layout: unique across shards
        blocks.append(index.embeddings)
    matrix = np.vstack(blocks)
    folder = inside(root, GLOBAL)
    folder.mkdir(exist_ok=True)
    with atomic_path(folder / "embeddings.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, embeddings=matrix)
    trees = global_trees(config)
    forest = AnnoyBackend.build(matrix, n_trees=trees, seed=config.seed, metric=DEFAULT_METRIC)
    with atomic_path(folder / "annoy.ann") as tmp:
        forest.save(tmp)
    write_json_atomic(
        folder / "index.json",
        {"ids": ids, "metric": forest.metric, "max_norm": forest.max_norm,
         "n_trees": trees, "search_k": GLOBAL_SEARCH_K, "seed": config.seed},
    )  # fmt: skip
    facts = AnnoyFacts(
        (folder / "annoy.ann").stat().st_size, matrix.shape[1] + 1, "angular", len(ids), trees
    )
    return {
        "sharded_schema_version": SHARDS_SCHEMA,
        "lever_gym_version": __version__,
        "config": config.to_dict(),
        "components": list(reward_components.names()),
        "shards": {
            name: {"manifest": sha256(root / name / MANIFEST), "policies": len(lib)}
            for name, lib in zip(names, libraries, strict=True)
        },
        "index_files": {rel: sha256(root / rel) for rel in GLOBAL_FILES},
        "annoy": {f"{GLOBAL}/annoy.ann": facts.to_dict()},
    }
