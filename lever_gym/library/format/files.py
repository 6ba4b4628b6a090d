"""File integrity and atomic writes: paths kept inside a library, sha256-checked reads,
and writes replaced in one rename."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lever_gym.errors import LibraryError

SHA256 = re.compile(r"[0-9a-f]{64}")
"""A sha256 digest as the manifest writes it: 64 lowercase hex digits."""
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
"""One component of a library path: letters, digits, ``._-``; no ``..``, no hidden names."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plain_parts(root: Path, rel: object) -> list[str]:
    """The names of the manifest path ``rel``, which must be a relative POSIX path of plain
    names (``NAME``: no absolute path, no ``..``, no hidden or empty component); anything
    else raises ``LibraryError``. A check on the text alone: ``inside`` also resolves links."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or not all(NAME.fullmatch(p) and p != ".." for p in parts):
        raise LibraryError(
            f"the library at {root} lists the path {rel!r}; library paths are relative, of "
            "plain names joined by '/' (no absolute path, '..' or hidden name). The manifest "
            "was edited: restore it or rebuild the library."
        )
    return parts


def inside(root: Path, rel: object) -> Path:
    """The file that the manifest path ``rel`` names under ``root``, resolved: ``rel`` must
    pass ``plain_parts`` and still lie inside ``root`` once symlinks are resolved; anything
    else raises ``LibraryError`` before the file is touched."""
    parts = plain_parts(root, rel)
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise LibraryError(
            f"{rel!r} in the library at {root} is a link to {path}, outside the library; "
            "lever_gym reads nothing outside a library's folder. Replace the link by the file."
        )
    return path


def _missing(root: Path, rel: str) -> LibraryError:
    return LibraryError(
        f"{rel} is missing from the library at {root}; run Library.verify() and restore the "
        "file or rebuild the library."
    )


def _altered(root: Path, rel: str) -> LibraryError:
    return LibraryError(
        f"{root / rel} differs from the manifest's sha256 (edited or truncated); rebuild the "
        "library or restore the file."
    )


def checked_bytes(root: Path, rel: str, digest: str) -> bytes:
    """The bytes of library file ``rel``, read once and checked against ``digest`` before
    anything parses them (``LibraryError`` if missing, outside the root or altered)."""
    path = inside(root, rel)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _missing(root, rel) from e
    if hashlib.sha256(data).hexdigest() != digest:
        raise _altered(root, rel)
    return data


def checked_file(root: Path, rel: str, digest: str) -> Path:
    """The path of library file ``rel`` after checking it against ``digest``, for readers
    that need a path (Annoy memory-maps its file); ``LibraryError`` as ``checked_bytes``."""
    path = inside(root, rel)
    if not path.is_file():
        raise _missing(root, rel)
    if sha256(path) != digest:
        raise _altered(root, rel)
    return path


READABLE = 0o644
"""Mode of the files written here (``mkstemp`` creates them owner-only)."""


def make_folder(folder: Path, purpose: str) -> Path:
    """``folder``, created with its parents if needed; ``LibraryError`` saying it cannot
    ``purpose`` there (e.g. "create the library folder") if it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LibraryError(
            f"cannot {purpose} {folder} ({e.strerror or e}); choose a folder you can write."
        ) from e
    return folder


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(fd, READABLE)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of ``write_json_atomic`` or ``atomic_path``."""
    return path.name.startswith(".") and path.name.endswith(".tmp")
