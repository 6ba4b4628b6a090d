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

from lever_gym.errors import LibraryError
from lever_gym.experiments.protocol import FAILURE_LAYOUT, STAGES, ProtocolConfig, Unit
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
    PAPER.with_options(support_mode="pessimistic"),
    PAPER.with_options(support_mode="pessimistic", strategy="exhaustive"),
    PAPER.with_options(operator="max"),
    GPI_TUNED.with_options(pool="layout"),
    *(
        PAPER.with_options(
            operator="gpi", strategy="exhaustive", pool=pool, rounds=rounds, guard=guard
        )
        for pool in ("parts", "layout")
        for rounds in (0, 10)
        for guard in (False, True)
    ),
)
"""The composed variants tuned on the tuning layouts: operator, support mode, strategy,
candidate pool, improvement rounds and the guard."""
K_GRID: tuple[ReuseConfig, ...] = tuple(
    config for k in (1, 3, 6) for config in (PAPER.with_options(k=k), GPI_TUNED.with_options(k=k))
)
"""Quality against k (candidates per part, retrieved by the index) on the tuning layouts:
the paper's sum rule and GPI with improvement, over the parts' candidates only."""

PROTOCOLS: dict[str, ProtocolConfig] = {
    "full": ProtocolConfig(name="full"),
    "quick": ProtocolConfig(
        name="quick",
        sizes=(8,),
        tuning_layouts=(0, 1),
        heldout_layouts=(1000, 1001, 1002),
        library_seeds=(0,),
        headroom=3,
        offline_units=1,
        offline_steps=300,
        quality_budgets=(1000, 10_000, 50_000),
        failure_case=False,
    ),
}
"""``full``: the issue's protocol (8x8 and 16x16, tuning layouts 0-4, held-out 1000-1019,
library seeds 0-2, six setups and ten headroom tasks per layout, fixed and random
starts). ``quick``: the same on 8x8 with fewer layouts, for a smoke run."""


def library_config(config: ProtocolConfig, library_seed: int) -> BuildConfig:
    """The library of one library seed: every layout it is evaluated on."""
    layouts = config.heldout_layouts
    if library_seed in config.tuning_library_seeds:
        layouts = config.tuning_layouts + layouts
    return BuildConfig(
        sizes=config.sizes, layout_seeds=tuple(layouts), gammas=config.gammas, seed=library_seed
    )


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
    libraries: dict[int | str, str] = {}
    needed = set(config.tuning_library_seeds) if {"tune", "k"} & set(stages) else set()
    needed |= set(config.library_seeds) if "report" in stages else set()
    for seed in sorted(needed):
        path = out / "libraries" / f"seed{seed}"
        build = library_config(config, seed)
        if not (path / "manifest.json").is_file() or _opened(path).config != build:
            build_library(path, build, workers=config.workers, executor=executor, address=address)
        libraries[seed] = str(path)
    if "report" in stages and config.failure_case:
        path = out / "libraries" / "failure"
        size, layout = FAILURE_LAYOUT
        build = BuildConfig(
            sizes=(size,), layout_seeds=(layout,), gammas=config.gammas,
            seed=config.library_seeds[0],
        )  # fmt: skip
        if not (path / "manifest.json").is_file():
            build_library(path, build, workers=config.workers, executor=executor, address=address)
        libraries["failure"] = str(path)
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
    run_jobs(
        run_unit, jobs, executor=executor, workers=config.workers, address=address,
        progress=(lambda done, total: progress("units", done, total)) if progress else None,
    )  # fmt: skip
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    for kind in ("tuning", "k", "rows", "quality"):
        if (out / kind).is_dir():
            write_rows(results / f"{kind}.jsonl.gz", read_rows(out / kind))
    return results


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
    libraries: dict[int | str, str],
    out: Path,
    grid: list[dict],
    kind: str,
) -> tuple[Any, ...]:
    library = libraries["failure" if unit.split == "failure" else unit.library_seed]
    return (asdict(config), asdict(unit), library, str(out), grid, kind)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as gzip-compressed JSON lines, byte-identical for identical rows."""
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data, mtime=0))


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows written by ``write_rows``."""
    text = gzip.decompress(Path(path).read_bytes()).decode()
    return [json.loads(line) for line in text.splitlines() if line]
