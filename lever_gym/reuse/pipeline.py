"""The stages of ``LeverComposedPolicy.from_library``, each a function with its own test.

``resolve_target`` (objective and layout) → ``retrieve`` (candidates per part of every
split, cut by the strategy) → ``combinations`` → ``scoring_context`` + ``score_combinations``
(each combination scored offline on the library's recorded transitions) → composition of
the best one (``members_of``). None of them steps an environment.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError, LibraryError, RetrievalError
from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.store import Library, PolicyLibrary, generated_layout
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.objective import Objective, weighted
from lever_gym.reuse.composition import ComposedQ
from lever_gym.reuse.config import ReuseConfig
from lever_gym.reuse.decompose import Part
from lever_gym.reuse.explain import Combination
from lever_gym.reuse.members import Members
from lever_gym.reuse.retrieval import Ranked, candidates, layout_candidates
from lever_gym.reuse.scoring import SCORINGS, ScoringContext
from lever_gym.reuse.tables import layout_tables, own_values

Candidates = dict[tuple[str, float], list[tuple[PolicyRecord, float]]]
"""Per ``(block, γ)``, the retrieved records and their index scores, best first."""


@dataclass(frozen=True)
class Target:
    """The objective and layout a composed policy is built for."""

    objective: Objective
    size: int
    layout_seed: int


@dataclass(frozen=True)
class Candidate:
    """One combination to score: a split, a library γ (``None``: several) and its records
    (one per part, or the whole retrieved pool for ``gpi``)."""

    split: tuple[Part, ...]
    gamma: float | None
    records: tuple[PolicyRecord, ...]


def resolve_target(library: PolicyLibrary, objective: Any, layout: Any = None) -> Target:
    """The objective and the library layout it is composed on: ``layout`` as ``(size,
    layout_seed)``, a ``Layout`` or an env; else the layout an env or env id given as the
    objective names; else the library's only layout. A randomised-world id names no layout
    (pass one)."""
    target = Objective.parse(objective)
    layouts = library.layouts()
    given = layout if layout is not None else _layout_of(objective)
    if given is None:
        if len(layouts) != 1:
            raise ConfigError(
                "say which layout: pass layout=(size, layout_seed), a Layout or an env (or an "
                f"env id as the objective); the library has "
                f"{', '.join(f'{n}x{n} layout {s}' for n, s in layouts)}."
            )
        return Target(target, *layouts[0])
    if isinstance(given, gym.Env):
        given = given.unwrapped.layout  # type: ignore[attr-defined]
    if isinstance(given, Layout):
        return Target(target, *_library_layout(library, given))
    if not (isinstance(given, tuple | list) and len(given) == 2):
        raise ConfigError(
            f"layout must be (size, layout_seed), a Layout or a LeverGrid env; got {given!r:.80}."
        )
    size, seed = checks.positive_int(given[0], "size"), checks.seed(given[1], "layout_seed")
    if (size, seed) not in layouts:
        raise LibraryError(
            f"the library has no {size}x{size} layout {seed} (it has "
            f"{', '.join(f'{n}x{n} layout {s}' for n, s in layouts)}); build one for it first."
        )
    return Target(target, size, seed)


def _layout_of(objective: Any) -> Any:
    """The layout an env or a LeverGrid env id given as the objective names (``None``:
    none); a randomised-world id is refused."""
    if isinstance(objective, gym.Env):
        return objective
    if not (isinstance(objective, str) and "LeverGrid-" in objective):
        return None
    spec = gym.spec(objective.removeprefix("lever_gym:"))
    if "layout_seeds" in spec.kwargs:
        raise ConfigError(
            f"{objective} draws a new layout every episode; pass the layout to compose for, "
            "layout=(size, layout_seed), a Layout or an env."
        )
    return (spec.kwargs["size"], spec.kwargs.get("layout_seed", 0))


def _library_layout(library: PolicyLibrary, layout: Layout) -> tuple[int, int]:
    for n, seed in library.layouts():
        if n == layout.size and generated_layout(n, seed) == layout:
            return n, seed
    raise LibraryError(
        "the layout is not one of the library's generated layouts "
        f"({library.layouts()}); build a library for it first."
    )


LAYOUT_POOL = "*"
"""The block name under which ``retrieve`` lists candidates drawn from the whole layout."""


def retrieve(
    library: Library,
    target: Target,
    split_list: list[tuple[Part, ...]],
    gammas: list[float],
    strategy: str,
    k: int,
    backend: str,
    whole_layout: bool = False,
) -> Candidates:
    """Candidates of every block of every split at every γ, from the layout's index; with
    ``whole_layout``, also the layout's best policies of any block (under ``LAYOUT_POOL``)."""
    index = library.layout_index(target.size, target.layout_seed, backend)
    rankings: dict[Objective, Ranked] = {}
    records = {r.id: r for r in library.layout_records(target.size, target.layout_seed)}

    def ranking(objective: Objective) -> Ranked:  # one index query per objective
        if objective not in rankings:
            rankings[objective] = [(records[pid], s) for pid, s in index.query(objective)]
        return rankings[objective]

    ranked: Candidates = {}
    if whole_layout:
        for g in gammas:
            ranked[LAYOUT_POOL, g] = layout_candidates(
                ranking(target.objective), target.objective, g, strategy, k
            )
    for split in split_list:
        for part in split:
            for g in gammas:
                if (part.objective, g) not in ranked:
                    ranked[part.objective, g] = candidates(
                        ranking(Objective.named(part.objective)), part.objective, g, strategy, k
                    )
    return ranked


