"""The staging area of a library build: lock, fingerprint, ledger, temporary files.

A build keeps ``<library>/.build/`` while it runs::

    lock                 held (``flock``) for the whole build: a second build is refused
    build.json           the config being built and its fingerprint (``BuildConfig.fingerprint``)
    done/<policy>.json   the sha256 of each finished policy's ``policy.json``, written before
                         its folder is renamed into place
    staging-*            policy folders being written

A build resumes only the work of its own fingerprint: a folder holding an interrupted build
or a finished library of another config is refused (``--force`` starts over), so is a
non-empty folder holding neither (even with ``--force``), and a finished policy is kept
only if its ``policy.json`` matches the ledger (or the manifest of a finished library) and
every file matches ``policy.json``. Everything under ``.build`` and
every temporary file is removed when the build finishes, and stale ones when the next starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lever_gym.checks import json_file
from lever_gym.errors import LeverGymError, LibraryError
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import SHA256, is_temporary, make_folder, write_json_atomic
from lever_gym.library.format.manifest import MANIFEST, check_manifest, read_manifest

BUILD = ".build"
OWN = ("lever", "index", MANIFEST, "README.md", "build_timing.json", BUILD)
"""What a build writes at the library root; ``--force`` removes these and nothing else, and
only from a folder holding a library or a build."""


def make_root(out: object) -> Path:
    """The library folder ``out``, created if needed (``LibraryError`` if it cannot be)."""
    if not isinstance(out, str | os.PathLike):
        raise LibraryError(f"the library folder must be a path; got {out!r}.")
    return make_folder(Path(out).resolve(), "create the library folder")


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold the build lock of ``root`` for the block; ``LibraryError`` if another build
    holds it. The lock dies with its process (a killed build does not block the next)."""
    path = root / BUILD / "lock"
    _no_link(path.parent)
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as e:
        raise LibraryError(f"cannot make the staging folder {path.parent} ({e}).") from e
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LibraryError(
                f"another build is writing the library at {root} (it holds {path}); wait for "
                "it to finish or choose another --out folder."
            ) from None
        if path.exists() and os.stat(path).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)  # a finishing build removed that lock file: take the new one
    else:
        raise LibraryError(f"could not lock {path}; another build keeps replacing it.")
    try:
        yield
    finally:
        os.close(fd)


def _no_link(path: Path) -> None:
    """Refuse a link where a build keeps its own files (it would write through it)."""
    if path.is_symlink():
        raise LibraryError(
            f"{path} is a link; a build keeps its staging files in the library folder itself. "
            "Remove the link."
        )


def remove_temporary(root: Path) -> list[Path]:
    """Delete the staging folders and temporary files a killed build left; return them."""
    stale = [*root.glob(".staging-*"), *(root / BUILD).glob("staging-*")]
    stale += [p for p in root.rglob(".*.tmp") if is_temporary(p) and p.is_file()]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return stale


def _differences(old: Any, new: Any, at: str = "") -> list[str]:
    """The fields where two config dicts differ, as ``name: old -> new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{at}{k}.")]
    return [] if old == new else [f"{at[:-1]}: {old!r} -> {new!r}"]


def _refuse_other(root: Path, what: str, old: dict[str, Any], config: BuildConfig) -> LibraryError:
    diff = "; ".join(_differences(old, config.to_dict())[:6]) or "another lever_gym version"
    return LibraryError(
        f"{root} holds {what} of another config ({diff}); nothing was changed. Build with "
        "that config to resume it, choose a new --out folder, or pass --force to start over "
        "(deletes its policies and index)."
    )


def prepare(root: Path, config: BuildConfig, force: bool) -> dict[str, str]:
    """Check that ``root`` holds nothing but work of ``config`` (or clear it, ``force``), record
    the fingerprint, and return the ledger: dataset id -> sha256 of each finished
    ``policy.json``. Call with the lock held."""
    build_json, done = root / BUILD / "build.json", root / BUILD / "done"
    for path in (build_json, done):
        _no_link(path)
    if not (root / MANIFEST).exists() and not build_json.exists():
        others = sorted(
            p.name for p in root.iterdir()
            if p.name != BUILD and not p.name.startswith(".staging-") and not is_temporary(p)
        )  # fmt: skip
        if others:
            raise LibraryError(
                f"{root} is not empty ({', '.join(others[:4])}) and holds no lever_gym "
                "library or build to resume; nothing was changed (--force neither: it only "
                "replaces a library or build). Choose an empty or new --out folder."
            )
    if force:
        for name in OWN[:-1]:
            target = root / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        shutil.rmtree(done, ignore_errors=True)
        build_json.unlink(missing_ok=True)
    ledger: dict[str, str] = {}
    if (root / MANIFEST).exists():
        try:
            previous, records, _ = check_manifest(read_manifest(root), root / MANIFEST)
        except LeverGymError as e:
            raise LibraryError(f"{e} Or pass --force to rebuild it from scratch.") from e
        if previous.fingerprint != config.fingerprint:
            raise _refuse_other(root, "a library", previous.to_dict(), config)
        ledger = {r.dataset_id: r.files[f"{r.dataset_id}/policy.json"] for r in records}
    if build_json.exists():
        state = json_file(build_json.read_bytes(), str(build_json))
        if not isinstance(state, dict) or state.get("fingerprint") != config.fingerprint:
            old = state.get("config") if isinstance(state, dict) else None
            raise _refuse_other(root, "an interrupted build", old or {}, config)
    else:
        write_json_atomic(
            build_json, {"fingerprint": config.fingerprint, "config": config.to_dict()}
        )
    done.mkdir(exist_ok=True)
    for entry in sorted(done.glob("*.json")):
        digest = json_file(entry.read_bytes(), str(entry))
        if not isinstance(digest, str) or not SHA256.fullmatch(digest):
            raise LibraryError(f"{entry} is not a sha256 digest; delete it or pass --force.")
        ledger[entry.stem.replace("+", "/")] = digest
    return ledger


def ledger_entry(root: Path, dataset_id: str) -> Path:
    """Where the ledger keeps the ``policy.json`` digest of a finished policy."""
    return root / BUILD / "done" / f"{dataset_id.replace('/', '+')}.json"


def finish(root: Path) -> None:
    """Remove the staging area of a finished build (the lock file last, still held)."""
    folder = root / BUILD
    for path in sorted(folder.iterdir()):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.name != "lock":
            path.unlink()
    (folder / "lock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a build starting now may have made a new lock
        folder.rmdir()
