"""The benchmark: build the libraries a protocol needs, tune, report; one command.

``run(config, out)`` builds one library per library seed (deterministically, from the
package), evaluates the tuning grid on the tuning layouts and every method of
``METHODS`` on the held-out layouts, one process per unit, and merges the rows into
``out/results/{tuning,rows,quality}.jsonl.gz``. ``lever-gym report`` turns those files
into ``docs/results.md``. Interrupted runs resume (finished units and libraries are kept).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lever_gym.data.collect import DataConfig
from lever_gym.errors import LibraryError
from lever_gym.experiments.protocol import (
    COVERAGE_TIERS,
    FAILURE_LAYOUT,
    STAGES,
    ProtocolConfig,
    Unit,
)
from lever_gym.experiments.runner import read_rows, run_unit
from lever_gym.library.build.builder import build_library
from lever_gym.library.build.executor import run_jobs
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.store import Library
from lever_gym.reuse.config import PAPER, ReuseConfig

GPI_TUNED = PAPER.with_options(operator="gpi", rounds=10, guard=True)
"""GPI with improvement and the guard, over the parts' candidates (hybrid k = 3)."""
TUNING_GRID: tuple[ReuseConfig, ...] = (
    PAPER,
    PAPER.with_options(strategy="exhaustive"),
    ReuseConfig().with_options(rounds=0, guard=False),
    ReuseConfig().with_options(gammas=()),
    ReuseConfig().with_options(gammas=(0.99,)),
    ReuseConfig(),
    ReuseConfig().with_options(gammas=(0.99, 0.999, 0.9999)),
)
"""The composed variants tuned on the tuning layouts: the paper's rule, GPI over the layout
with and without improvement and the guard, and the discounted plans the improvement tries
beside the finite-horizon one."""
K_GRID: tuple[ReuseConfig, ...] = tuple(
    config for k in (1, 3, 6) for config in (PAPER.with_options(k=k), GPI_TUNED.with_options(k=k))
)
"""Quality against k (candidates per part, retrieved by the index) on the tuning layouts:
the paper's sum rule and GPI with improvement, over the parts' candidates only."""

PROTOCOLS: dict[str, ProtocolConfig] = {
    "full": ProtocolConfig(name="full"),
    "quick": ProtocolConfig(
        name="quick", sizes=(8,), tuning_layouts=(0, 1), heldout_layouts=(1000, 1001),
        library_seeds=(0,), signed=4, offline_layouts=1, offline_signed=1, offline_steps=300,
        coverage_layouts=1, quality_budgets=(1000, 10_000, 50_000), failure_case=False,
    ),
}  # fmt: skip
"""``full``: the results page's protocol (8x8 and 16x16, tuning layouts 0-4, held-out
8x8 layouts 1000-1011 and 16x16 layouts 1000-1003, library seeds 0 and 1, the six setups
and 24 tasks of the declared distribution per layout, fixed and random starts, the d3rlpy
learners on 12 8x8 units, the coverage tiers on six 8x8 layouts). ``quick``: the same on
8x8 with fewer layouts and tasks, for a smoke run."""


def library_config(config: ProtocolConfig, library_seed: int, size: int) -> BuildConfig:
    """The library of one library seed and size: every layout of that size it is evaluated
    on (tuning layouts too for a tuning seed)."""
    layouts = config.layouts("heldout", size) if library_seed in config.library_seeds else ()
    if library_seed in config.tuning_library_seeds:
        layouts = tuple(config.tuning_layouts) + tuple(layouts)
    return BuildConfig(
        sizes=(size,), layout_seeds=tuple(layouts), gammas=config.gammas, seed=library_seed
    )


def tier_config(config: ProtocolConfig, tier: str) -> BuildConfig:
    """The library of one coverage tier (``COVERAGE_TIERS``) on the coverage layouts."""
    spec = COVERAGE_TIERS[tier]
    return BuildConfig(
        sizes=(8,), layout_seeds=tuple(config.heldout_layouts[: config.coverage_layouts]),
        gammas=config.gammas, algorithm=str(spec["algorithm"]),
        data=DataConfig(epsilon=float(spec["epsilon"])),  # type: ignore[arg-type]
        seed=config.library_seeds[0],
    )  # fmt: skip


def _build(path: Path, build: BuildConfig, config: ProtocolConfig, **where: Any) -> str:
    """The library of ``build`` at ``path``, built unless it is there already."""
    if not (path / "manifest.json").is_file() or _opened(path).config != build:
        build_library(path, build, workers=config.workers, **where)
    return str(path)