def combinations(
    split_list: list[tuple[Part, ...]], gammas: list[float], ranked: Candidates
) -> list[Candidate]:
    """Every combination of one candidate per part, per split and γ, in a fixed order."""
    combos = [
        Candidate(split, g, combo)
        for split in split_list
        for g in gammas
        if all(ranked[p.objective, g] for p in split)
        for combo in itertools.product(*[[r for r, _ in ranked[p.objective, g]] for p in split])
    ]
    if not combos:
        raise RetrievalError(
            "no gamma has candidates for every part of any split: "
            + "; ".join(f"{b} (gamma {g:g}): {len(c)} candidate(s)" for (b, g), c in ranked.items())
        )
    return combos


def pool_combination(split_list: list[tuple[Part, ...]], ranked: Candidates) -> list[Candidate]:
    """The one combination of ``gpi``: every retrieved record of every part and γ at once."""
    parts = tuple(dict.fromkeys(p for split in split_list for p in split))
    records = tuple({r.id: r for c in ranked.values() for r, _ in c}.values())
    if not records:
        raise RetrievalError(
            "no candidates retrieved for any part: "
            + "; ".join(f"{b} (gamma {g:g}): 0 candidates" for b, g in ranked)
        )
    return [Candidate(parts, None, records)]


def members_of(
    library: Library,
    records: list[PolicyRecord],
    factors: dict[str, float],
    target: Objective | None = None,
) -> Members:
    """The ``records`` (of one layout) as members over the layout's stacked tables, each
    weighted by its part's factor (1 for a block outside the split); with ``target``, also
    their ψ and the target's weights (for ``gpi``)."""
    tables = layout_tables(library, records[0].size, _layout_seed(library, records))
    return Members.of_tables(
        tables.stacked, tables.positions([r.id for r in records]), [r.id for r in records],
        np.array([factors.get(r.objective, 1.0) for r in records]),
        target.weights if target is not None else None,
    )  # fmt: skip


