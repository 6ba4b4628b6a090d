"""What a neural library holds: its build configuration, its manifest and one record per member.

A neural library is a folder that is also a ``MINARI_DATASETS_PATH``:

    manifest.json                       NEURAL_FORMAT, the config, the networks' schemas,
                                        the members, the index; sha256 of every file
    lever/neural-8x8/<Objective>-dqn-r<k>-v0/
        data/main_data.hdf5, data/metadata.json    the member's Minari dataset
        q.npz, psi.npz, behaviour.npz              its networks, npz of named float32 arrays
    index/annoy.ann, index/embeddings.npz          retrieval over the members

Every network is rebuilt from its ``NetworkSchema`` in the manifest and its arrays are
checked against it (names, shapes, float32, finite) after the file's sha256, never unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.format.config import BUILDING_BLOCKS, FULL_COMPOSITE, NAMESPACE
from lever_gym.library.format.files import SHA256, plain_parts
from lever_gym.objective import Objective
from lever_gym.train.dqn import DQNConfig, Worlds
from lever_gym.train.heads import HeadConfig
from lever_gym.train.network import NetworkSchema

NEURAL_FORMAT = "lever-gym-neural-library"
NEURAL_SCHEMA_VERSION = 1
HEADS = ("q", "psi", "behaviour")
"""A member's networks: its Q-network, its successor-feature head and its behaviour model."""
DATA_FILES = ("data/main_data.hdf5", "data/metadata.json")
MEMBER_FILES = (*DATA_FILES, *(f"{h}.npz" for h in HEADS))
INDEX_FILES = ("index/annoy.ann", "index/embeddings.npz")
MAX_MEMBERS = 1024
"""Most members a neural manifest may list (bounded before anything is read)."""
FIELDS = (
    "format",
    "schema_version",
    "lever_gym_version",
    "components",
    "config",
    "networks",
    "members",
    "index",
)


@dataclass(frozen=True, kw_only=True)
class NeuralBuildConfig:
    """A neural library: ``replicas`` DQN members per objective over ``worlds``, each with a
    dataset of ``episodes`` ε-greedy episodes (ε ``epsilon``) and heads fitted on it."""

    objectives: tuple[str, ...] = BUILDING_BLOCKS
    replicas: int = 1
    worlds: Worlds = field(default_factory=Worlds)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    heads: HeadConfig = field(default_factory=HeadConfig)
    episodes: int = 100
    epsilon: float = 0.1
    n_trees: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate before any work, naming the valid choices."""
        checks.distinct(checks.non_empty(self.objectives, "objectives"), "objectives")
        for objective in self.objectives:
            Objective.named(objective)
            if objective == FULL_COMPOSITE:
                raise ConfigError(
                    f"{FULL_COMPOSITE} is the benchmark's full composite, never a building "
                    f"block; choose among {', '.join(BUILDING_BLOCKS)}."
                )
        checks.int_in(self.replicas, "replicas", 1, 64)
        if len(self.objectives) * self.replicas > MAX_MEMBERS:
            raise ConfigError(f"a neural library holds at most {MAX_MEMBERS} members.")
        checks.int_in(self.episodes, "episodes", 1, 100_000)
        checks.real(self.epsilon, "epsilon", 0.0, 1.0)
        checks.positive_int(self.n_trees, "n_trees")
        checks.seed(self.seed)
        for name, kind in (("worlds", Worlds), ("dqn", DQNConfig), ("heads", HeadConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(
                    f"{name} must be a {kind.__name__}; got {type(getattr(self, name)).__name__}."
                )
        object.__setattr__(self, "objectives", tuple(self.objectives))

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        out = {**asdict(self), "objectives": list(self.objectives)}
        return {
            **out,
            "worlds": self.worlds.to_dict(),
            "dqn": self.dqn.to_dict(),
            "heads": self.heads.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> NeuralBuildConfig:
        """Inverse of ``to_dict``; ``LibraryError`` on anything else."""
        try:
            d = dict(data)  # type: ignore[call-overload]
            worlds = Worlds(**{**d["worlds"], "layout_seeds": tuple(d["worlds"]["layout_seeds"])})
            dqn = DQNConfig(**{**d["dqn"], "hidden": tuple(d["dqn"]["hidden"]), "worlds": worlds})
            heads = HeadConfig(**{**d["heads"], "hidden": tuple(d["heads"]["hidden"])})
            rest = {k: v for k, v in d.items() if k not in ("worlds", "dqn", "heads")}
            rest["objectives"] = tuple(rest["objectives"])
            return cls(**rest, worlds=worlds, dqn=dqn, heads=heads)
        except (ConfigError, KeyError, TypeError, ValueError) as exc:
            raise LibraryError(
                f"the neural library's config is not one lever_gym wrote ({exc})."
            ) from None

    def member_jobs(self) -> list[tuple[str, int]]:
        """``(objective, replica)`` of every member, in manifest order."""
        return [(o, r) for o in self.objectives for r in range(self.replicas)]


SETUP_PARTS = ("Gold", "Hazard", "HazardLever", "Lever", "Path", "PathGold", "PathGoldHazard")
"""The building blocks of the paper's six setups (``reuse.decompose.SETUPS``)."""
DEFAULT_WORLDS = Worlds(size=8, layout_seeds=(0, 20_000), obs_mode="view", view_size=7)
DEFAULT_NEURAL_CONFIG = NeuralBuildConfig(
    objectives=SETUP_PARTS,
    worlds=DEFAULT_WORLDS,
    dqn=DQNConfig(env_steps=600_000, gradient_steps=2, worlds=DEFAULT_WORLDS),
    heads=HeadConfig(steps=4000),
    episodes=200,
)
"""The default neural library (shipped in ``datasets-neural/``, used by the demo and the
benchmark): one DQN member per setup part on 8x8 layouts 0..19,999, 7x7 view."""


