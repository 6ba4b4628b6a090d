"""A library's manifest: its schema, checked field by field before anything else is read.

``manifest.json`` holds ``schema_version``, ``lever_gym_version``, the build ``config``, one
record per policy (``policies``, in build order, each listing the sha256 of its four files),
``index_files`` (the sha256 of every index file) and ``annoy`` (the size and shape of every
Annoy forest, checked before it is memory-mapped). Every path in it is derived from the
config and checked to be a plain relative path, so an edited manifest cannot point outside
the library or at another policy's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lever_gym.checks import json_file
from lever_gym.data import MAIN_FILE, METADATA_FILE, NAMESPACE_FILE
from lever_gym.errors import LeverGymError, LibraryError
from lever_gym.library.annoy_file import AnnoyFacts
from lever_gym.library.config import NAMESPACE, BuildConfig, PolicyRecord, layout_name, policy_id
from lever_gym.library.files import SHA256, inside, plain_parts

SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
FIELDS = ("schema_version", "lever_gym_version", "config", "policies", "index_files", "annoy")
POLICY_FILES = ("policy.npz", "policy.json", "data/main_data.hdf5", "data/metadata.json")
"""The checksummed files of a policy folder (``timing.json``, a measurement, is not)."""
DATA_FILES = (MAIN_FILE, METADATA_FILE)
"""Every file of a policy's Minari dataset folder, ``data/``."""
INDEX_FILES = ("annoy.ann", "embeddings.npz", "index.json")
PREDICTOR = "index/predictor.json"


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


def check_manifest(data: object, path: Path) -> tuple[BuildConfig, list[PolicyRecord]]:
    """The config and records of manifest ``data`` after checking its schema; raises
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
    policies = data["policies"]
    if not isinstance(policies, list):
        raise refuse("policies", "must be a list")
    records, seen = [], set()
    for i, item in enumerate(policies):
        try:
            record = PolicyRecord.from_dict(item)
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
    check_annoy_entries(refuse, data["annoy"], config, records)
    for rel in [*index, *(f for r in records for f in r.files)]:
        plain_parts(path.parent, rel)  # links are resolved (``inside``) when a file is read
    return config, records


def _check_digests(refuse: Any, field: str, files: object, names: list[str]) -> None:
    """``files`` must map exactly ``names`` to sha256 digests."""
    if not isinstance(files, dict) or sorted(files) != sorted(names):
        raise refuse(field, f"must list exactly {names}")
    if not all(isinstance(v, str) and SHA256.fullmatch(v) for v in files.values()):
        raise refuse(field, "must map each path to a sha256 digest (64 hex digits)")


def annoy_facts(config: BuildConfig, records: list[PolicyRecord]) -> dict[str, dict[str, Any]]:
    """What the manifest must record of each layout's Annoy file, but its size: the vector
    length, metric, item and tree counts a build of ``config`` gives it."""
    facts = {}
    for n in config.sizes:
        for s in config.layout_seeds:
            items = sum(1 for r in records if r.layout_key == (n, s))
            facts[f"{index_folder(n, s)}/annoy.ann"] = {
                "f": config.embed.dim + 1, "metric": "angular", "items": items,
                "trees": config.n_trees,
            }  # fmt: skip
    return facts


def check_annoy_entries(
    refuse: Any, entries: object, config: BuildConfig, records: list[PolicyRecord]
) -> dict[str, AnnoyFacts]:
    """The ``annoy`` section as ``AnnoyFacts`` per file, checked against the config."""
    expected = annoy_facts(config, records)
    if not isinstance(entries, dict) or sorted(entries) != sorted(expected):
        raise refuse("annoy", f"must describe exactly {sorted(expected)}")
    out = {}
    for rel, facts in entries.items():
        size = facts.get("bytes") if isinstance(facts, dict) else None
        ints = isinstance(facts, dict) and all(
            type(facts.get(k)) is int for k in ("bytes", "f", "items", "trees")
        )
        if not ints or facts != {**expected[rel], "bytes": size} or size < 1:
            raise refuse(f"annoy[{rel!r}]", f"must be {expected[rel]} with a positive 'bytes'")
        out[rel] = AnnoyFacts(**facts)
    return out
