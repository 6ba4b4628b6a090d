"""The policy library: trained building blocks, each with its Minari dataset, in one folder.

Layout of a library directory (movable: every path in it is relative)::

    manifest.json                   schema, versions, build config, one record per policy,
                                    the sha256 of every file, the shape of every Annoy file
    README.md                       what is in it (written from the manifest)
    lever/<N>x<N>-s<layout>/<policy>-v0/
        data/main_data.hdf5         the Minari dataset (``minari.load_dataset`` reads it
        data/metadata.json          with ``MINARI_DATASETS_PATH`` set to the library)
        policy.npz                  Q-table, dataset visit counts, ψ (nonzero rows only)
        policy.json                 the policy's record
        timing.json                 measured training wall-clock (not checksummed)
    index/<N>x<N>-s<layout>/        the layout's retrieval index (Annoy forest, embeddings,
                                    index.json) and union.npz, the union of its datasets
    index/predictor.json            the embedding-to-return predictor

Trust boundary: the manifest is schema-checked on load (``lever_gym.library.format``);
every file is read through its manifest path (relative, inside the root after resolving
links) and checked against its sha256 before anything parses it, then its content against
its layout; Annoy files are checked node by node before they are memory-mapped, and
Minari datasets opened without letting Minari make an env. Arrays of reward components are
widened to the registered components on reading (``format.manifest.widen``).
``timing.json`` alone is not checksummed (a measurement that varies run to run); it is read
strictly and any problem reads as ``nan``. How a library is built and resumed:
``lever_gym.library.build.builder``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import lever_gym.checks as checks
from lever_gym.checks import json_file
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import TabularModel, model_for
from lever_gym.errors import LibraryError
from lever_gym.library.embedding import Predictor
from lever_gym.library.format.annoy_file import AnnoyFacts, check_annoy_file
from lever_gym.library.format.config import BuildConfig, PolicyRecord
from lever_gym.library.format.contents import (
    dense_tables,
    index_arrays,
    index_meta,
    policy_arrays,
    predictor_arrays,
    union_arrays,
)
from lever_gym.library.format.files import checked_bytes, checked_file, inside, sha256
from lever_gym.library.format.manifest import (
    DATA_FILES,
    MANIFEST,
    POLICY_ARRAYS,
    PREDICTOR,
    check_manifest,
    embedding_dim,
    index_folder,
    read_manifest,
)
from lever_gym.library.index import BACKENDS, DEFAULT_METRIC, LayoutIndex, open_layout_index
from lever_gym.library.locate import resolve
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.train.policy import TabularPolicy


class PolicyLibrary(Protocol):
    """What ``Library`` and ``ShardedLibrary`` share: the folder, the build config, the
    layouts, verification, and the flat library of one layout (for a flat library, itself)."""

    root: Path
    config: BuildConfig

    def __len__(self) -> int: ...

    def layouts(self) -> list[tuple[int, int]]:
        """``(size, layout_seed)`` of every layout, in build order."""
        ...

    def layout_library(self, size: int, layout_seed: int) -> Library:
        """The flat library holding the policies of one layout."""
        ...

    def verify(self) -> Any:
        """Every file checked against its recorded sha256."""
        ...


@dataclass(frozen=True)
class VerifyReport:
    """Result of ``Library.verify``: files listed in the manifest that are gone or changed."""

    missing: tuple[str, ...]
    altered: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every listed file is present and unchanged."""
        return not self.missing and not self.altered

    def __str__(self) -> str:
        if self.ok:
            return "library verified: every file present and unchanged"
        lines = [f"missing: {p}" for p in self.missing] + [f"altered: {p}" for p in self.altered]
        return "\n".join(lines)


