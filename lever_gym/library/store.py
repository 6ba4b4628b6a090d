"""The policy library: trained building blocks, each with its Minari dataset, in one folder.

Layout of a library directory (movable: every path in it is relative)::

    manifest.json                   schema, versions, build config, one record per policy,
                                    the sha256 of every file
    README.md                       what is in it (written from the manifest)
    lever/<N>x<N>-s<layout>/<policy>-v0/
        data/main_data.hdf5         the Minari dataset (``minari.load_dataset`` reads it
        data/metadata.json          with ``MINARI_DATASETS_PATH`` set to the library)
        policy.npz                  ``q`` (Q-table) and ``support`` (dataset visit counts)
        policy.json                 the policy's record
        timing.json                 measured training wall-clock (not checksummed)

Every policy directory is written in a staging folder and renamed into place, and the
manifest is replaced atomically at the end, so an interrupted build leaves no partial
policy and can be resumed: finished policies are kept, the rest are built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import N_ACTIONS, TabularModel, model_for
from lever_gym.errors import LibraryError
from lever_gym.library.config import BuildConfig, PolicyRecord
from lever_gym.library.embedding import Predictor
from lever_gym.library.files import sha256
from lever_gym.library.index import LayoutIndex, index_paths, load_layout_index
from lever_gym.library.locate import resolve
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.support import greedy_rows
from lever_gym.train.policy import TabularPolicy
from lever_gym.train.tabular import key_index

SCHEMA_VERSION = 2
MANIFEST = "manifest.json"


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
    """A loaded library directory. Build one with ``Library.build``, open with ``load``."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        """Use ``Library.load`` or ``Library.build``."""
        self.root = root
        self.manifest = manifest
        self.config = BuildConfig.from_dict(manifest["config"])
        self.records = [PolicyRecord.from_dict(r) for r in manifest["policies"]]
        self._by_id = {r.id: r for r in self.records}
        self._indexes: dict[tuple[int, int, str], LayoutIndex] = {}
        self._empirical: dict[tuple[int, int], EmpiricalModel] = {}
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._own: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- opening and building ---------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Library:
        """Open the library at ``path`` (``None``: the default library, see
        ``lever_gym.library.locate``); raise ``LibraryError`` if it is absent or unreadable."""
        root = resolve(path)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise LibraryError(
                f"no library at {str(root)!r}: expected {MANIFEST} there. Build one with "
                f"`lever-gym build-library --out {root}` or pass the folder that holds it."
            )
        try:
            manifest = json.loads(manifest_path.read_text())
            version = manifest["schema_version"]
        except (ValueError, KeyError, TypeError) as e:
            raise LibraryError(f"{manifest_path} is not a lever_gym manifest ({e}).") from e
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise LibraryError(f"{manifest_path} has an invalid schema version {version!r}.")
        if version != SCHEMA_VERSION:
            what = "Upgrade lever_gym" if version > SCHEMA_VERSION else "Rebuild the library"
            raise LibraryError(
                f"{manifest_path} has schema version {version}; this lever_gym reads version "
                f"{SCHEMA_VERSION}. {what} (`lever-gym build-library --out {root}`)."
            )
        return cls(root, manifest)

    @classmethod
    def build(
        cls,
        out: str | os.PathLike[str],
        config: BuildConfig | None = None,
        **options: Any,
    ) -> Library:
        """Train every run of ``config`` and write the library at ``out``; see
        ``lever_gym.library.build.build_library`` for the options (workers, executor...)."""
        from lever_gym.library.build import build_library

        return build_library(out, config, **options)

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[PolicyRecord]:
        return iter(self.records)

    def __getitem__(self, policy_id: str) -> PolicyRecord:
        try:
            return self._by_id[policy_id]
        except KeyError:
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
        return list(dict.fromkeys((r.size, r.layout_seed) for r in self.records))

    def model(self, record: PolicyRecord) -> TabularModel:
        """The tabular model of the record's layout."""
        return layout_model(record.size, record.layout_seed)

    def train_seconds(self, record: PolicyRecord) -> float:
        """Measured training wall-clock of the policy (``nan`` if not recorded)."""
        path = self.root / record.directory / "timing.json"
        try:
            return float(json.loads(path.read_text())["train_seconds"])
        except (OSError, ValueError, KeyError):
            return float("nan")

    def arrays(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(q, support)`` of a policy, checked against the manifest's sha256 (cached)."""
        arrays = self._policy_arrays(record)
        return arrays["q"], arrays["support"]

    def successor_features(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, psi)``: the policy's successor features on its own data (see
        ``POLICY_ARRAYS``); ``psi @ w`` is its value under objective ``w`` per recorded pair."""
        arrays = self._policy_arrays(record)
        return arrays["psi_keys"], arrays["psi"]

    def own_values(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(states, psi)``: every state the policy's data records and the successor
        features of the action it takes there (greedy in its Q-values among the recorded
        actions); ``psi @ w`` is its value from that state under ``w`` (cached)."""
        if record.id not in self._own:
            keys, psi = self.successor_features(record)
            q, _ = self.arrays(record)
            states, actions = keys // N_ACTIONS, keys % N_ACTIONS
            rows = key_index(self.model(record), record.key)[states]
            first = np.flatnonzero(np.r_[True, states[1:] != states[:-1]])
            choice = greedy_rows(q[rows, actions], first)
            self._own[record.id] = (states[first], psi[choice])
        return self._own[record.id]

    def _policy_arrays(self, record: PolicyRecord) -> dict[str, np.ndarray]:
        if record.id not in self._arrays:
            path = self._checked(record, f"{record.directory}/{POLICY_ARRAYS}")
            try:
                with np.load(path, allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in ("q", "support", "psi_keys", "psi")}
            except (OSError, ValueError, KeyError) as e:
                raise LibraryError(f"{path} is unreadable ({e}); rebuild the library.") from e
            for arr in arrays.values():
                arr.setflags(write=False)
            self._arrays[record.id] = arrays
        return self._arrays[record.id]

    def policy(self, record: PolicyRecord) -> TabularPolicy:
        """The greedy ``TabularPolicy`` of a library policy."""
        return TabularPolicy(self.model(record), self.arrays(record)[0], record.key)

    def dataset(self, record: PolicyRecord) -> Any:
        """The policy's ``MinariDataset`` (read straight from the library folder)."""
        import minari

        self._checked(record, f"{record.directory}/data/main_data.hdf5")
        return minari.MinariDataset(self.root / record.directory / "data")

    def verify(self) -> VerifyReport:
        """Check every file the manifest lists: present, and with the recorded sha256."""
        missing, altered = [], []
        listed = [f for r in self.records for f in r.files.items()]
        for rel, digest in listed + list(self.manifest.get("index_files", {}).items()):
            path = self.root / rel
            if not path.is_file():
                missing.append(rel)
            elif sha256(path) != digest:
                altered.append(rel)
        return VerifyReport(tuple(missing), tuple(altered))

    def layout_index(self, size: int, layout_seed: int, backend: str = "annoy") -> LayoutIndex:
        """The retrieval index of one layout (files checked against the manifest)."""
        key = (size, layout_seed, backend)
        if key not in self._indexes:
            if (size, layout_seed) not in self.layouts():
                raise LibraryError(
                    f"the library at {self.root} has no {size}x{size} layout {layout_seed}; it "
                    f"holds {', '.join(f'{n}x{n} layout {s}' for n, s in self.layouts())}."
                )
            for path in index_paths(self.root, size, layout_seed).values():
                if path.is_file():
                    self._check_index_file(path)
            self._indexes[key] = load_layout_index(self.root, size, layout_seed, backend)
        return self._indexes[key]

    def empirical(self, size: int, layout_seed: int) -> EmpiricalModel:
        """The union of the layout's datasets as an empirical model (from the index files)."""
        key = (size, layout_seed)
        if key not in self._empirical:
            path = index_paths(self.root, size, layout_seed)["arrays"]
            self.layout_index(size, layout_seed, "exact")
            with np.load(path, allow_pickle=False) as npz:
                self._empirical[key] = EmpiricalModel(
                    npz["keys"], npz["next_state"], npz["components"], npz["terminated"],
                    npz["counts"], npz["starts"],
                )  # fmt: skip
        return self._empirical[key]

    def predictor(self) -> Predictor:
        """The embedding-to-return predictor fitted on this library's policies."""
        path = self.root / "index" / "predictor.json"
        self._check_index_file(path)
        data = json.loads(path.read_text())
        return Predictor(
            np.array(data["mean"]),
            np.array(data["scale"]),
            np.array(data["coef"]),
            data["cv_mae"],
            data["cv_nmae"],
        )

    def _check_index_file(self, path: Path) -> None:
        rel = path.relative_to(self.root).as_posix()
        digest = self.manifest.get("index_files", {}).get(rel)
        if digest is None or sha256(path) != digest:
            raise LibraryError(
                f"{path} does not match the manifest (missing from it, edited or truncated); "
                "rebuild the library's index with `lever-gym build-library`."
            )

    def describe(self) -> str:
        """Markdown summary of the library (the content of its README.md)."""
        cfg = self.config
        lines = [
            "# lever_gym policy library",
            "",
            f"{len(self)} policies, each with its Minari dataset "
            f"({sum(r.n_transitions for r in self)} transitions in all). "
            f"Schema {self.manifest['schema_version']}, "
            f"lever_gym {self.manifest['lever_gym_version']}.",
            "",
            f"- sizes: {list(cfg.sizes)}; layout seeds: {list(cfg.layout_seeds)}",
            f"- building blocks: {', '.join(cfg.objectives)}",
            f"- gammas: {list(cfg.gammas)}; budgets (episodes): {list(cfg.budgets)}; "
            f"snapshots per run: {cfg.snapshots}",
            f"- trainer: {cfg.algorithm}, alpha {cfg.alpha}, keyed by {cfg.key}, "
            f"random starts: {cfg.random_start}; master seed {cfg.seed}",
            f"- datasets: {cfg.data.episodes} episodes per policy, epsilon {cfg.data.epsilon}, "
            f"random starts: {cfg.data.random_start}",
            "",
            "Use it with `MINARI_DATASETS_PATH=<this folder>` and `minari.load_dataset(id)`, or",
            "`lever_gym.Library.load(<this folder>)`. Regenerate it bit for bit (every file the",
            "manifest lists) with `lever-gym build-library` and the options above.",
            "",
            "| dataset id | greedy return | episodes | transitions |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{r.dataset_id}` | {r.greedy_return:.2f} | {r.n_episodes} | {r.n_transitions} |"
            for r in self
        ]
        return "\n".join(lines) + "\n"

    def _checked(self, record: PolicyRecord, rel: str) -> Path:
        path = self.root / rel
        if not path.is_file():
            raise LibraryError(f"{path} is missing; run Library.verify() and rebuild the library.")
        if sha256(path) != record.files.get(rel):
            raise LibraryError(
                f"{path} differs from the manifest's sha256 (edited or truncated); rebuild the "
                "library or restore the file."
            )
        return path


POLICY_ARRAYS = "policy.npz"
"""A policy's arrays: ``q`` (Q-table), ``support`` (its dataset's visit counts), and its
successor features on its own data: ``psi_keys`` (``state * N_ACTIONS + action`` of every
recorded pair, sorted) and ``psi`` (the reward components summed along the policy's
recorded walk from each pair within the layout's horizon)."""


def layout_model(size: int, layout_seed: int) -> TabularModel:
    """The tabular model of a generated library layout (shaping on, as library envs)."""
    return model_for(Layout.generate(size, layout_seed), True)
