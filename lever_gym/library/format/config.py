"""What a library holds: its build configuration and one record per policy (JSON-plain)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.data.collect import DataConfig
from lever_gym.envs.layout import check_size
from lever_gym.envs.space import KEYS
from lever_gym.errors import ConfigError, UnknownObjectiveError, suggest
from lever_gym.library.embedding import EmbedConfig
from lever_gym.library.format.files import SHA256
from lever_gym.objective import Objective, env_id
from lever_gym.train.tabular import ALGORITHMS, BUDGETS

NAMESPACE = "lever"
MIN_POLICIES = 2
"""Fewest policies a library holds: its return predictor needs two to cross-validate."""
BUILDING_BLOCKS: tuple[str, ...] = (
    "Path",
    "Gold",
    "Hazard",
    "Lever",
    "PathGold",
    "HazardLever",
    "PathGoldHazard",
)
"""The paper's library objectives; the full composite ``PathGoldHazardLever`` is never one."""
FULL_COMPOSITE = "PathGoldHazardLever"


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """What a library holds: ``replicas`` independent training runs per size × layout ×
    objective × γ × budget, keeping ``snapshots`` evenly spaced Q-tables of each run as
    library policies (so every building block has several candidates to choose from)."""

    sizes: tuple[int, ...] = (8, 16)
    layout_seeds: tuple[int, ...] = (0, 1)
    objectives: tuple[str, ...] = BUILDING_BLOCKS
    gammas: tuple[float, ...] = (0.0, 0.99)
    budgets: tuple[int, ...] = (BUDGETS["X1"], BUDGETS["X5"])
    replicas: int = 3
    """Independent training runs (own seeds) per block, γ and budget."""
    snapshots: int = 1
    algorithm: str = "q_learning"
    key: str = "state"
    alpha: float = 0.1
    random_start: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    n_trees: int = 16
    """Trees of each layout's Annoy index."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate before any work, naming the valid choices."""
        for name in ("sizes", "layout_seeds", "objectives", "gammas", "budgets"):
            checks.distinct(checks.non_empty(getattr(self, name), name), name)
        for size in self.sizes:
            check_size(size)
        for seed in self.layout_seeds:
            checks.seed(seed, "layout seed")
        checks.seed(self.seed)
        for objective in self.objectives:
            Objective.named(objective)  # raises with the valid names
            if objective == FULL_COMPOSITE:
                raise UnknownObjectiveError(
                    f"{FULL_COMPOSITE} is the benchmark's full composite and is never a library "
                    f"building block; choose among {', '.join(BUILDING_BLOCKS)}."
                )
        checks.positive_int(self.replicas, "replicas")
        checks.positive_int(self.snapshots, "snapshots")
        for budget in self.budgets:
            checks.positive_int(budget, "budgets (episode counts)")
            if budget % self.snapshots:
                raise ConfigError(
                    f"budget {budget} is not a multiple of snapshots={self.snapshots}."
                )
        checks.one_of(self.algorithm, ALGORITHMS, "algorithm")
        checks.one_of(self.key, KEYS, "key")
        object.__setattr__(self, "gammas", tuple(checks.gamma(g, "gammas") for g in self.gammas))
        checks.real(self.alpha, "alpha", 0.0, 1.0, closed="right")
        checks.boolean(self.random_start, "random_start")
        checks.positive_int(self.n_trees, "n_trees")
        for name, kind in (("data", DataConfig), ("embed", EmbedConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(
                    f"{name} must be a {kind.__name__}; got {type(getattr(self, name)).__name__}."
                )
        n = self.replicas * self.snapshots
        for name in ("sizes", "layout_seeds", "objectives", "gammas", "budgets"):
            n *= len(getattr(self, name))
        if n < MIN_POLICIES:
            raise ConfigError(
                f"this config builds {n} policy; a library needs at least {MIN_POLICIES} (its "
                "return predictor is cross-validated). Add an objective, gamma, budget, "
                "replica or snapshot."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: object) -> BuildConfig:
        """Inverse of ``to_dict``; ``ConfigError`` naming any missing, unknown or invalid field."""
        kwargs: dict[str, Any] = dict(_fields_of(cls, data, "config"))
        for name, kind in (("data", DataConfig), ("embed", EmbedConfig)):
            kwargs[name] = kind(**dict(_fields_of(kind, kwargs[name], f"config.{name}")))
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()
        }
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        """sha256 of the config's canonical JSON: builds of equal fingerprints write equal
        files, so only their work may be resumed."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def snapshots_of(self, run: Run) -> list[int]:
        """Training episodes behind each kept Q-table of ``run``, evenly spaced."""
        every = run.budget // self.snapshots
        return [every * (i + 1) for i in range(self.snapshots)]

    def policy_ids(self) -> list[str]:
        """The id of every policy the build writes, in manifest order."""
        return [
            policy_id(run, self.algorithm, e) for run in self.runs() for e in self.snapshots_of(run)
        ]

    def runs(self) -> list[Run]:
        """Every training run of the build, in a fixed order."""
        return [
            Run(size, layout, objective, float(gamma), budget, replica)
            for size in self.sizes
            for layout in self.layout_seeds
            for objective in self.objectives
            for gamma in self.gammas
            for budget in self.budgets
            for replica in range(self.replicas)
        ]


@dataclass(frozen=True)
class Run:
    """One training run: a building block on one layout at one γ and budget (one replica)."""

    size: int
    layout_seed: int
    objective: str
    gamma: float
    budget: int
    replica: int


@dataclass(frozen=True, kw_only=True)
class PolicyRecord:
    """What the manifest says about one library policy."""

    id: str
    dataset_id: str
    size: int
    layout_seed: int
    objective: str
    weights: tuple[float, ...]
    algorithm: str
    gamma: float
    budget: int
    replica: int
    """Which of the build's independent training runs of this block, γ and budget."""
    snapshot: int
    """Training episodes behind this Q-table (the budget for the final snapshot)."""
    key: str
    train_seed: int
    data_seed: int
    train_steps: int
    greedy_return: float
    """Undiscounted return of the greedy policy from the layout's start, own objective."""
    greedy_components: tuple[float, ...]
    """The same rollout's return per component, in ``COMPONENTS`` order."""
    n_episodes: int
    n_transitions: int
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of every file of the policy."""

    def __post_init__(self) -> None:
        """Validate every field's type and range (a record may come from an edited file)."""
        for name in ("id", "dataset_id"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string; got {getattr(self, name)!r}.")
        check_size(self.size)
        for name in ("layout_seed", "train_seed", "data_seed"):
            checks.seed(getattr(self, name), name)
        Objective.named(self.objective)
        checks.one_of(self.algorithm, ALGORITHMS, "algorithm")
        checks.one_of(self.key, KEYS, "key")
        object.__setattr__(self, "gamma", checks.gamma(self.gamma))
        for name in ("budget", "snapshot", "n_episodes"):
            checks.positive_int(getattr(self, name), name)
        for name in ("replica", "train_steps", "n_transitions"):
            checks.non_negative_int(getattr(self, name), name)
        object.__setattr__(
            self, "greedy_return", checks.real(self.greedy_return, "greedy_return", -1e12, 1e12)
        )
        for name in ("weights", "greedy_components"):
            values = getattr(self, name)
            n = reward_components.count()
            if not isinstance(values, tuple) or len(values) != n:
                raise ConfigError(f"{name} must be {n} numbers; got {values!r}.")
            object.__setattr__(self, name, tuple(checks.real(x, name, -1e12, 1e12) for x in values))
        ok = isinstance(self.files, dict) and all(
            isinstance(k, str) and isinstance(v, str) and SHA256.fullmatch(v)
            for k, v in self.files.items()
        )
        if not ok:
            raise ConfigError(f"files must map paths to sha256 digests; got {self.files!r}.")

    @property
    def directory(self) -> str:
        """The policy's folder, relative to the library root."""
        return self.dataset_id

    @property
    def run(self) -> Run:
        """The training run the policy's Q-table comes from."""
        return Run(
            self.size, self.layout_seed, self.objective, self.gamma, self.budget, self.replica
        )

    @property
    def env_id(self) -> str:
        """The registered id of the policy's own objective and size."""
        return env_id(self.size, self.objective)

    @property
    def layout_key(self) -> tuple[int, int]:
        """``(size, layout_seed)`` of the policy's layout."""
        return (self.size, self.layout_seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: object) -> PolicyRecord:
        """Inverse of ``to_dict``; ``ConfigError`` naming any missing, unknown or invalid field."""
        kwargs = dict(_fields_of(cls, data, "record"))
        for name in ("weights", "greedy_components"):
            if isinstance(kwargs[name], list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


def _fields_of(cls: type, data: object, what: str) -> Iterator[tuple[str, Any]]:
    """The ``(name, value)`` pairs of ``data`` for dataclass ``cls``; ``ConfigError`` if
    ``data`` is not an object, names an unknown field or misses one."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object; got {type(data).__name__}.")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(map(str, data)) - set(names))
    missing = [n for n in names if n not in data]
    if unknown or missing:
        problems = [f"unknown field(s) {', '.join(map(repr, unknown))}"] if unknown else []
        problems += [f"missing field(s) {', '.join(map(repr, missing))}"] if missing else []
        hint = suggest(unknown[0], names) if unknown else ""
        raise ConfigError(f"{what} has {' and '.join(problems)}.{hint}")
    return ((n, data[n]) for n in names)


def policy_name(run: Run, algorithm: str, snapshot: int) -> str:
    """``PathGold-q_learning-g0p99-b10000-r1-e10000`` (replica 1, Q-table after 10,000
    episodes): dots are not allowed in Minari ids."""
    gamma = f"{run.gamma:g}".replace(".", "p")
    return f"{run.objective}-{algorithm}-g{gamma}-b{run.budget}-r{run.replica}-e{snapshot}"


def layout_name(size: int, layout_seed: int) -> str:
    """``8x8-s0``: the folder of a layout's policies and index."""
    return f"{size}x{size}-s{layout_seed}"


def policy_id(run: Run, algorithm: str, snapshot: int) -> str:
    """``8x8-s0/Path-q_learning-g0-b1000-r0-e1000``; its dataset id and folder are
    ``lever/<id>-v0``."""
    return f"{layout_name(run.size, run.layout_seed)}/{policy_name(run, algorithm, snapshot)}"


def derive_seed(master: int, *parts: object) -> int:
    """A seed for one piece of a build, stable under changes to the rest of the config."""
    digest = hashlib.sha256("/".join(map(str, (master, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