class Library:
    """A loaded library directory. Build one with ``build_library``
    (``lever_gym.library.build.builder``), open one with ``load``."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        """Use ``Library.load`` or ``build_library``; ``manifest`` is checked
        (``check_manifest``: ``LibraryError`` naming the first bad field)."""
        self.root = Path(root)
        self.manifest = manifest
        self.config, self.records, self.columns = check_manifest(manifest, self.root / MANIFEST)
        self.components: tuple[str, ...] = tuple(manifest["components"])
        """The reward components the library records, in its column order."""
        self._by_id = {r.id: r for r in self.records}
        self._grouped: tuple[list[PolicyRecord], dict[tuple[int, int], list[PolicyRecord]]] = (
            [],
            {},
        )
        self._indexes: dict[tuple[int, int, str], LayoutIndex] = {}
        self._index_parts: dict[tuple[int, int], tuple[dict[str, Any], np.ndarray, np.ndarray]] = {}
        self._empirical: dict[tuple[int, int], EmpiricalModel] = {}
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self.derived: dict[Any, Any] = {}
        """Read-side structures other stages build from this library once (keyed by them)."""

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Library:
        """Open the library at ``path`` (``None``: the default library, see
        ``lever_gym.library.locate``); raise ``LibraryError`` if it is absent, unreadable,
        from another schema version, or its manifest fails ``check_manifest``."""
        root = resolve(path)
        return cls(root, read_manifest(root))

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[PolicyRecord]:
        return iter(self.records)

    def __getitem__(self, policy_id: str) -> PolicyRecord:
        try:
            return self._by_id[policy_id]
        except (KeyError, TypeError):  # TypeError: an unhashable id
            raise LibraryError(f"no policy {policy_id!r} in the library at {self.root}.") from None

    def __repr__(self) -> str:
        return f"Library(root={str(self.root)!r}, policies={len(self)})"

    def filter(
        self,
        *,
        size: int | None = None,
        layout_seed: int | None = None,
        objective: str | Sequence[str] | None = None,
        gamma: float | None = None,
        budget: int | None = None,
        algorithm: str | None = None,
    ) -> list[PolicyRecord]:
        """Records matching every criterion given (``objective`` may be a list)."""
        objectives = (objective,) if isinstance(objective, str) else objective
        return [
            r
            for r in self.records
            if (size is None or r.size == size)
            and (layout_seed is None or r.layout_seed == layout_seed)
            and (objectives is None or r.objective in objectives)
            and (gamma is None or r.gamma == gamma)
            and (budget is None or r.budget == budget)
            and (algorithm is None or r.algorithm == algorithm)
        ]

    def layouts(self) -> list[tuple[int, int]]:
        """Distinct ``(size, layout_seed)`` pairs, in manifest order."""
        return list(self._by_layout())

    def layout_records(self, size: int, layout_seed: int) -> list[PolicyRecord]:
        """The records of one layout, in manifest order (``filter`` by size and seed)."""
        return list(self._by_layout().get((size, layout_seed), ()))

    def _by_layout(self) -> dict[tuple[int, int], list[PolicyRecord]]:
        """``records`` grouped by layout (grouped again if ``records`` was replaced)."""
        if self._grouped[0] is not self.records:
            groups: dict[tuple[int, int], list[PolicyRecord]] = {}
            for r in self.records:
                groups.setdefault((r.size, r.layout_seed), []).append(r)
            self._grouped = (self.records, groups)
        return self._grouped[1]

    def model(self, record: PolicyRecord | str) -> TabularModel:
        """The tabular model of the record's layout (a record or a policy id)."""
        record = self._record(record)
        return layout_model(record.size, record.layout_seed)

    def train_seconds(self, record: PolicyRecord) -> float:
        """Measured training wall-clock of the policy (``nan`` if not recorded or unreadable:
        the one library file without a checksum)."""
        record = self._record(record)
        try:
            path = inside(self.root, f"{record.directory}/timing.json")
            if path.stat().st_size > 4096:
                return float("nan")
            seconds = json_file(path.read_bytes(), str(path))["train_seconds"]
        except (OSError, TypeError, KeyError):  # LibraryError is an OSError
            return float("nan")
        ok = type(seconds) in (int, float) and 0 <= seconds < float("inf")
        return float(seconds) if ok else float("nan")

    def arrays(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(q, support)`` of a policy as dense read-only tables (a row per state, or per
        cell for cell-keyed policies), from its checked ``policy.npz``; made on each call
        (the library keeps the stored rows only)."""
        record = self._record(record)
        model = self.model(record)
        n_rows = model.space.n_rows(record.key)
        return dense_tables(self.policy_arrays(record), n_rows, model.n_states)

    def successor_features(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, psi)``: the policy's successor features on its own data (see
        ``POLICY_ARRAYS``); ``psi @ w`` is its value under objective ``w`` per recorded pair."""
        arrays = self.policy_arrays(record)
        return arrays["psi_keys"], arrays["psi"]

    def _record(self, record: PolicyRecord | str) -> PolicyRecord:
        """``record`` (or the record of policy id ``record``) if it is one of this library's
        (its files' digests are the manifest's)."""
        if isinstance(record, str) and record in self._by_id:
            return self._by_id[record]
        if not isinstance(record, PolicyRecord) or self._by_id.get(record.id) != record:
            raise LibraryError(
                f"{record!r:.80} is not a record of the library at {self.root}; pass one of "
                "its records (iterate the library, or lib[policy_id])."
            )
        return record

    def policy_arrays(self, record: PolicyRecord) -> dict[str, np.ndarray]:
        """The checked arrays of a policy's ``policy.npz`` (``contents.POLICY_ARRAY_NAMES``:
        its Q-table and dataset counts on their stored rows, its ψ), read once, read-only."""
        record = self._record(record)
        if record.id not in self._arrays:
            rel = f"{record.directory}/{POLICY_ARRAYS}"
            raw = checked_bytes(self.root, rel, record.files[rel])
            self._arrays[record.id] = policy_arrays(
                raw, str(self.root / rel), self.model(record), record.key, self.columns
            )
        return self._arrays[record.id]

    def layout_library(self, size: int, layout_seed: int) -> Library:
        """This library, if it holds the layout (see ``PolicyLibrary``)."""
        if (size, layout_seed) not in self.layouts():
            raise LibraryError(
                f"the library at {self.root} has no {size}x{size} layout {layout_seed}; it "
                f"holds {', '.join(f'{n}x{n} layout {s}' for n, s in self.layouts())}."
            )
        return self

    def policy(self, record: PolicyRecord | str) -> TabularPolicy:
        """The greedy ``TabularPolicy`` of a library policy (a record or a policy id)."""
        record = self._record(record)
        return TabularPolicy(self.model(record), self.arrays(record)[0], record.key)

    def dataset(self, record: PolicyRecord | str) -> Any:
        """The policy's ``MinariDataset``, read straight from the library folder after every
        file of its ``data/`` folder is checked against the manifest (and nothing else is
        there); its HDF5 file is checked again whenever lever_gym reads episodes from it."""
        record = self._record(record)
        rel = f"{record.directory}/data"
        folder = inside(self.root, rel)
        try:
            names = sorted(p.name for p in folder.iterdir())
        except OSError as e:
            raise LibraryError(f"{folder} is missing; run Library.verify() and rebuild.") from e
        if names != sorted(DATA_FILES):
            raise LibraryError(
                f"{folder} holds {names}; a library dataset folder holds exactly "
                f"{sorted(DATA_FILES)}. Remove the others or rebuild the library."
            )
        meta = checked_bytes(
            self.root, f"{rel}/metadata.json", record.files[f"{rel}/metadata.json"]
        )
        hdf5 = f"{rel}/main_data.hdf5"
        checked_file(self.root, hdf5, record.files[hdf5])
        from lever_gym.data.storage import open_dataset  # minari and h5py: on first use

        ds = open_dataset(folder, meta, sha256=record.files[hdf5])
        if (ds.total_episodes, ds.total_steps) != (record.n_episodes, record.n_transitions):
            raise LibraryError(
                f"{folder} holds {ds.total_episodes} episodes and {ds.total_steps} steps; its "
                f"record says {record.n_episodes} and {record.n_transitions}. Rebuild the library."
            )
        return ds

    def verify(self) -> VerifyReport:
        """Check every file the manifest lists: present, and with the recorded sha256 (a
        link out of the library counts as altered; nothing outside the root is read)."""
        missing, altered = [], []
        listed = [f for r in self.records for f in r.files.items()]
        for rel, digest in listed + list(self.manifest["index_files"].items()):
            try:
                path = inside(self.root, rel)
            except LibraryError:
                altered.append(rel)
                continue
            if not path.is_file():
                missing.append(rel)
            elif sha256(path) != digest:
                altered.append(rel)
        return VerifyReport(tuple(missing), tuple(altered))

    def layout_index(self, size: int, layout_seed: int, backend: str = "annoy") -> LayoutIndex:
        """The retrieval index of one layout (files checked against the manifest; the Annoy
        forest node by node before it is memory-mapped)."""
        checks.one_of(backend, BACKENDS, "backend")
        key = (checks.positive_int(size, "size"), checks.seed(layout_seed, "layout_seed"), backend)
        if key not in self._indexes:
            meta, embeddings, canonical = self._index_files(size, layout_seed)
            annoy = None
            if backend == "annoy":
                rel = f"{index_folder(size, layout_seed)}/annoy.ann"
                annoy = checked_file(self.root, rel, self.manifest["index_files"][rel])
                check_annoy_file(annoy, AnnoyFacts(**self.manifest["annoy"][rel]))
            self._indexes[key] = open_layout_index(
                size, layout_seed, meta, embeddings, canonical, backend, self.columns, annoy
            )
        return self._indexes[key]

    def _index_files(
        self, size: int, layout_seed: int
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """``index.json``, embeddings and canonical states of a layout, checked (cached)."""
        key = (checks.positive_int(size, "size"), checks.seed(layout_seed, "layout_seed"))
        if key not in self._index_parts:
            self.layout_library(*key)  # raises: no such layout
            folder, files = index_folder(size, layout_seed), self.manifest["index_files"]
            ids = [r.id for r in self.layout_records(size, layout_seed)]
            raw = {n: checked_bytes(self.root, f"{folder}/{n}", files[f"{folder}/{n}"])
                   for n in ("index.json", "embeddings.npz")}  # fmt: skip
            where, dim = str(self.root / folder), embedding_dim(len(self.columns))
            meta = index_meta(
                raw["index.json"], f"{where}/index.json", ids, self.config, dim, DEFAULT_METRIC
            )
            n_states = layout_model(size, layout_seed).n_states
            embeddings, canonical = index_arrays(
                raw["embeddings.npz"], f"{where}/embeddings.npz", len(ids), dim, n_states
            )
            self._index_parts[key] = (meta, embeddings, canonical)
        return self._index_parts[key]

    def empirical(self, size: int, layout_seed: int) -> EmpiricalModel:
        """The union of the layout's datasets as an empirical model (its ``union.npz``, read
        once)."""
        key = (checks.positive_int(size, "size"), checks.seed(layout_seed, "layout_seed"))
        if key not in self._empirical:
            self.layout_library(*key)  # raises: no such layout
            rel = f"{index_folder(size, layout_seed)}/union.npz"
            raw = checked_bytes(self.root, rel, self.manifest["index_files"][rel])
            n_states = layout_model(size, layout_seed).n_states
            self._empirical[key] = union_arrays(raw, str(self.root / rel), n_states, self.columns)
        return self._empirical[key]

    def predictor(self) -> Predictor:
        """The embedding-to-return predictor fitted on this library's policies."""
        raw = checked_bytes(self.root, PREDICTOR, self.manifest["index_files"][PREDICTOR])
        return Predictor(**predictor_arrays(raw, str(self.root / PREDICTOR), self.columns))


def layout_model(size: int, layout_seed: int) -> TabularModel:
    """The tabular model of a generated library layout (shaping on, as library envs), under
    the registered components (``model_for``)."""
    return model_for(generated_layout(size, layout_seed), True)


@functools.lru_cache(maxsize=64)
def generated_layout(size: int, layout_seed: int) -> Layout:
    """``Layout.generate(size, layout_seed)``, kept: drawing a layout repeats its
    connectivity checks."""
    return Layout.generate(size, layout_seed)
