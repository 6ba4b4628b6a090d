"""Offline scoring of candidate combinations: no environment is ever stepped.

A ``ScoringContext`` holds what every combination of one query shares: the layout's
empirical model (the union of its datasets), the pool of candidate members restricted to
the states the data records, the target objective and the scoring starts. Scorers are
registered in ``SCORINGS``: ``rollout`` rolls the composed policy through the recorded
transitions (a rollout that picks an unrecorded pair stops there and is charged a
penalty); ``predictor`` predicts its return from its behavioural embedding on the data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError
from lever_gym.library.embedding import EmbedConfig, Predictor, embed
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.walk import LAZY_WALK_CELLS, WalkBatch
from lever_gym.objective import Objective, weighted
from lever_gym.reuse.composition import (
    ComposeConfig,
    Terms,
    combine,
    compose_on_tables,
    member_terms,
)
from lever_gym.reuse.members import Members
from lever_gym.reuse.operators import OPERATORS, family
from lever_gym.reuse.tables import LayoutTables


@dataclass(frozen=True, eq=False)
class RolloutScore:
    """Offline rollouts of a composed policy from each scoring start."""

    returns: np.ndarray
    steps: np.ndarray
    inside: np.ndarray
    """Whether each rollout ended (terminal or horizon) inside the recorded data."""


@dataclass(eq=False)
class ScoringContext:
    """Everything the combinations of one query share: the layout's stacked policies
    (``tables``, whose ``states`` are the recorded states and the start), the pool's
    positions in them and factors, the target objective and the scoring starts."""

    model: TabularModel
    tables: LayoutTables
    target: Objective
    pool: np.ndarray
    """Pool members' positions in ``tables``."""
    factors: np.ndarray
    """(len(pool),) factor on each pool member's Q-values."""
    config: ComposeConfig
    starts: np.ndarray
    penalty: float
    seed: int = 0
    """Of ``extraction="sample"``."""
    predictor: Predictor | None = None
    canonical: np.ndarray | None = None
    embed_config: EmbedConfig | None = None

    @property
    def states(self) -> np.ndarray:
        """Sorted states the data records, plus the layout's start."""
        return self.tables.states

    @property
    def empirical(self) -> EmpiricalModel:
        """The union of the layout's datasets."""
        return self.tables.empirical

    def __post_init__(self) -> None:
        """Check the starts, then gather what every combination reads: the members' lower
        values (``support_mode="pessimistic"``), the sampling draws and the rewards of the
        recorded rows."""
        at = np.minimum(np.searchsorted(self.states, self.starts), len(self.states) - 1)
        if not np.array_equal(self.states[at], self.starts):
            raise ConfigError("scoring starts must be the layout's start or recorded states.")
        self._composed: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._rollouts: dict[tuple, RolloutScore] = {}
        self._pessimistic = np.zeros(len(self.pool))
        if self.config.support_mode == "pessimistic":
            ids = [self.tables.ids[p] for p in self.pool]
            members = Members.of_tables(self.tables.stacked, self.pool, ids, self.factors)
            self._pessimistic = members.pessimistic()
        self._lazy = family(self.config.operator) == "q"
        """Whether combinations walk at once, composed where they arrive (``roll_all``)."""
        self._uniforms = self.config.uniforms(self.seed, self.states)
        self._rewards = weighted(self.empirical.components, self.target.weights)

    @functools.cached_property
    def counts(self) -> np.ndarray:
        """(len(pool), len(states), A) the pool's dataset counts on ``states``."""
        return self.tables.counts_on[self.pool]

    def composed(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``compose_states`` of ``members`` (indices into ``pool``) on every state of
        ``states`` (kept: the chosen combination is composed again to build the policy)."""
        members = np.asarray(members)
        key = tuple(members.tolist())
        if key not in self._composed:
            found = self._compose(members)
            for a in found:  # kept and handed out again: read-only
                a.setflags(write=False)
            self._composed[key] = found
        return self._composed[key]

    def _compose(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return compose_on_tables(
            self.tables, self.pool[members], self.factors[members], self.target.weights,
            self.config, self._uniforms, self._pessimistic[members],
        )  # fmt: skip

    def actions(self, members: np.ndarray) -> np.ndarray:
        """The composed action of ``members`` (pool indices) in every state of ``states``."""
        return self.composed(members)[0]

    def rollouts(self, members: np.ndarray, starts: np.ndarray | None = None) -> RolloutScore:
        """Roll the composed policy of ``members`` through the data from ``starts`` (kept:
        the chosen combination's walk from the layout's start is its coverage)."""
        starts = self.starts if starts is None else np.asarray(starts, dtype=np.int64)
        key = (tuple(np.asarray(members).tolist()), tuple(starts.tolist()))
        if key not in self._rollouts:
            self._rollouts[key] = self.walk(self.actions(members), starts)
        return self._rollouts[key]

    def roll_all(self, combinations: Sequence[np.ndarray]) -> list[RolloutScore]:
        """``rollouts`` of each combination (pool indices) from the scoring starts. In the
        ``q`` family the combinations walk at once (as many at a time as keep walkers ×
        horizon within ``LAZY_WALK_CELLS``), composed lazily: only the states their walks
        reach are composed (the same actions as ``composed`` there)."""
        keys = [(tuple(np.asarray(c).tolist()), tuple(self.starts.tolist())) for c in combinations]
        todo = [key for key in dict.fromkeys(keys) if key not in self._rollouts]
        if not self._lazy:
            for key in todo:
                self._rollouts[key] = self.walk(self.actions(np.array(key[0])))
            return [self._rollouts[key] for key in keys]
        n, horizon = len(self.starts), self.model.layout.n_cells
        batch = max(1, LAZY_WALK_CELLS // max(n * horizon, 1))
        for lo in range(0, len(todo), batch):
            some = todo[lo : lo + batch]
            members = np.full((len(some), max(len(key[0]) for key in some)), -1, dtype=np.int64)
            for i, key in enumerate(some):
                members[i, : len(key[0])] = key[0]
            walks = self._walk_lazily(members)
            for i, key in enumerate(some):
                part = slice(i * n, (i + 1) * n)
                self._rollouts[key] = RolloutScore(
                    walks.returns[part], walks.steps[part], walks.inside[part]
                )
        return [self._rollouts[key] for key in keys]

    def _walk_lazily(self, members: np.ndarray) -> RolloutScore:
        """Walks of the combinations ``members`` (c, m), each padded after its members with
        -1, walker ``i * len(starts) + j`` the combination ``i`` from start ``j``, each state
        composed when a walk reaches it. A pad contributes nothing: no entry, no count, and
        the reduction's neutral value to the raw fallback (after every member, so each
        member's fold is unchanged)."""
        n = len(self.starts)
        neutral = OPERATORS[self.config.operator].reduction.neutral
        q_on, counts_on = self.tables.q_on, self.tables.counts_on
        n_states, width = q_on.shape[1:]
        flat_q, flat_counts = q_on.reshape(-1, width), counts_on.reshape(-1, width)

        def act(walkers: np.ndarray, positions: np.ndarray) -> np.ndarray:
            who = members[walkers // n]
            pad = who < 0
            who = np.where(pad, 0, who)
            rows = self.pool[who] * n_states + positions[:, None]  # (layout member, state)
            q = np.swapaxes(np.take(flat_q, rows, axis=0), 0, 1)
            counts = np.swapaxes(np.take(flat_counts, rows, axis=0), 0, 1)
            factors, low = self.factors[who].T, self._pessimistic[who].T
            terms = member_terms(q, counts, factors, low, self.config)
            if pad.any():
                gap = pad.T[:, :, None]
                terms = Terms(
                    np.where(gap, 0.0, terms.values), terms.used & ~gap,
                    np.where(gap, 0, terms.counts), np.where(gap, neutral, terms.raw),
                )  # fmt: skip
            return combine(terms, self.config, self._uniforms[positions])[0]

        starts = np.tile(self.starts, len(members))
        return self.score(self.tables.walks.walk_lazily(act, starts, self.model.layout.n_cells))

    def walk(self, actions: np.ndarray, starts: np.ndarray | None = None) -> RolloutScore:
        """Roll the policy taking ``actions[i]`` in ``states[i]`` through the data."""
        horizon = self.model.layout.n_cells
        return self.score(
            WalkBatch.of([
                self.tables.walks.walk(actions, int(s), horizon)
                for s in (self.starts if starts is None else starts)
            ])
        )  # fmt: skip

    def score(self, walks: WalkBatch) -> RolloutScore:
        """The ``RolloutScore`` of walks under the target objective."""
        return RolloutScore(walks.totals(self._rewards, self.penalty), walks.steps, walks.inside)


def score_rollout(context: ScoringContext, members: np.ndarray) -> float:
    """Mean offline rollout return over the scoring starts."""
    return float(context.rollouts(members).returns.mean())


def score_predictor(context: ScoringContext, members: np.ndarray) -> float:
    """Predicted return of the composed policy from its embedding on the recorded data
    (the library's ``EmbedConfig``)."""
    emp = context.empirical
    if context.predictor is None or context.canonical is None or context.embed_config is None:
        raise ConfigError("predictor scoring needs the library's predictor and canonical states.")
    rows_state, taken = emp.state_of_rows(), emp.actions_of_rows()
    actions = context.actions(members)[np.searchsorted(context.states, rows_state)]
    counts = context.counts[members]
    in_members = np.zeros(len(rows_state), dtype=bool)
    position = np.searchsorted(context.states, rows_state)
    for c in counts:
        in_members |= c[position, taken] > 0
    probs = ((actions == taken) & in_members).astype(np.float64)
    embedding = embed(emp, context.model, context.canonical, context.embed_config, probs)
    return context.predictor.predict(embedding, context.target.vector)


SCORINGS: dict[str, Callable[[ScoringContext, np.ndarray], float]] = {
    "rollout": score_rollout,
    "predictor": score_predictor,
}
"""Offline scorers of a combination (higher is better)."""