def score_combinations(
    context: ScoringContext,
    combos: list[Candidate],
    position: dict[str, int],
    scoring: str,
) -> list[Combination]:
    """Every combination's offline rollout score (and predicted return when asked)."""
    scored: list[Combination] = []
    if not combos:
        return scored
    members_of_combo = [np.array([position[r.id] for r in c.records]) for c in combos]
    rolled = context.roll_all(members_of_combo)
    returns = np.array([r.returns for r in rolled]).mean(axis=1)  # each row's own mean
    inside = np.array([r.inside for r in rolled]).mean(axis=1)
    for i, (combo, members) in enumerate(zip(combos, members_of_combo, strict=True)):
        scored.append(
            Combination(
                parts="+".join(p.objective for p in combo.split),
                gamma=combo.gamma,
                policies=tuple(r.id for r in combo.records),
                rollout_return=float(returns[i]),
                rollout_inside=float(inside[i]),
                predicted_return=SCORINGS[scoring](context, members)
                if scoring != "rollout"
                else None,
            )
        )
    return scored


def scoring_context(
    library: Library,
    target: Target,
    pool: list[PolicyRecord],
    factors: dict[str, float],
    config: ReuseConfig,
) -> ScoringContext:
    """What every combination of the query shares: the layout's stacked policies and
    recorded data, the pool's positions and factors, the scoring starts and (for
    ``predictor``) the predictor."""
    model = library.model(pool[0])
    tables = layout_tables(library, target.size, target.layout_seed)
    index = library.layout_index(target.size, target.layout_seed, config.retrieval.backend)
    predicted = config.scoring.scoring == "predictor"
    return ScoringContext(
        model=model, tables=tables, target=target.objective,
        pool=tables.positions([r.id for r in pool]),
        factors=np.array([factors.get(r.objective, 1.0) for r in pool]), config=config.compose,
        starts=scoring_starts(tables.empirical, model, config.scoring.n_starts, config.seed),
        penalty=100.0 * float(np.abs(target.objective.vector).sum()), seed=config.seed,
        predictor=library.predictor() if predicted else None,
        canonical=index.canonical, embed_config=library.config.embed,
    )  # fmt: skip


def scoring_starts(emp: EmpiricalModel, model: TabularModel, n: int, seed: int) -> np.ndarray:
    """The layout's start plus up to ``n - 1`` seeded episode starts recorded in the data."""
    if n == 1:
        return np.array([model.start_state], dtype=np.int64)
    others = emp.starts[emp.starts != model.start_state]
    rng = np.random.default_rng(seed)
    picked = rng.choice(others, size=min(n - 1, len(others)), replace=False)
    return np.concatenate([[model.start_state], np.sort(np.asarray(picked, dtype=np.int64))])


def _layout_seed(library: Library, members: list[PolicyRecord]) -> int:
    seeds = {r.layout_seed for r in members}
    if len(seeds) != 1:
        raise ConfigError(f"members come from several layouts ({sorted(seeds)}).")
    return seeds.pop()


def own_value(
    library: Library, record: PolicyRecord, target: Objective, starts: np.ndarray
) -> float:
    """``record``'s value under ``target`` from its stored ψ alone: the mean over the
    ``starts`` its data records of ``ψ · w`` of its greedy-on-support action (``nan``: none)."""
    states, psi = own_values(library, record)
    at = np.minimum(np.searchsorted(states, starts), max(len(states) - 1, 0))
    found = states[at] == starts if len(states) else np.zeros(len(starts), bool)
    values = weighted(psi[at[found]], target.weights)
    return float(values.mean()) if len(values) else float("nan")


def guard(
    context: ScoringContext, members: list[PolicyRecord], composed: ComposedQ
) -> dict[str, Any]:
    """Compare the composed policy with each member acting alone (greedy in its Q-table),
    both rolled through the same recorded transitions from the scoring starts; return the
    scores and the best member if one beats the composition (else ``None``)."""
    mine = float(context.walk(composed.actions_of(context.states)).returns.mean())
    best, best_score = None, mine
    walks = context.tables.greedy_walks(context.starts, context.model.layout.n_cells)
    alone = context.score(walks).returns.reshape(-1, len(context.starts)).mean(axis=1)
    for r, p in zip(members, context.tables.positions([r.id for r in members]), strict=True):
        score = float(alone[p])
        if score > best_score + 1e-9:
            best, best_score = r, score
    return {"composed_score": mine, "best_member": best, "best_member_score": best_score}
