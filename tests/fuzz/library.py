"""The corruption suite: tampered copies of a small library, opened and used.

Every input is one tampering of a fresh copy of ``fuzz_library()``: a byte flipped, a file
truncated, deleted or grown, a manifest field deleted or replaced, a path pointing outside
the library (with the real sha256 of its target), a file replaced by a link to a copy
outside, a ``metadata.json`` that makes Minari run a command, a garbage Annoy file or an
altered array file with a matching checksum. The copy is then loaded, verified, and every
file used (optionally rebuilt), watching for code run from it and for files opened outside
it.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from lever_gym.data.storage import empirical_from_dataset
from lever_gym.library.build.builder import build_library
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.tables import own_values
from tests.data.test_storage import malicious_metadata
from tests.fuzz.outcome import Outcome, OutsideReads, attempt
from tests.library.tamper import copy_library, reseal, tiny_config

KINDS = ("flip", "truncate", "delete", "append", "manifest", "traversal", "symlink")
KINDS += ("metadata", "annoy", "resealed")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["../x", "/etc/passwd", "lever", ".."]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
MUTATIONS = st.tuples(
    st.sampled_from(KINDS), st.integers(0, 2**32), st.integers(0, 2**32), JSON, st.booleans()
)


@functools.cache
def fuzz_library() -> Library:
    """The tiny library, built once per process in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="lever-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    return build_library(folder / "library", tiny_config())


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _walk(node: Any, pick: int) -> tuple[Any, Any]:
    """A container inside ``node`` and one of its keys, chosen by the digits of ``pick``."""
    parent, key = None, None
    while isinstance(node, dict | list) and len(node) and pick:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, keys[pick % len(keys)]
        node, pick = node[key], pick // max(len(keys), 2)
    return parent, key


def tamper(root: Path, outside: Path, marker: Path, x: tuple) -> tuple[str | None, bool]:
    """Apply mutation ``x`` to the library at ``root``; return the listed file it altered
    without resealing the manifest (``None``: none, or resealed) and whether to rebuild."""
    kind, which, where, value, flag = x
    files = _files(root)
    rel = files[which % len(files)]
    path = root / rel
    data = path.read_bytes()
    lib = fuzz_library()
    listed = {f for r in lib.records for f in r.files} | set(lib.manifest["index_files"])
    altered = rel if rel in listed or rel == "manifest.json" else None
    if kind == "flip" and data:
        buf = bytearray(data)
        buf[where % len(buf)] ^= 1 << (where % 8)
        path.write_bytes(bytes(buf))
    elif kind == "truncate":
        path.write_bytes(data[: where % max(len(data), 1)])
    elif kind == "delete":
        path.unlink()
    elif kind == "append":
        path.write_bytes(data + where.to_bytes(5, "little"))
    elif kind in ("manifest", "traversal"):
        original = json.loads((root / "manifest.json").read_text())
        manifest = json.loads((root / "manifest.json").read_text())
        parent, key = _walk(manifest, which)
        if kind == "traversal":
            target = ["../outside/secret.txt", str(outside / "secret.txt"), "/etc/passwd"][
                where % 3
            ]
            digest = hashlib.sha256(Path(outside / "secret.txt").read_bytes()).hexdigest()
            record = manifest["policies"][where % len(manifest["policies"])]
            choice = where % 4
            if choice == 0:
                record["files"][target] = digest
            elif choice == 1:
                record["dataset_id"] = target
            elif choice == 2:
                manifest["index_files"][target] = digest
            else:
                record["id"] = manifest["policies"][0]["id"]
        elif parent is None:
            manifest = value
        elif flag:
            parent[key] = value
        elif isinstance(parent, dict):
            del parent[key]
        else:
            parent.append(parent[key])
        (root / "manifest.json").write_text(json.dumps(manifest))
        free = isinstance(manifest, dict) and isinstance(manifest.get("lever_gym_version"), str)
        same = free and {**manifest, "lever_gym_version": ""} == {
            **original,
            "lever_gym_version": "",
        }
        altered = None if same else "manifest.json"  # the version is free text
    elif kind == "symlink":
        (outside / "moved").mkdir(exist_ok=True)
        victim = path.parent if flag and path.parent != root else path
        moved = outside / "moved" / victim.name
        shutil.move(victim, moved)
        victim.symlink_to(moved)
        altered = None  # the checksums still match: only the path check can refuse it
    elif kind == "metadata":
        record = lib.records[which % len(lib.records)]
        malicious_metadata(root / record.directory, marker)
        altered = f"{record.directory}/data/metadata.json"
        if flag:
            _reseal_record(root, record.directory, altered)
            altered = None
    elif kind == "annoy":
        ann = root / "index/8x8-s0/annoy.ann"
        size = ann.stat().st_size
        nodes = np.fromfile(ann, dtype="<i4")
        if flag:
            nodes = np.random.default_rng(where).integers(-(2**31), 2**31, size // 4)
        else:
            nodes[which % len(nodes)] = np.int32(where % 2**32 - 2**31)
        nodes.astype("<i4").tofile(ann)
        reseal(root, "index/8x8-s0/annoy.ann")
        altered = None
    elif kind == "resealed" and data:
        buf = bytearray(data)
        buf[where % len(buf)] ^= 1 << (where % 8)
        path.write_bytes(bytes(buf))
        if rel in listed:
            reseal(root, rel)
        altered = None
    return altered, kind != "manifest" and flag and which % 3 == 0


def _reseal_record(root: Path, directory: str, rel: str) -> None:
    """Make ``policy.json`` and the manifest agree with file ``rel`` of a policy."""
    policy = root / directory / "policy.json"
    record = json.loads(policy.read_text())
    record["files"][rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    policy.write_text(json.dumps(record))
    reseal(root, rel)
    reseal(root, f"{directory}/policy.json")


def exercise(root: Path, rebuild: bool) -> bool:
    """Load, verify and use every file of the library at ``root``; whether ``verify`` passed."""
    lib = Library.load(root)
    report = lib.verify()
    for record in lib.records:
        own_values(lib, record)
        lib.train_seconds(record)
        model = lib.model(record)
        assert lib.policy(record)(model.space.observe(model.start_state)) in range(4)
        empirical_from_dataset(lib.dataset(record))
    for size, seed in lib.layouts():
        for backend in ("annoy", "exact"):
            lib.layout_index(size, seed, backend).query(Objective.named("PathGold"))
        lib.empirical(size, seed)
    lib.predictor()
    LeverComposedPolicy.from_library(lib, "PathGold", layout=(8, 0))
    if rebuild:
        build_library(root, tiny_config())
    return report.ok


def feed_library(x: tuple) -> Outcome:
    """Tamper with a fresh copy of the fuzz library and use it."""
    work = Path(tempfile.mkdtemp(prefix="lever-tamper-"))
    try:
        root = copy_library(fuzz_library().root, work / "library")
        outside = work / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("not a library file")
        marker = work / "code-ran"
        altered, rebuild = tamper(root, outside, marker, x)
        reads = OutsideReads.get()
        reads.watch(outside, Path("/etc/passwd"))
        verified = {"ok": True}
        outcome = attempt(lambda: verified.update(ok=exercise(root, rebuild)))
        seen = reads.stop()
        if marker.exists():
            return Outcome("code ran", f"{x[0]}: the metadata's command ran")
        if seen:
            return Outcome("outside the root", f"{x[0]}: opened {seen[0]}")
        if outcome.label == "accepted" and not verified["ok"]:
            return Outcome("verify reported")
        if outcome.label == "accepted" and altered is not None:
            return Outcome("silent", f"{x[0]} of {altered} accepted")
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)
