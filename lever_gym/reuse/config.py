"""``ReuseConfig``: every setting of ``LeverComposedPolicy.from_library``, in one frozen value.

It nests the retrieval (strategy, candidates per part, pool, index backend, library γ,
split), the offline scoring, the composition (``ComposeConfig``) and the improvement
(rounds of policy iteration on the data, the guard), with one seed. The command line's
``compose`` flags are generated from its fields (``flag_fields``), the benchmark's variants
are presets of it, and ``explain()`` records ``to_dict()``, so any composed policy can be
rebuilt from its explanation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import lever_gym.checks as checks
from lever_gym.errors import ConfigError, suggest
from lever_gym.library.index import BACKENDS
from lever_gym.reuse.composition import ComposeConfig
from lever_gym.reuse.operators import family
from lever_gym.reuse.retrieval import STRATEGIES
from lever_gym.reuse.scoring import SCORINGS

POOLS = ("parts", "layout")
CONTRACTS = ("stationary", "time-aware")
"""The time-limit contracts a composed policy can be built for (docs/method.md)."""


@dataclass(frozen=True, kw_only=True)
class RetrievalConfig:
    """Which library policies are candidates."""

    strategy: str = field(default="exhaustive", metadata={"choices": tuple(STRATEGIES)})
    """Candidates kept per block: ``targeted`` the best, ``hybrid`` the best ``k``,
    ``exhaustive`` all."""
    k: int = 3
    """Candidates per block with ``strategy="hybrid"``."""
    pool: str | None = field(default=None, metadata={"choices": POOLS})
    """``parts``: the candidates of the split's blocks; ``layout`` (successor operators only):
    also the layout's best policies of any block but the target's; ``None``: ``layout`` with
    a successor operator, else ``parts``."""
    backend: str = field(default="annoy", metadata={"choices": BACKENDS})
    """The layout index's search: Annoy, exact numpy, hnswlib or faiss (the last two: the
    ``scale`` extra)."""
    gamma: float | None = None
    """The library γ to draw from (``None``: every γ, each its own pool)."""
    parts: str | None = None
    """The split (``"PG+HL"``); ``None``: every exact split, scored."""

    def __post_init__(self) -> None:
        """Validate, naming the valid choices."""
        checks.one_of(self.strategy, STRATEGIES, "strategy")
        checks.positive_int(self.k, "k")
        if self.pool is not None:
            checks.one_of(self.pool, POOLS, "pool")
        checks.one_of(self.backend, BACKENDS, "backend")
        if self.gamma is not None:
            object.__setattr__(self, "gamma", checks.gamma(self.gamma))
        if self.parts is not None and not isinstance(self.parts, str):
            raise ConfigError(f"parts must be a split such as 'PG+HL'; got {self.parts!r}.")


@dataclass(frozen=True, kw_only=True)
class ScoringConfig:
    """How combinations are scored offline."""

    scoring: str = field(default="rollout", metadata={"choices": tuple(SCORINGS)})
    """``rollout``: the composed policy rolled through the recorded transitions;
    ``predictor``: its embedding's predicted return."""
    n_starts: int = 1
    """Scoring starts: the layout's start, then recorded episode starts (1 suits the
    fixed-start protocol; 16, random starts)."""

    def __post_init__(self) -> None:
        """Validate."""
        checks.one_of(self.scoring, SCORINGS, "scoring")
        checks.positive_int(self.n_starts, "n_starts")


@dataclass(frozen=True, kw_only=True)
class ImproveConfig:
    """What follows composition."""

    rounds: int = 10
    """Rounds of support-constrained policy iteration on the members' data."""
    gammas: tuple[float, ...] = (0.99, 0.999)
    """Discounts of the discounted plans tried beside the finite-horizon one (the plan with
    the best return on the recorded data is kept); none: the finite-horizon plan alone."""
    guard: bool = True
    """Act as a member that scores higher alone on the recorded data."""
    contract: str = field(default="stationary", metadata={"choices": CONTRACTS})
    """``stationary``: one action per state (Gymnasium's Markov observation); ``time-aware``:
    then time-indexed policy iteration on the same data to its fixed point, for observations
    that carry the elapsed steps (``TimeAwareObservation``)."""

    def __post_init__(self) -> None:
        """Validate."""
        checks.one_of(self.contract, CONTRACTS, "contract")
        checks.non_negative_int(self.rounds, "improvement rounds")
        if not isinstance(self.gammas, tuple | list):
            raise ConfigError(f"gammas must be a tuple of discounts; got {self.gammas!r}.")
        object.__setattr__(
            self, "gammas", tuple(checks.gamma(g, "improvement gammas") for g in self.gammas)
        )
        checks.boolean(self.guard, "guard")