def run(
    config: ProtocolConfig,
    out: str | Path,
    *,
    stages: tuple[str, ...] = STAGES,
    executor: str = "local",
    address: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Build the libraries, run the stages, merge the rows; return the results folder.

    Library runs and benchmark units go to ``executor`` (``local`` or ``ray``, see
    ``lever_gym.library.build.executor``): one task per policy run, then one per unit."""
    out = Path(out)
    where = {"executor": executor, "address": address}
    libraries: dict[Any, str] = {}
    needed = set(config.tuning_library_seeds) if {"tune", "k"} & set(stages) else set()
    needed |= set(config.library_seeds) if "report" in stages else set()
    for seed in sorted(needed):
        for size in config.sizes:
            path = out / "libraries" / f"seed{seed}-{size}x{size}"
            libraries[seed, size] = _build(path, library_config(config, seed, size), config,
                                           **where)  # fmt: skip
    if "report" in stages and config.failure_case:
        size, layout = FAILURE_LAYOUT
        build = BuildConfig(
            sizes=(size,), layout_seeds=(layout,), gammas=config.gammas,
            seed=config.library_seeds[0],
        )  # fmt: skip
        libraries["failure"] = _build(out / "libraries" / "failure", build, config, **where)
    if "coverage" in stages:
        for tier in COVERAGE_TIERS:
            path = out / "libraries" / f"coverage-{tier}"
            libraries[f"coverage-{tier}"] = _build(path, tier_config(config, tier), config,
                                                   **where)  # fmt: skip
    jobs: list[tuple[Any, ...]] = []
    if "tune" in stages:
        grid = [spec.to_dict() for spec in TUNING_GRID]
        jobs += [_job(config, u, libraries, out, grid, "tuning") for u in config.units("tuning")]
    if "k" in stages:
        grid = [spec.to_dict() for spec in K_GRID]
        jobs += [_job(config, u, libraries, out, grid, "k") for u in config.units("tuning")]
    if "report" in stages:
        for split in ("heldout", "failure"):
            jobs += [_job(config, u, libraries, out, [], "rows") for u in config.units(split)]
    if "coverage" in stages:
        jobs += [_job(config, u, libraries, out, [], "coverage") for u in config.units("coverage")]
    run_jobs(
        run_unit, jobs, executor=executor, workers=config.workers, address=address,
        progress=(lambda done, total: progress("units", done, total)) if progress else None,
    )  # fmt: skip
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    write_rows(results / "builds.jsonl.gz", [_build_row(name, Path(p)) for name, p in
                                             libraries.items()])  # fmt: skip
    for kind in ("tuning", "k", "rows", "quality", "coverage"):
        if (out / kind).is_dir():
            write_rows(results / f"{kind}.jsonl.gz", read_rows(out / kind))
    return results


def _build_row(name: Any, path: Path) -> dict[str, Any]:
    """What building one of the benchmark's libraries took: its wall-clock (the build's
    ``build_timing.json``), its layouts and policies."""
    lib = _opened(path)
    timing = json.loads((path / "build_timing.json").read_text())
    return {"library": str(name), "sizes": list(lib.config.sizes),
            "layouts": len(lib.layouts()), "policies": len(lib),
            "seconds": float(timing["seconds"])}  # fmt: skip


def _opened(path: Path) -> Library:
    """The benchmark's library at ``path``, or a ``LibraryError`` saying how to rebuild it."""
    try:
        return Library.load(path)
    except LibraryError as e:
        raise LibraryError(
            f"{e} The benchmark builds its libraries from its protocol: delete {path} and "
            "run again to rebuild it (same bytes for the same protocol)."
        ) from e


def _job(
    config: ProtocolConfig,
    unit: Unit,
    libraries: dict[Any, str],
    out: Path,
    grid: list[dict],
    kind: str,
) -> tuple[Any, ...]:
    if unit.split in ("failure",) or unit.split.startswith("coverage"):
        library = libraries[unit.split]
    else:
        library = libraries[unit.library_seed, unit.size]
    return (asdict(config), asdict(unit), library, str(out), grid, kind)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as gzip-compressed JSON lines, byte-identical for identical rows."""
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data, mtime=0))


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows written by ``write_rows``."""
    text = gzip.decompress(Path(path).read_bytes()).decode()
    return [json.loads(line) for line in text.splitlines() if line]
