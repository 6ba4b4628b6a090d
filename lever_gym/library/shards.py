"""Sharded libraries: one library per layout under a top-level manifest, one global index.

A library over thousands of layouts is kept as shards, each a complete library of one
layout (its own ``manifest.json``, Minari datasets and index, loadable alone with
``Library.load``), under a folder that holds::

    shards.json                   schema, lever_gym version, the whole build config, the
                                  reward components, and per shard the sha256 of its
                                  manifest and its policy count;
                                  the sha256 of the global index files and its Annoy facts
    shards/<N>x<N>-s<layout>/     a library (``Library``) of that layout only
    global/                       one Annoy index over every policy of every shard
        embeddings.npz            the policies' embeddings, in shard order
        index.json                policy ids (``8x8-s0/...``), metric, max_norm, trees, seed

``ShardedLibrary.load`` reads ``shards.json`` only; a shard's manifest is read (and checked
against its sha256) the first time the shard is asked for, so opening costs the same for ten
layouts or a hundred thousand. A shard's policies are byte for byte those of a flat build
of the same config (every seed derives from the config's master seed and the policy's
layout, never from the other layouts).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.checks import json_file
from lever_gym.errors import LeverGymError, LibraryError
from lever_gym.library.format.annoy_file import AnnoyFacts, check_annoy_file
from lever_gym.library.format.config import BuildConfig, layout_name
from lever_gym.library.format.files import (
    SHA256,
    checked_bytes,
    checked_file,
    inside,
)
from lever_gym.library.format.manifest import MANIFEST, component_columns, embedding_dim
from lever_gym.library.index import DEFAULT_METRIC, AnnoyBackend
from lever_gym.library.locate import resolve
from lever_gym.library.store import Library
from lever_gym.objective import Objective

SHARDS = "shards.json"
SHARDS_SCHEMA = 2
FIELDS = ("sharded_schema_version", "lever_gym_version", "config", "components", "shards",
          "index_files", "annoy")  # fmt: skip
GLOBAL = "global"
GLOBAL_FILES = tuple(f"{GLOBAL}/{n}" for n in ("annoy.ann", "embeddings.npz", "index.json"))
GLOBAL_TREES = 50
"""Fewest trees of the global index's forest (more if the library's ``n_trees`` asks)."""
GLOBAL_SEARCH_K = 5000
"""Annoy's ``search_k`` over a global index of ``GLOBAL_TREES`` or more trees: recall@10 0.986
at 0.744 ms a query over 10^6 vectors on 2 cores (``benchmarks/results/retrieval.md``,
angular-mips), the scale sharded libraries are for."""
SEARCH_PER_TREE = 1000
"""Annoy's ``search_k`` per tree over a global index whose ``index.json`` names none (one
written before ``GLOBAL_TREES``, with as many trees as the library's ``n_trees``)."""


def global_trees(config: BuildConfig) -> int:
    """Trees of the global index a sharded build of ``config`` writes."""
    return max(config.n_trees, GLOBAL_TREES)


def shard_configs(config: BuildConfig) -> dict[str, BuildConfig]:
    """Each shard's folder (relative to the root) and its config: ``config`` restricted to
    one size and layout seed."""
    return {
        f"shards/{layout_name(n, s)}": replace(config, sizes=(n,), layout_seeds=(s,))
        for n in config.sizes
        for s in config.layout_seeds
    }


@dataclass(frozen=True)
class ShardedReport:
    """What ``ShardedLibrary.verify`` found: per shard its report, and global index files."""

    shards: dict[str, str]
    global_files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.shards and not self.global_files

    def __str__(self) -> str:
        if self.ok:
            return "library verified: every shard and the global index present and unchanged"
        parts = [f"{name}: {report}" for name, report in self.shards.items()]
        parts += [f"global index file missing or altered: {rel}" for rel in self.global_files]
        return "; ".join(parts)


