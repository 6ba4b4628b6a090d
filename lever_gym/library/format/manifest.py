"""A library's manifest: its schema, checked field by field before anything else is read.

``manifest.json`` holds ``schema_version``, ``lever_gym_version``, the build ``config``, the
names of the reward ``components`` (the column order of every stored component array), one
record per policy (``policies``, in build order, each listing the sha256 of its four files),
``index_files`` (the sha256 of every index file) and ``annoy`` (the size and shape of every
Annoy forest, checked before it is memory-mapped). A library opens under any registry that
holds its components (``lever_gym.components``): a component it does not record reads as
zero in its data (``widen``); a recorded component that is not registered is refused. Every
path in it is derived from the config and checked to be a plain relative path, so an edited
manifest cannot point outside the library or at another policy's files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.components as reward_components
from lever_gym.checks import json_file
from lever_gym.data import MAIN_FILE, METADATA_FILE, NAMESPACE_FILE
from lever_gym.errors import LeverGymError, LibraryError
from lever_gym.library.format.annoy_file import AnnoyFacts
from lever_gym.library.format.config import (
    NAMESPACE,
    BuildConfig,
    PolicyRecord,
    layout_name,
    policy_id,
)
from lever_gym.library.format.files import SHA256, inside, plain_parts
from lever_gym.mdp.successor import STATE_FEATURES

SCHEMA_VERSION = 4
MANIFEST = "manifest.json"
FIELDS = ("schema_version", "lever_gym_version", "config", "components", "policies",
          "index_files", "annoy")  # fmt: skip
POLICY_ARRAYS = "policy.npz"
"""A policy's arrays (``contents.POLICY_ARRAY_NAMES``): its Q-table and its dataset's visit
counts on their nonzero rows, and its successor features on its own data: ``psi_keys``
(``state * N_ACTIONS + action`` of every recorded pair, sorted) and ``psi`` (the reward
components summed along the policy's recorded walk from each pair within the horizon)."""
POLICY_FILES = (POLICY_ARRAYS, "policy.json", "data/main_data.hdf5", "data/metadata.json")
"""The checksummed files of a policy folder (``timing.json``, a measurement, is not)."""
DATA_FILES = (MAIN_FILE, METADATA_FILE)
"""Every file of a policy's Minari dataset folder, ``data/``."""
INDEX_FILES = ("annoy.ann", "embeddings.npz", "index.json", "union.npz")
"""A layout's index folder: the Annoy forest, the embeddings it indexes and the canonical
states, its description, and the union of the layout's datasets (the scorers' empirical
model)."""
PREDICTOR = "index/predictor.json"


def embedding_dim(n_components: int) -> int:
    """Embedding length of a library recording ``n_components`` reward components: one
    entry per component, then the state features (``lever_gym.mdp.successor``)."""
    return n_components + len(STATE_FEATURES)


def index_folder(size: int, layout_seed: int) -> str:
    """The index folder of a layout, relative to the library root."""
    return f"index/{layout_name(size, layout_seed)}"


def policy_files(dataset_id: str) -> list[str]:
    """The manifest paths of a policy's checksummed files."""
    return [f"{dataset_id}/{name}" for name in POLICY_FILES]


def namespaces(config: BuildConfig) -> list[str]:
    """The Minari namespaces of a build of ``config``: ``lever`` and one per layout."""
    layouts = [layout_name(n, s) for n in config.sizes for s in config.layout_seeds]
    return [NAMESPACE] + [f"{NAMESPACE}/{name}" for name in layouts]


def index_file_names(config: BuildConfig) -> list[str]:
    """The manifest paths of every index file a build of ``config`` writes, with the Minari
    namespace metadata files."""
    folders = [index_folder(n, s) for n in config.sizes for s in config.layout_seeds]
    names = [f"{f}/{name}" for f in folders for name in INDEX_FILES] + [PREDICTOR]
    return sorted(names + [f"{ns}/{NAMESPACE_FILE}" for ns in namespaces(config)])


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the library at ``root`` as strict JSON, unchecked: pass it to
    ``check_manifest`` (``Library`` does)."""
    path = root / MANIFEST
    if not path.is_file():
        raise LibraryError(
            f"no library at {str(root)!r}: expected {MANIFEST} there. Build one with "
            f"`lever-gym build-library --out {root}` or pass the folder that holds it."
        )
    return json_file(inside(root, MANIFEST).read_bytes(), str(path))


def check_manifest(data: object, path: Path) -> tuple[BuildConfig, list[PolicyRecord], np.ndarray]:
    """The config, the records (their component values widened to the registry, ``widen``)
    and the component ``columns`` of manifest ``data`` after checking its schema; raises
    ``LibraryError`` naming the first field that is missing, unknown or wrong."""

    def refuse(field: str, problem: str) -> LibraryError:
        return LibraryError(
            f"{path}: {field} {problem}. It is not a manifest lever_gym wrote: restore it or "
            f"rebuild the library (`lever-gym build-library --out {path.parent}`)."
        )

    if not isinstance(data, dict):
        raise refuse("the manifest", f"must be a JSON object; got {type(data).__name__}")
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LibraryError(f"{path} is not a lever_gym manifest: schema version {version!r}.")
    if version != SCHEMA_VERSION:
        what = (
            "Upgrade lever_gym to read it."
            if version > SCHEMA_VERSION
            else f"Rebuild the library (`lever-gym build-library --force --out {path.parent}`)."
        )
        raise LibraryError(
            f"{path} has schema version {version}; this lever_gym reads version "
            f"{SCHEMA_VERSION}. {what}"
        )
    unknown = sorted(set(data) - set(FIELDS))
    missing = [f for f in FIELDS if f not in data]
    if unknown or missing:
        problems = [f"has unknown field(s) {unknown}"] if unknown else []
        problems += [f"lacks field(s) {missing}"] if missing else []
        raise refuse("the manifest", " and ".join(problems))
    if not isinstance(data["lever_gym_version"], str):
        raise refuse("lever_gym_version", "must be a string")
    try:
        config = BuildConfig.from_dict(data["config"])
    except LeverGymError as e:
        raise refuse("config", f"is invalid: {e}") from e
    columns = component_columns(data["components"], refuse)
    policies = data["policies"]
    if not isinstance(policies, list):
        raise refuse("policies", "must be a list")
    records, seen = [], set()
    for i, item in enumerate(policies):
        try:
            record = PolicyRecord.from_dict(_widened_record(item, columns))
        except LeverGymError as e:
            raise refuse(f"policies[{i}]", f"is invalid: {e}") from e
        if record.id in seen:
            raise refuse(f"policies[{i}].id", f"repeats {record.id!r}")
        seen.add(record.id)
        expected = policy_id(record.run, record.algorithm, record.snapshot)
        if record.id != expected or record.dataset_id != f"{NAMESPACE}/{expected}-v0":
            raise refuse(
                f"policies[{i}]", f"has id {record.id!r} and dataset_id {record.dataset_id!r}; "
                f"its fields make them {expected!r} and '{NAMESPACE}/{expected}-v0'",
            )  # fmt: skip
        _check_digests(
            refuse, f"policies[{i}].files", record.files, policy_files(record.dataset_id)
        )
        records.append(record)
    if [r.id for r in records] != config.policy_ids():
        raise refuse("policies", "do not list the policies of its config, in build order")
    index = data["index_files"]
    _check_digests(refuse, "index_files", index, index_file_names(config))
    check_annoy_entries(refuse, data["annoy"], config, records, len(columns))
    for rel in [*index, *(f for r in records for f in r.files)]:
        plain_parts(path.parent, rel)  # links are resolved (``inside``) when a file is read
    return config, records, columns


def component_columns(names: object, refuse: Callable[[str, str], LibraryError]) -> np.ndarray:
    """Per component a library records (``names``, its column order), its column in the
    registry (int64); a name that is not registered, or a list that is not distinct names,
    is refused naming it."""
    if not (
        isinstance(names, list) and names and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    ):  # fmt: skip
        raise refuse("components", "must be a list of distinct component names")
    known = reward_components.names()
    missing = [n for n in names if n not in known]
    if missing:
        raise LibraryError(
            f"the library records the reward component(s) {', '.join(map(repr, missing))}, "
            f"which this lever_gym does not register (it has {', '.join(known)}). Register "
            "them (lever_gym.components.register) before opening it, or rebuild the library."
        )
    return np.array([known.index(n) for n in names], dtype=np.int64)


def widen(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values`` (last axis: the recorded components, in recorded order) on the registry's
    columns, zero in the columns of components the library does not record; ``values``
    itself when the two orders agree."""
    n = reward_components.count()
    if len(columns) == n and np.array_equal(columns, np.arange(n)):
        return values
    out = np.zeros((*values.shape[:-1], n), dtype=values.dtype)
    out[..., columns] = values
    if not values.flags.writeable:
        out.setflags(write=False)
    return out


def _widened_record(item: object, columns: np.ndarray) -> object:
    """A manifest record with its per-component lists on the registry's columns."""
    if not isinstance(item, dict):
        return item
    out = dict(item)
    for name in ("weights", "greedy_components"):
        values = item.get(name)
        ok = isinstance(values, list) and len(values) == len(columns)
        if ok and all(type(x) in (int, float) for x in values):  # type: ignore[union-attr]
            out[name] = widen(np.array(values, dtype=np.float64), columns).tolist()
    return out


def _check_digests(refuse: Any, field: str, files: object, names: list[str]) -> None:
    """``files`` must map exactly ``names`` to sha256 digests."""
    if not isinstance(files, dict) or sorted(files) != sorted(names):
        raise refuse(field, f"must list exactly {names}")
    if not all(isinstance(v, str) and SHA256.fullmatch(v) for v in files.values()):
        raise refuse(field, "must map each path to a sha256 digest (64 hex digits)")


def annoy_facts(
    config: BuildConfig, records: list[PolicyRecord], n_components: int
) -> dict[str, dict[str, Any]]:
    """What the manifest must record of each layout's Annoy file, but its size: the vector
    length (the embedding of ``n_components`` components, one more for ``angular-mips``),
    metric, item and tree counts a build of ``config`` gives it."""
    facts = {}
    for n in config.sizes:
        for s in config.layout_seeds:
            items = sum(1 for r in records if r.layout_key == (n, s))
            facts[f"{index_folder(n, s)}/annoy.ann"] = {
                "f": embedding_dim(n_components) + 1, "metric": "angular", "items": items,
                "trees": config.n_trees,
            }  # fmt: skip
    return facts


def check_annoy_entries(
    refuse: Any,
    entries: object,
    config: BuildConfig,
    records: list[PolicyRecord],
    n_components: int,
) -> dict[str, AnnoyFacts]:
    """The ``annoy`` section as ``AnnoyFacts`` per file, checked against the config."""
    expected = annoy_facts(config, records, n_components)
    if not isinstance(entries, dict) or sorted(entries) != sorted(expected):
        raise refuse("annoy", f"must describe exactly {sorted(expected)}")
    out = {}
    for rel, facts in entries.items():
        size = facts.get("bytes") if isinstance(facts, dict) else None
        ints = isinstance(facts, dict) and all(
            type(facts.get(k)) is int for k in ("bytes", "f", "items", "trees")
        )
        if not ints or facts != {**expected[rel], "bytes": size} or not size or size < 1:
            raise refuse(f"annoy[{rel!r}]", f"must be {expected[rel]} with a positive 'bytes'")
        out[rel] = AnnoyFacts(**facts)
    return out
