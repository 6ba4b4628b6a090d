"""``NeuralLibrary``: a neural library opened read-only, every file checked before it is parsed.

``load`` reads the manifest and checks its schema, the member count first; ``networks``
reads a member's three ``.npz`` files through their sha256 and checks each array against
the manifest's ``NetworkSchema``; ``dataset`` opens a member's Minari dataset the checked way
(``data.storage.open_dataset``); ``retrieve`` asks the Annoy forest for the members whose
embedding (their ψ head's component values from their episode starts) scores best under a
weight vector. ``verify`` checks every file's sha256.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.format.annoy_file import AnnoyFacts, check_annoy_file
from lever_gym.library.format.contents import read_npz
from lever_gym.library.format.files import checked_bytes, checked_file, inside
from lever_gym.library.format.neural import (
    HEADS,
    INDEX_FILES,
    NeuralBuildConfig,
    NeuralRecord,
    check_manifest,
    network_schemas,
)
from lever_gym.library.index import AnnoyBackend
from lever_gym.train.dqn import Worlds
from lever_gym.train.heads import Head
from lever_gym.train.network import NetworkSchema, check_arrays

MAX_MANIFEST_BYTES = 16 * 2**20
"""Largest neural manifest read."""


@dataclass(frozen=True, eq=False)
class NeuralLibrary:
    """A neural library on disk (module docstring)."""

    root: Path
    config: NeuralBuildConfig
    schemas: dict[str, NetworkSchema]
    members: tuple[NeuralRecord, ...]
    index: dict[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuralLibrary:
        """Open the neural library in ``path`` (``LibraryError`` on anything lever_gym did
        not write)."""
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(f"a library path must be a str or a path; got {checks.shown(path)}.")
        root = Path(path).expanduser()
        manifest = root / "manifest.json"
        where = str(manifest)
        if not manifest.is_file():
            raise LibraryError(
                f"no neural library at {root} (no manifest.json); build one with "
                "`lever-gym build-library --members dqn --out <folder>`."
            )
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            raise LibraryError(f"{where} is larger than {MAX_MANIFEST_BYTES:,} bytes; rebuild.")
        try:
            data = json.loads(manifest.read_bytes())
        except (ValueError, RecursionError) as e:
            raise LibraryError(f"{where} is not JSON ({e}); restore or rebuild it.") from e
        data = check_manifest(data, where)
        schemas = network_schemas(data, where)
        n_comp = len(data["components"])
        members = tuple(
            NeuralRecord.from_dict(m, f"{where} members[{i}]", n_comp, root)
            for i, m in enumerate(data["members"])
        )
        if len({m.id for m in members}) != len(members):
            raise LibraryError(f"{where} lists a member id twice; rebuild the library.")
        config = NeuralBuildConfig.from_dict(data["config"])
        dims = {h: (s.input_dim, s.output_dim) for h, s in schemas.items()}
        obs_dim = config.worlds.obs_dim
        want = {"q": (obs_dim, N_ACTIONS), "psi": (obs_dim, N_ACTIONS * n_comp),
                "behaviour": (obs_dim, N_ACTIONS)}  # fmt: skip
        if dims != want:
            raise LibraryError(
                f"{where} gives networks of (inputs, outputs) {dims}; its worlds observe "
                f"{obs_dim} floats, so they must be {want}. Rebuild the library."
            )
        return cls(root, config, schemas, members, dict(data["index"]))

    @property
    def worlds(self) -> Worlds:
        """The layouts the members trained on and the observation they see."""
        return self.config.worlds

    @property
    def ids(self) -> tuple[str, ...]:
        """Member ids, in manifest order."""
        return tuple(m.id for m in self.members)

    def record(self, member: str) -> NeuralRecord:
        """The record of member id ``member``."""
        for m in self.members:
            if m.id == member:
                return m
        raise LibraryError(f"no member {member!r} in {self.root}; members: {', '.join(self.ids)}.")

    def networks(self, member: str) -> dict[str, Head]:
        """The member's heads (``q``, ``psi``, ``behaviour``), read and checked (once)."""
        return self._networks(self.record(member).id)

    @functools.lru_cache(maxsize=256)  # noqa: B019  (a library is opened once and kept)
    def _networks(self, member: str) -> dict[str, Head]:
        rec = self.record(member)
        out = {}
        for head in HEADS:
            rel = f"{rec.dataset_id}/{head}.npz"
            schema = self.schemas[head]
            raw = checked_bytes(self.root, rel, rec.files[rel])
            limit = 4 * max(int(np.prod(s)) for s in schema.shapes().values()) + 1024
            arrays = read_npz(raw, str(self.root / rel), tuple(schema.shapes()), limit)
            out[head] = Head(
                schema, check_arrays(schema, arrays, str(self.root / rel)), float("nan")
            )
        return out

    def dataset(self, member: str) -> Any:
        """The member's Minari dataset, opened after its files' sha256 checks."""
        from lever_gym.data.storage import open_dataset

        rec = self.record(member)
        meta = f"{rec.dataset_id}/data/metadata.json"
        main = f"{rec.dataset_id}/data/main_data.hdf5"
        raw = checked_bytes(self.root, meta, rec.files[meta])
        return open_dataset(inside(self.root, rec.dataset_id) / "data", raw, rec.files[main])

    @functools.cached_property
    def embeddings(self) -> np.ndarray:
        """(members, components) embeddings, as indexed."""
        rel = INDEX_FILES[1]
        raw = checked_bytes(self.root, rel, self.index["files"][rel])
        n, dim = len(self.members), len(self.members[0].embedding)
        emb = read_npz(raw, str(self.root / rel), ("embeddings",), 4 * n * dim + 1024)["embeddings"]
        if emb.shape != (n, dim) or emb.dtype != np.float32:
            raise LibraryError(f"{self.root / rel} does not hold one embedding per member.")
        return emb

    @functools.cached_property
    def _backend(self) -> AnnoyBackend:
        rel = INDEX_FILES[0]
        path = checked_file(self.root, rel, self.index["files"][rel])
        facts = self.index["annoy"]
        check_annoy_file(path, AnnoyFacts(**facts))
        return AnnoyBackend.load(path, self.embeddings, metric="dot")

    def retrieve(self, weights: np.ndarray, k: int) -> list[str]:
        """The ``k`` member ids whose embedding scores best under ``weights`` (finite, one per
        component), best first; ``ConfigError`` on anything else."""
        n_comp = len(self.members[0].embedding)
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            w = np.full(0, np.nan)
        if w.shape != (n_comp,) or not np.isfinite(w).all():
            raise ConfigError(
                f"weights must be {n_comp} finite numbers (one per reward component); got "
                f"{checks.shown(weights)}."
            )
        k = checks.int_in(k, "k", 1, 1024)
        rows, _ = self._backend.query(w.astype(np.float32), min(k, len(self.members)))
        return [self.members[int(i)].id for i in rows]

    def verify(self) -> None:
        """Check every file's sha256 (``LibraryError`` naming the first that differs)."""
        for rec in self.members:
            for rel, digest in rec.files.items():
                checked_file(self.root, rel, digest)
        for rel, digest in self.index["files"].items():
            checked_file(self.root, rel, digest)
