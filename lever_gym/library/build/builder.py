"""Building a library: train every run, write each policy atomically, index every layout.

A build holds the folder's lock, checks that the folder holds nothing but work of its own
config (``lever_gym.library.build.staging``), writes every policy folder in a staging area and
renames it into place after recording its checksum, and replaces the manifest atomically
at the end. An interrupted build resumes: finished policies whose files still match are
kept, the rest are built, and the result is byte for byte a clean build of the config
(``timing.json`` and ``build_timing.json`` aside). Every dataset is opened through the same
checks as ``Library.dataset``, so a rebuild never runs code from, or indexes, altered data.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import check_model_size
from lever_gym.errors import ConfigError, LeverGymError
from lever_gym.library.build import runs
from lever_gym.library.build.executor import run_jobs
from lever_gym.library.build.indexing import write_indexes, write_namespaces
from lever_gym.library.build.readme import library_readme
from lever_gym.library.build.staging import (
    BUILD,
    build_lock,
    finish,
    make_root,
    prepare,
    remove_temporary,
)
from lever_gym.library.format.config import (
    NAMESPACE,
    BuildConfig,
    PolicyRecord,
    Run,
    policy_id,
)
from lever_gym.library.format.files import (
    atomic_path,
    write_json_atomic,
)
from lever_gym.library.format.manifest import MANIFEST, SCHEMA_VERSION
from lever_gym.library.store import Library
from lever_gym.version import __version__


def build_library(
    out: str | os.PathLike[str],
    config: BuildConfig | None = None,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Library:
    """Train every run of ``config`` and write the library at ``out``.

    Runs go to ``executor`` (``local``: ``workers`` processes; ``ray``: one task per run on
    the cluster at ``address``, see ``lever_gym.library.build.executor``); the library is the same,
    byte for byte, on every executor. Resumes an interrupted build of the same config
    (finished, unaltered policies are kept; the result is byte for byte a clean build). A
    folder holding a library or an interrupted build of another config is refused unless
    ``force`` (which deletes what a build wrote there and starts over); a non-empty folder
    holding neither, or one another build is writing, is refused. A failed build leaves the
    previous manifest in place. ``progress(done, total)`` is called per run. Raises
    ``LibraryError``, ``ConfigError`` or ``LayoutError`` before any training when the folder
    or config cannot be used.
    """
    config = BuildConfig() if config is None else config
    return build_libraries(
        [(out, config)], workers=workers, executor=executor, address=address,
        progress=progress, force=force,
    )[0]  # fmt: skip


def build_libraries(
    targets: Sequence[tuple[str | os.PathLike[str], BuildConfig]],
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> list[Library]:
    """``build_library`` for each ``(out, config)`` of ``targets``, every run of every target
    sent to the executor at once (one pool or cluster session for all); each folder is
    locked, checked and finished as ``build_library`` does. ``progress`` counts runs over
    all targets."""
    for _, config in targets:
        if not isinstance(config, BuildConfig):
            raise ConfigError(f"config must be a BuildConfig; got {type(config).__name__}.")
        for size, layout_seed in dict.fromkeys((r.size, r.layout_seed) for r in config.runs()):
            check_model_size(Layout.generate(size, layout_seed))  # refused before any training
    workers = checks.positive_int(workers, "workers")
    checks.boolean(force, "force")
    roots = [make_root(out) for out, _ in targets]
    with contextlib.ExitStack() as stack:
        jobs = []
        for root, (_, config) in zip(roots, targets, strict=True):
            new_stage = not (root / BUILD).exists()
            stack.enter_context(build_lock(root))
            try:
                ledger = prepare(root, config, force)
            except LeverGymError:
                if new_stage:
                    finish(root)
                raise
            remove_temporary(root)
            names = reward_components.names()
            jobs += [
                (str(root), config.to_dict(), asdict(run), _ledger_of(ledger, config, run), names)
                for run in config.runs()
            ]
        start = time.perf_counter()
        per_run = iter(
            run_jobs(
                runs.build_run, jobs, executor=executor, workers=workers, address=address,
                progress=progress,
            )
        )  # fmt: skip
        libraries = []
        for root, (_, config) in zip(roots, targets, strict=True):
            records = [r for _ in config.runs() for r in next(per_run)]
            libraries.append(_finish_library(root, config, records, start))
    return libraries


def _finish_library(
    root: Path, config: BuildConfig, records: list[dict[str, Any]], start: float
) -> Library:
    """Index the built policies, write the manifest (atomically) and README, end the build."""
    built = [PolicyRecord.from_dict(r) for r in records]
    index_files, annoy = write_indexes(root, built, config)
    index_files |= write_namespaces(root, config)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "lever_gym_version": __version__,
        "config": config.to_dict(),
        "components": list(reward_components.names()),
        "policies": records,
        "index_files": index_files,
        "annoy": annoy,
    }
    lib = Library(root, manifest)
    write_json_atomic(root / MANIFEST, manifest)
    with atomic_path(root / "README.md") as tmp:  # replaces a link, never writes through
        tmp.write_text(library_readme(lib))
    write_json_atomic(root / "build_timing.json", {"seconds": time.perf_counter() - start})
    finish(root)
    return lib


def _ledger_of(ledger: dict[str, str], config: BuildConfig, run: Run) -> dict[str, str]:
    """The ledger entries of ``run``'s policies."""
    ids = [
        f"{NAMESPACE}/{policy_id(run, config.algorithm, e)}-v0" for e in config.snapshots_of(run)
    ]
    return {i: ledger[i] for i in ids if i in ledger}