def member_id(objective: str, replica: int) -> str:
    """A member's id: its objective, its algorithm and its replica."""
    return f"{objective}-dqn-r{replica}"


def dataset_id(worlds: Worlds, member: str) -> str:
    """The Minari dataset id of member ``member`` of a library over ``worlds``."""
    return f"{NAMESPACE}/neural-{worlds.size}x{worlds.size}/{member}-v0"


@dataclass(frozen=True)
class NeuralRecord:
    """One member as the manifest lists it."""

    id: str
    objective: str
    weights: tuple[float, ...]
    dataset_id: str
    files: dict[str, str]
    """Relative path -> sha256 of each of ``MEMBER_FILES`` under the dataset's folder."""
    embedding: tuple[float, ...]
    """Its ψ head's component values from its data's episode starts (mean over episodes)."""
    training: dict[str, Any]
    fit: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {**asdict(self), "weights": list(self.weights), "embedding": list(self.embedding)}

    @classmethod
    def from_dict(cls, data: object, where: str, n_components: int, root: Path) -> NeuralRecord:
        """Checked inverse of ``to_dict`` (``LibraryError`` naming ``where``)."""
        keys = {f for f in cls.__dataclass_fields__}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise _refuse(where, f"must have exactly the fields {sorted(keys)}")
        files = data["files"]
        folder = data["dataset_id"]
        ok = (
            isinstance(data["id"], str)
            and isinstance(folder, str)
            and isinstance(data["objective"], str)
            and isinstance(files, Mapping)
            and sorted(files) == sorted(f"{folder}/{f}" for f in MEMBER_FILES)
            and all(isinstance(v, str) and SHA256.fullmatch(v) for v in files.values())
            and _reals(data["weights"], n_components)
            and _reals(data["embedding"], n_components)
            and isinstance(data["training"], Mapping)
            and isinstance(data["fit"], Mapping)
        )
        if not ok:
            raise _refuse(where, "has a field of the wrong type or files other than a member's")
        for rel in files:
            plain_parts(root, rel)
        return cls(
            data["id"],
            data["objective"],
            tuple(float(x) for x in data["weights"]),
            folder,
            dict(files),
            tuple(float(x) for x in data["embedding"]),
            dict(data["training"]),
            dict(data["fit"]),
        )


def _reals(values: object, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(checks.as_real(v) is not None for v in values)
    )


def _refuse(where: str, problem: str) -> LibraryError:
    return LibraryError(
        f"{where} {problem}; lever_gym did not write it. Restore the manifest or rebuild the "
        "library with `lever-gym build-library --members dqn`."
    )


def check_manifest(data: object, where: str) -> dict[str, Any]:
    """The manifest's top level, checked: format, version, fields, components, networks,
    the member count bounded before the members are parsed."""
    if not isinstance(data, dict) or data.get("format") != NEURAL_FORMAT:
        raise _refuse(where, f"is not a neural library manifest (format {NEURAL_FORMAT!r})")
    if data.get("schema_version") != NEURAL_SCHEMA_VERSION:
        raise LibraryError(
            f"{where} has schema version {data.get('schema_version')!r}; this lever_gym reads "
            f"version {NEURAL_SCHEMA_VERSION}. Rebuild the library with this version."
        )
    if sorted(data) != sorted(FIELDS):
        raise _refuse(where, f"must have exactly the fields {sorted(FIELDS)}")
    names = list(reward_components.names())
    if data["components"] != names:
        raise LibraryError(
            f"{where} records the components {data['components']!r}; this session registers "
            f"{names!r}. Register the same components or rebuild the library."
        )
    members = data["members"]
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise _refuse(where, f"must list 1 to {MAX_MEMBERS} members")
    networks = data["networks"]
    if not isinstance(networks, Mapping) or sorted(networks) != sorted(HEADS):
        raise _refuse(where, f"must give a schema for each of {list(HEADS)}")
    _check_index(data["index"], len(members), where)
    return data


def _check_index(index: object, n_members: int, where: str) -> None:
    """The manifest's ``index``: a sha256 per index file and the Annoy forest's facts, one
    item per member."""
    files = index.get("files") if isinstance(index, Mapping) else None
    annoy = index.get("annoy") if isinstance(index, Mapping) else None
    ok = (
        isinstance(files, Mapping)
        and sorted(files) == sorted(INDEX_FILES)
        and all(isinstance(v, str) and SHA256.fullmatch(v) for v in files.values())
        and isinstance(annoy, Mapping)
        and sorted(annoy) == ["bytes", "f", "items", "metric", "trees"]
        and annoy["items"] == n_members
        and annoy["metric"] == "dot"
        and all(checks.is_int(annoy[k]) and annoy[k] > 0 for k in ("bytes", "f", "trees"))
    )
    if not ok:
        raise _refuse(where, "has an index entry other than the files and forest it built")


def network_schemas(data: dict[str, Any], where: str) -> dict[str, NetworkSchema]:
    """The schema of each head from a checked manifest."""
    return {h: NetworkSchema.from_dict(data["networks"][h], f"{where} networks.{h}") for h in HEADS}


def manifest_text(data: dict[str, Any]) -> str:
    """The manifest as written (sorted keys, one-space indent)."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"