class ShardedLibrary:
    """A sharded library: ``shards.json`` checked on load, shards opened when first used."""

    def __init__(self, root: Path, meta: dict[str, Any], columns: np.ndarray) -> None:
        """Use ``ShardedLibrary.load``; ``meta`` is a checked ``shards.json`` and ``columns``
        its components' columns in the registry (``check_shards``)."""
        self.root = Path(root)
        self.meta = meta
        self.columns = columns
        self.config = BuildConfig.from_dict(meta["config"])
        self._shards: dict[str, Library] = {}
        self._global_index: tuple[list[str], AnnoyBackend] | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ShardedLibrary:
        """Open the sharded library at ``path``: read and check ``shards.json`` only
        (``LibraryError`` naming the first problem)."""
        root = Path(path)
        if not (root / SHARDS).is_file():
            raise LibraryError(
                f"no sharded library at {str(root)!r}: expected {SHARDS} there. Build one with "
                f"`lever-gym build-library --sharded --out {root}`."
            )
        meta = json_file(inside(root, SHARDS).read_bytes(), str(root / SHARDS))
        return cls(root, meta, check_shards(meta, root / SHARDS))

    def __len__(self) -> int:
        return sum(entry["policies"] for entry in self.meta["shards"].values())

    def __repr__(self) -> str:
        return f"ShardedLibrary({str(self.root)!r}, {len(self.meta['shards'])} shards)"

    def layouts(self) -> list[tuple[int, int]]:
        """``(size, layout_seed)`` of every shard, in build order."""
        return [(n, s) for n in self.config.sizes for s in self.config.layout_seeds]

    def shard(self, size: int, layout_seed: int) -> Library:
        """The library of one layout, opened on first use after checking its manifest's
        sha256 against ``shards.json``."""
        name = f"shards/{layout_name(size, layout_seed)}"
        if name not in self.meta["shards"]:
            raise LibraryError(
                f"{self!r} has no {size}x{size} layout {layout_seed}; its layouts are the "
                f"sizes {list(self.config.sizes)} × layout seeds {self._seed_range()}."
            )
        if name not in self._shards:
            checked_bytes(self.root, f"{name}/{MANIFEST}", self.meta["shards"][name]["manifest"])
            self._shards[name] = Library.load(inside(self.root, name))
        return self._shards[name]

    def layout_library(self, size: int, layout_seed: int) -> Library:
        """The shard of one layout (see ``PolicyLibrary``)."""
        return self.shard(size, layout_seed)

    def query(self, objective: Any, n: int = 10) -> list[tuple[tuple[int, int], str, float]]:
        """The ``n`` policies of every shard with the highest estimated return under
        ``objective`` (best first): ``((size, layout_seed), policy id, score)``, from the
        global Annoy index (re-scored exactly)."""
        objective = Objective.parse(objective)
        n = checks.positive_int(n, "n")
        ids, forest = self._global()
        vector = np.zeros(embedding_dim(len(self.columns)), dtype=np.float32)
        vector[: len(self.columns)] = np.asarray(objective.weights)[self.columns]
        rows, scores = forest.query(vector, min(n, len(ids)))
        out = []
        for row, score in zip(rows, scores, strict=True):
            layout = ids[row].split("/", 1)[0]  # 8x8-s0/Path-...
            size, seed = layout.split("x", 1)[0], layout.rsplit("-s", 1)[1]
            out.append(((int(size), int(seed)), ids[row], float(score)))
        return out

    def verify(self) -> ShardedReport:
        """Every shard's ``Library.verify()`` that is not clean, and the global index files
        missing or altered."""
        bad = {}
        for size, seed in self.layouts():
            report = self.shard(size, seed).verify()
            if not report.ok:
                bad[layout_name(size, seed)] = str(report)
        altered = []
        for rel, digest in self.meta["index_files"].items():
            try:
                checked_file(self.root, rel, digest)
            except LibraryError:
                altered.append(rel)
        return ShardedReport(bad, tuple(altered))

    def _seed_range(self) -> str:
        seeds = self.config.layout_seeds
        return f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 3 else str(list(seeds))

    def _global(self) -> tuple[list[str], AnnoyBackend]:
        """The global index's ids and forest, files checked (cached)."""
        if self._global_index is None:
            files = self.meta["index_files"]
            arrays, ids = self.root / GLOBAL_FILES[1], self.root / GLOBAL_FILES[2]
            meta = json_file(
                checked_bytes(self.root, GLOBAL_FILES[2], files[GLOBAL_FILES[2]]), str(ids)
            )
            if not (
                isinstance(meta, dict) and isinstance(meta.get("ids"), list)
                and len(meta["ids"]) == len(self) and all(isinstance(i, str) for i in meta["ids"])
                and meta.get("metric") == DEFAULT_METRIC
                and meta.get("n_trees") == self.meta["annoy"][GLOBAL_FILES[0]]["trees"]
                and (type(meta.get("search_k", 1)) is int and meta.get("search_k", 1) > 0)
                and isinstance(meta.get("max_norm"), float)
            ):  # fmt: skip
                raise LibraryError(f"{ids} is not the global index of {self!r}; rebuild it.")
            raw = checked_bytes(self.root, GLOBAL_FILES[1], files[GLOBAL_FILES[1]])
            embeddings = _embeddings(raw, str(arrays), len(self))
            path = checked_file(self.root, GLOBAL_FILES[0], files[GLOBAL_FILES[0]])
            check_annoy_file(path, AnnoyFacts(**self.meta["annoy"][GLOBAL_FILES[0]]))
            search_k = meta.get("search_k", meta["n_trees"] * SEARCH_PER_TREE)
            forest = AnnoyBackend.load(path, embeddings, DEFAULT_METRIC, search_k, meta["max_norm"])
            self._global_index = (meta["ids"], forest)
        return self._global_index


