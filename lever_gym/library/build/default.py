"""The default library: its config, the digests shipped with the package, and installing it.

``install_default()`` rebuilds the default library from the package (no download) into the
user data folder and checks every file against ``default_library.json``, shipped inside
the package: the sha256 of each file and a summary of its values (per array: shape, sum
and sum of squares; per JSON file: its parsed content). A file whose bytes differ (a
platform whose floating point or compiler differs) passes if its values agree within
``TOLERANCE``; the report names every such file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lever_gym.errors import LibraryError
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import sha256, write_json_atomic
from lever_gym.library.locate import user_library

DEFAULT_CONFIG = BuildConfig()
"""The default library's build config (``lever-gym build-library`` with no options)."""
SHIPPED = Path(__file__).with_name("default_library.json")
TOLERANCE = 1e-6
"""Relative tolerance on value summaries of files whose bytes differ."""
VOLATILE = ("build_timing.json", "timing.json")
"""Files holding measured times: neither checksummed nor compared."""


def summarise(path: Path) -> Any:
    """A platform-robust summary of a library file's values (an HDF5 file's per field, over
    its episodes)."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {k: _array_summary(npz[k]) for k in sorted(npz.files)}
    if path.suffix == ".hdf5":
        import h5py

        fields: dict[str, list[np.ndarray]] = {}

        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and item.dtype.kind in "biuf":
                field = name.split("/", 1)[-1]  # episode_<i>/rewards -> rewards
                fields.setdefault(field, []).append(np.ravel(item[()]))

        with h5py.File(path, "r") as f:
            f.visititems(visit)
        return {k: _array_summary(np.concatenate(v)) for k, v in sorted(fields.items())}
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return _strip_digests(data)
    return {"bytes": path.stat().st_size}


def _array_summary(a: np.ndarray) -> list[Any]:
    x = np.asarray(a, dtype=np.float64)
    return [list(x.shape), float(x.sum()), float((x * x).sum())]


def _strip_digests(data: Any) -> Any:
    """JSON without sha256 digests and version strings (they follow from the bytes)."""
    if isinstance(data, dict):
        return {
            k: _strip_digests(v)
            for k, v in data.items()
            if k not in ("files", "index_files", "lever_gym_version", "minari_version")
        }
    if isinstance(data, list):
        return [_strip_digests(v) for v in data]
    return data


def digest(root: Path) -> dict[str, Any]:
    """The shipped form of the library at ``root``: config and, per file, sha256 and values."""
    files = sorted(p for p in Path(root).rglob("*") if p.is_file() and p.name not in VOLATILE)
    return {
        "config": DEFAULT_CONFIG.to_dict(),
        "files": {
            p.relative_to(root).as_posix(): {"sha256": sha256(p), "values": summarise(p)}
            for p in files
        },
    }


def write_shipped(root: Path) -> None:
    """Record the library at ``root`` as the shipped default (run after rebuilding it)."""
    write_json_atomic(SHIPPED, digest(root))


@dataclass(frozen=True)
class InstallReport:
    """What ``install_default`` found: files equal to the bit, equal within tolerance, not."""

    root: Path
    identical: int
    within_tolerance: tuple[str, ...]
    different: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every shipped file is present and equal (to the bit or within tolerance)."""
        return not self.different and not self.missing

    def __str__(self) -> str:
        lines = [
            f"default library at {self.root}: {self.identical} file(s) identical to the shipped "
            f"digests, {len(self.within_tolerance)} equal within a relative {TOLERANCE:g}, "
            f"{len(self.different)} different, {len(self.missing)} missing"
        ]
        lines += [f"  bytes differ, values agree: {p}" for p in self.within_tolerance[:20]]
        lines += [f"  DIFFERENT: {p}" for p in self.different[:20]]
        lines += [f"  MISSING: {p}" for p in self.missing[:20]]
        return "\n".join(lines)


def verify_default(root: Path) -> InstallReport:
    """Compare the library at ``root`` with the shipped digests."""
    try:
        shipped = json.loads(SHIPPED.read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        raise LibraryError(f"the package's {SHIPPED.name} is unreadable ({e}); reinstall.") from e
    identical, close, different, missing = 0, [], [], []
    for rel, want in shipped.items():
        path = root / rel
        if not path.is_file():
            missing.append(rel)
        elif sha256(path) == want["sha256"]:
            identical += 1
        elif _close(summarise(path), want["values"]):
            close.append(rel)
        else:
            different.append(rel)
    return InstallReport(root, identical, tuple(close), tuple(different), tuple(missing))


def install_default(target: Path | None = None, workers: int = 1) -> InstallReport:
    """Rebuild the default library into ``target`` (default: the user data folder) and
    verify it; raise ``LibraryError`` if a file differs beyond the tolerance."""
    from lever_gym.library.build.builder import build_library

    root = Path(target) if target is not None else user_library()
    build_library(root, DEFAULT_CONFIG, workers=workers)
    report = verify_default(root)
    if not report.ok:
        raise LibraryError(f"{report}\nThe rebuilt default library does not match the package.")
    return report


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b