SECTIONS = {
    "retrieval": RetrievalConfig,
    "scoring": ScoringConfig,
    "compose": ComposeConfig,
    "improve": ImproveConfig,
}


@dataclass(frozen=True, kw_only=True)
class ReuseConfig:
    """Every setting of ``from_library`` (the defaults were tuned on the benchmark's tuning
    layouts, docs/results.md)."""

    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    improve: ImproveConfig = field(default_factory=ImproveConfig)
    seed: int = 0
    """Of the scoring starts and of ``extraction="sample"``."""

    def __post_init__(self) -> None:
        """Validate the sections and how they fit together."""
        for name, kind in SECTIONS.items():
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(
                    f"{name} must be a {kind.__name__}; got {type(getattr(self, name)).__name__}."
                )
        checks.seed(self.seed)
        if self.retrieval.pool == "layout" and self.family != "successor":
            raise ConfigError(
                "pool='layout' composes by successor features; use a successor operator such "
                f"as 'gpi', not {self.compose.operator!r}."
            )

    @property
    def family(self) -> str:
        """The operator's family: ``q`` or ``successor``."""
        return family(self.compose.operator)

    @property
    def pool(self) -> str:
        """The pool in use (``RetrievalConfig.pool``, its default resolved)."""
        if self.retrieval.pool is not None:
            return self.retrieval.pool
        return "layout" if self.family == "successor" else "parts"

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form, a section per nested config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> ReuseConfig:
        """Inverse of ``to_dict``; ``ConfigError`` naming a missing, unknown or invalid field."""
        if not isinstance(data, dict) or set(data) - {*SECTIONS, "seed"}:
            raise ConfigError(
                f"a ReuseConfig is an object with the sections {[*SECTIONS, 'seed']}; got "
                f"{data!r:.200}."
            )
        sections = {}
        for name, kind in SECTIONS.items():
            given = data.get(name, {})
            names = {f.name for f in dataclasses.fields(kind)}
            if not isinstance(given, dict) or set(given) - names:
                raise ConfigError(f"{name} takes the fields {sorted(names)}; got {given!r}.")
            sections[name] = kind(**given)
        return cls(**sections, seed=data.get("seed", 0))

    def with_options(self, **options: Any) -> ReuseConfig:
        """This config with the named fields replaced, by their flat names (``flag_fields``):
        ``config.with_options(operator="sum", rounds=0)``."""
        owner = {f.name: section for section, f in flag_fields()}
        unknown = sorted(set(options) - set(owner) - {"seed"})
        if unknown:
            raise ConfigError(
                f"unknown option(s) {unknown}; a ReuseConfig has {sorted([*owner, 'seed'])}."
                + suggest(unknown[0], [*owner, "seed"])
            )
        sections = {
            name: dataclasses.replace(
                getattr(self, name), **{k: v for k, v in options.items() if owner.get(k) == name}
            )
            for name in SECTIONS
        }
        return ReuseConfig(**sections, seed=options.get("seed", self.seed))

    @property
    def label(self) -> str:
        """A short name for tables (``gpi exhaustive pool=layout +improve10 +guard``)."""
        r, c, i = self.retrieval, self.compose, self.improve
        parts = [c.operator]
        if self.family == "q" and c.support_mode != "exclude":
            parts.append(c.support_mode)
        parts.append(f"h{r.k}" if r.strategy == "hybrid" else r.strategy)
        if self.pool != "parts":
            parts.append(f"pool={self.pool}")
        if i.rounds:
            parts.append(f"+improve{i.rounds}")
            if i.gammas != ImproveConfig().gammas:
                plans = ",".join(f"{g:g}" for g in i.gammas) or "finite-horizon only"
                parts.append(f"(plans: {plans})")
        if i.guard:
            parts.append("+guard")
        if i.contract != "stationary":
            parts.append(f"+{i.contract}")
        return " ".join(parts)


def flag_fields() -> list[tuple[str, dataclasses.Field]]:
    """``(section, field)`` of every setting, in section order: the ``compose`` flags of the
    command line are generated from these (their names are unique across sections)."""
    return [(name, f) for name, kind in SECTIONS.items() for f in dataclasses.fields(kind)]


PAPER = ReuseConfig(
    retrieval=RetrievalConfig(strategy="hybrid", k=3, pool="parts"),
    compose=ComposeConfig(operator="sum"),
    improve=ImproveConfig(rounds=0, guard=False),
)
"""The paper's tabular rule: the weighted sum of Q-values on the support, hybrid k = 3."""
