"""What a library holds: its build configuration and one record per policy (JSON-plain)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import lever_gym.checks as checks
from lever_gym.data.collect import DataConfig
from lever_gym.envs.layout import check_size
from lever_gym.errors import ConfigError, UnknownObjectiveError
from lever_gym.library.embedding import EmbedConfig
from lever_gym.objective import Objective, env_id
from lever_gym.train.tabular import ALGORITHMS, BUDGETS, KEYS

NAMESPACE = "lever"
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
        for gamma in self.gammas:
            checks.gamma(gamma, "gammas")
        checks.real(self.alpha, "alpha", 0.0, 1.0, closed="right")
        checks.boolean(self.random_start, "random_start")
        checks.positive_int(self.n_trees, "n_trees")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        """Inverse of ``to_dict``."""
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "data":
                value = DataConfig(**value)
            elif f.name == "embed":
                value = EmbedConfig(**value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)

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

    @property
    def directory(self) -> str:
        """The policy's folder, relative to the library root."""
        return self.dataset_id

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
    def from_dict(cls, data: dict[str, Any]) -> PolicyRecord:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["weights"] = tuple(data["weights"])
        data["greedy_components"] = tuple(data["greedy_components"])
        return cls(**data)


def policy_name(run: Run, algorithm: str, snapshot: int) -> str:
    """``PathGold-q_learning-g0p99-b10000-r1-e10000`` (replica 1, Q-table after 10,000
    episodes): dots are not allowed in Minari ids."""
    gamma = f"{run.gamma:g}".replace(".", "p")
    return f"{run.objective}-{algorithm}-g{gamma}-b{run.budget}-r{run.replica}-e{snapshot}"


def derive_seed(master: int, *parts: object) -> int:
    """A seed for one piece of a build, stable under changes to the rest of the config."""
    digest = hashlib.sha256("/".join(map(str, (master, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
