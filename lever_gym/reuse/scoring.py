"""Offline scoring of candidate combinations: no environment is ever stepped.

A ``ScoringContext`` holds what every combination of one query shares: the layout's
empirical model (the union of its datasets), the pool of candidate members restricted to
the states the data records, the target objective and the scoring starts. Scorers are
registered in ``SCORINGS``: ``rollout`` rolls the composed policy through the recorded
transitions (a rollout that picks an unrecorded pair stops there and is charged a
penalty); ``predictor`` predicts its return from its behavioural embedding on the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import ConfigError
from lever_gym.library.embedding import EmbedConfig, Predictor, embed
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.objective import Objective, weighted
from lever_gym.reuse.composition import ComposeConfig, Members, combine, member_terms


@dataclass(frozen=True, eq=False)
class RolloutScore:
    """Offline rollouts of a composed policy from each scoring start."""

    returns: np.ndarray
    steps: np.ndarray
    inside: np.ndarray
    """Whether each rollout ended (terminal or horizon) inside the recorded data."""


@dataclass(eq=False)
class ScoringContext:
    """Everything the combinations of one query share (pool rows on the recorded states)."""

    model: TabularModel
    empirical: EmpiricalModel
    target: Objective
    pool: Members
    config: ComposeConfig
    starts: np.ndarray
    penalty: float
    predictor: Predictor | None = None
    canonical: np.ndarray | None = None
    embed_config: EmbedConfig | None = None
    states: np.ndarray = field(init=False)
    """Sorted states the data records, plus the starts."""

    def __post_init__(self) -> None:
        """Gather the pool's rows of the recorded states once for every combination."""
        self.states = np.union1d(self.empirical.states(), self.starts)
        q, self._counts, successor = self.pool.rows(self.states)
        pessimistic = (
            self.pool.pessimistic()
            if self.config.support_mode == "pessimistic"
            else np.zeros(len(q))
        )
        self._terms = member_terms(
            q, self._counts, self.pool.weights, pessimistic, self.config, successor
        )
        self._uniforms = self.config.uniforms(self.model.n_states)[self.states]
        self._rewards = weighted(self.empirical.components, self.target.weights)

    def actions(self, members: np.ndarray) -> np.ndarray:
        """The composed action of ``members`` (pool positions) in every state of ``states``."""
        return combine(self._terms[members], self.config, self._uniforms)[0]

    def rollouts(self, members: np.ndarray, starts: np.ndarray | None = None) -> RolloutScore:
        """Roll the composed policy of ``members`` through the data from ``starts``."""
        return self.walk(self.actions(members), starts)

    def walk(self, actions: np.ndarray, starts: np.ndarray | None = None) -> RolloutScore:
        """Roll the policy taking ``actions[i]`` in ``states[i]`` through the data."""
        emp = self.empirical
        returns, steps, inside = _rollouts(
            self.states, np.asarray(actions, dtype=np.int64), emp.keys, emp.next_state,
            self._rewards, emp.terminated, self.starts if starts is None else starts,
            self.model.layout.n_cells, self.penalty,
        )  # fmt: skip
        return RolloutScore(returns, steps, inside)


@numba.njit(cache=True)
def _rollouts(states, actions, keys, nxt, rewards, done, starts, horizon, penalty):
    """Per start: return, steps and whether the rollout ended inside the data."""
    n = starts.shape[0]
    returns = np.zeros(n)
    steps = np.zeros(n, dtype=np.int64)
    inside = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        s = starts[i]
        total = 0.0
        finished = True
        for t in range(horizon):
            p = np.searchsorted(states, s)
            row = -1
            if p < states.shape[0] and states[p] == s:
                key = s * N_ACTIONS + actions[p]
                r = np.searchsorted(keys, key)
                if r < keys.shape[0] and keys[r] == key:
                    row = r
            if row < 0:
                total -= penalty
                finished = False
                break
            total += rewards[row]
            steps[i] = t + 1
            if done[row]:
                break
            s = nxt[row]
        returns[i] = total
        inside[i] = finished
    return returns, steps, inside


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
    counts = context._counts[members]
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