def open_library(path: str | os.PathLike[str] | None = None) -> Library | ShardedLibrary:
    """The library at ``path`` (``None``: the default library), sharded if it holds
    ``shards.json``, else flat."""
    root = resolve(path)
    return ShardedLibrary.load(root) if (root / SHARDS).is_file() else Library.load(root)


def _embeddings(raw: bytes, where: str, n: int) -> np.ndarray:
    """The ``n`` embeddings of the global index's ``embeddings.npz`` bytes, checked."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            matrix = npz["embeddings"]
    except Exception as e:  # numpy raises many types on a damaged file
        raise LibraryError(f"cannot read {where} ({type(e).__name__}: {e}).") from e
    if matrix.ndim != 2 or len(matrix) != n or not np.isfinite(matrix).all():
        raise LibraryError(f"{where} must hold {n} finite embeddings.")
    return matrix.astype(np.float32)


def check_shards(meta: object, path: Path) -> np.ndarray:
    """The columns of the components ``shards.json`` ``meta`` records (``component_columns``);
    raise ``LibraryError`` naming the first field that is missing, unknown or wrong."""

    def refuse(field: str, problem: str) -> LibraryError:
        return LibraryError(
            f"{path}: {field} {problem}. It is not a shards.json lever_gym wrote: restore it "
            "or rebuild the sharded library."
        )

    if not isinstance(meta, dict) or sorted(meta) != sorted(FIELDS):
        raise refuse("the file", f"must be an object with exactly the fields {list(FIELDS)}")
    if meta["sharded_schema_version"] != SHARDS_SCHEMA:
        raise refuse("sharded_schema_version", f"must be {SHARDS_SCHEMA} (rebuild it)")
    columns = component_columns(meta["components"], refuse)
    try:
        config = BuildConfig.from_dict(meta["config"])
    except LeverGymError as e:
        raise refuse("config", f"is invalid: {e}") from e
    shards = meta["shards"]
    if not isinstance(shards, dict) or sorted(shards) != sorted(shard_configs(config)):
        raise refuse("shards", "must list exactly the shards of its config")
    for name, entry in shards.items():
        if not (
            isinstance(entry, dict) and sorted(entry) == ["manifest", "policies"]
            and isinstance(entry["manifest"], str) and SHA256.fullmatch(entry["manifest"])
            and type(entry["policies"]) is int and entry["policies"] > 0
        ):  # fmt: skip
            raise refuse(f"shards[{name!r}]", "must be {manifest: sha256, policies: count}")
    files = meta["index_files"]
    if not isinstance(files, dict) or sorted(files) != sorted(GLOBAL_FILES):
        raise refuse("index_files", f"must list exactly {list(GLOBAL_FILES)}")
    if not all(isinstance(v, str) and SHA256.fullmatch(v) for v in files.values()):
        raise refuse("index_files", "must map each path to a sha256 digest")
    facts = meta["annoy"]
    total = sum(e["policies"] for e in shards.values())
    expected = {"f": embedding_dim(len(columns)) + 1, "metric": "angular", "items": total,
                "trees": global_trees(config)}  # fmt: skip
    earlier = {**expected, "trees": config.n_trees}  # written before GLOBAL_TREES
    entry = facts.get(GLOBAL_FILES[0]) if isinstance(facts, dict) else None
    if (
        not isinstance(entry, dict) or list(facts) != [GLOBAL_FILES[0]]
        or type(entry.get("bytes")) is not int or entry["bytes"] < 1
        or {k: v for k, v in entry.items() if k != "bytes"} not in (expected, earlier)
    ):  # fmt: skip
        raise refuse("annoy", f"must describe {GLOBAL_FILES[0]} as {expected} with its bytes")
    return columns
