"""Composition of member Q-values on the support of their datasets.

For a state, each action gets a composed value from the members' Q-values, weighted by
their part's factor: a support mode (``operators.SUPPORT_MODES``) decides what a member's
entry is for an action its dataset never took, an operator (``operators.OPERATORS``)
combines the entries. With ``restrict`` (strict mode) the policy only picks actions some
member's dataset took in that state, whenever there is one; in a state no member's data
covers, ``fallback`` decides. ``extraction="sample"`` draws ``n_samples`` actions from the
datasets' action counts in the state and keeps the best by composed value; draws come from
``seed``, so the result is deterministic.

One vectorised function, ``compose_states``, computes every composed value: the policy's
lazily tabulated actions, the offline scoring and the tests agree exactly. Everything is
held in plain numpy arrays (composed policies pickle and cross process boundaries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError
from lever_gym.objective import weighted
from lever_gym.reuse.members import Members
from lever_gym.reuse.operators import (
    EXTRACTIONS,
    FALLBACKS,
    OPERATORS,
    SUCCESSOR_OPERATORS,
    SUPPORT_MODES,
)
from lever_gym.reuse.tables import LayoutTables

MAX_SAMPLES = 64
"""Most actions ``extraction="sample"`` draws per state (its draws take ``n_states ×
n_samples`` floats)."""


@dataclass(frozen=True, kw_only=True)
class ComposeConfig:
    """How Q-values are composed and an action is extracted."""

    operator: str = "sum"
    support_mode: str = "exclude"
    restrict: bool = True
    fallback: str = "raw"
    extraction: str = "greedy"
    n_samples: int = 4
    temperature: float = 1.0
    """Of ``lse``: ``τ log Σ exp(Q_i / τ)``."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate, naming the valid choices."""
        checks.one_of(self.operator, OPERATORS, "operator")
        checks.one_of(self.support_mode, SUPPORT_MODES, "support_mode")
        if self.operator in SUCCESSOR_OPERATORS and self.support_mode != "exclude":
            raise ConfigError(
                f"operator {self.operator!r} acts on the members' support only; use "
                f"support_mode='exclude' with it, not {self.support_mode!r}."
            )
        checks.boolean(self.restrict, "restrict")
        checks.one_of(self.fallback, FALLBACKS, "fallback")
        checks.one_of(self.extraction, EXTRACTIONS, "extraction")
        if checks.positive_int(self.n_samples, "n_samples") > MAX_SAMPLES:
            raise ConfigError(
                f"n_samples must be at most {MAX_SAMPLES} (draws per state); got {self.n_samples}."
            )
        checks.real(self.temperature, "temperature", 0.0, 1e12, closed="right")
        checks.seed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)

    def uniforms(self, n_states: int, states: np.ndarray | None = None) -> np.ndarray:
        """Per-state uniforms for ``extraction="sample"`` (one zero column when greedy), of
        every state of a layout with ``n_states`` states, or of ``states`` only."""
        if self.extraction != "sample":
            return np.zeros((n_states if states is None else len(states), 1))
        draws = np.random.default_rng(self.seed).random((n_states, self.n_samples))
        return draws if states is None else draws[states]


@dataclass(frozen=True, eq=False)
class Terms:
    """What the operator combines, per member, state and action (shape (m, n, A)): the
    weighted entries, which of them count, and the members' visit counts and raw weighted
    Q-values (for sampling and the ``raw`` fallback). Slicing members slices every array."""

    values: np.ndarray
    used: np.ndarray
    counts: np.ndarray
    raw: np.ndarray

    def __getitem__(self, members: np.ndarray) -> Terms:
        return Terms(
            self.values[members], self.used[members], self.counts[members], self.raw[members]
        )


def member_terms(
    q: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray,
    pessimistic: np.ndarray,
    config: ComposeConfig,
    successor: np.ndarray | None = None,
) -> Terms:
    """The ``Terms`` of members with (m, n, A) rows ``q`` and ``counts`` (``successor``: their
    ``ψ · w``, needed by ``gpi``)."""
    w = np.asarray(weights, dtype=np.float64)[:, None, None]
    supported = counts > 0
    if config.operator in SUCCESSOR_OPERATORS:
        if successor is None:
            raise ConfigError(f"operator {config.operator!r} needs the members' ψ · w.")
        used = supported & ~np.isnan(successor)
        return Terms(np.where(used, successor, 0.0), used, counts, q * w)
    entries, used = SUPPORT_MODES[config.support_mode](q, supported, pessimistic)
    return Terms(entries * w, used, counts, q * w)


def combine(
    terms: Terms, config: ComposeConfig, uniforms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composed ``(actions (n,), values (n, A), allowed (n, A))`` from members' ``Terms``;
    ``uniforms`` (n, k) are the states' draws for sampling. ``allowed[s, a]``: some member's
    dataset took ``a`` in ``s``."""
    values = OPERATORS[config.operator](terms.values, terms.used, config.temperature)
    return extract(
        values, (terms.counts > 0).any(axis=0), config, uniforms,
        lambda: terms.counts.sum(axis=0), lambda stuck: terms.raw[:, stuck],
    )  # fmt: skip


def extract(
    values: np.ndarray,
    allowed: np.ndarray,
    config: ComposeConfig,
    uniforms: np.ndarray,
    totals: Callable[[], np.ndarray],
    raw: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actions, values, allowed)``: the action of each state from its composed ``values``
    (n, A) under ``config`` (``totals()``: the members' summed counts, for sampling;
    ``raw(stuck)``: their weighted raw Q-values (m, k, A) of the ``stuck`` states, for the
    ``raw`` fallback)."""
    operator = OPERATORS[config.operator]
    ok = allowed if config.restrict else values > -np.inf
    actions = np.argmax(np.where(ok, values, -np.inf), axis=1)
    if config.extraction == "sample":
        drawn = _draw(totals(), uniforms)
        taken = np.take_along_axis(values, drawn, axis=1)
        best = np.where(taken == taken.max(axis=1, keepdims=True), drawn, values.shape[1])
        sampled = allowed.any(axis=1)
        actions = np.where(sampled, best.min(axis=1), actions)
        ok = ok | sampled[:, None]
    stuck = ~ok.any(axis=1)
    if stuck.any():
        if config.fallback == "first":
            actions[stuck] = 0
        else:
            rows = raw(stuck)
            actions[stuck] = np.argmax(
                operator(rows, np.ones(rows.shape, dtype=bool), config.temperature), axis=1
            )
    return actions, values, allowed


def compose_gpi(
    tables: LayoutTables,
    positions: np.ndarray,
    weights: np.ndarray,
    target: Sequence[float],
    config: ComposeConfig,
    uniforms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``compose_states`` of the ``gpi`` operator on every state of ``tables.states`` for
    the members ``positions`` (factors ``weights``), computed on their recorded pairs only
    (``tables.successor`` and ``tables.support``) instead of on (m, n, A) stacks: the same
    actions, values and allowed pairs (a test checks it)."""
    n, a = tables.q_on.shape[1:]
    mine = np.zeros(len(tables.ids), dtype=bool)
    mine[positions] = True
    successor, support = tables.successor, tables.support
    values = np.full(n * a, -np.inf)
    own = np.where(mine[successor.member], weighted(successor.values, target), -np.inf)
    np.maximum.at(values, successor.pair, own)
    take = mine[support.member]
    allowed = np.zeros(n * a, dtype=bool)
    allowed[support.pair[take]] = True
    w = np.asarray(weights, dtype=np.float64)[:, None, None]
    return extract(
        values.reshape(n, a), allowed.reshape(n, a), config, uniforms,
        lambda: np.bincount(
            support.pair, weights=np.where(take, support.values, 0), minlength=n * a
        ).reshape(n, a),
        lambda stuck: tables.q_on[positions][:, stuck] * w,
    )  # fmt: skip


def compose_states(
    q: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray,
    pessimistic: np.ndarray,
    config: ComposeConfig,
    uniforms: np.ndarray,
    successor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composed ``(actions, values, allowed)`` of ``n`` states from (m, n, A) member rows
    (``member_terms`` then ``combine``)."""
    return combine(
        member_terms(q, counts, weights, pessimistic, config, successor), config, uniforms
    )


def _draw(totals: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Actions drawn by inverse CDF from per-state action counts ``totals`` (n, A); a state
    without counts draws its last action (callers ignore those rows)."""
    cumulative = np.cumsum(totals, axis=1)
    target = uniforms * cumulative[:, -1:]
    drawn = np.sum(cumulative[:, None, :] <= target[:, :, None], axis=2)
    return np.minimum(drawn, totals.shape[1] - 1)


TABULATION_CHUNK = 4096
"""States composed per pass when tabulating many (bounds the (m, states, A) member rows)."""


class ComposedQ:
    """The composed Q-function of some members, tabulated lazily: a state's action and
    values are computed the first time they are asked for (building costs almost nothing).
    Plain arrays only."""

    def __init__(self, members: Members, config: ComposeConfig) -> None:
        """Compose ``members`` under ``config``."""
        n = members.n_states
        self.members = members
        self.config = config
        self._pessimistic = members.pessimistic() if config.support_mode == "pessimistic" else None
        self._uniforms = config.uniforms(n)
        self.done = np.zeros(n, dtype=bool)
        self.actions = np.zeros(n, dtype=np.int8)
        self.values = np.zeros((n, members.counts.values.shape[1]))
        self.allowed = np.zeros((n, members.counts.values.shape[1]), dtype=bool)
        self._fixed: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray) -> ComposedQ:
        """A fully tabulated composed Q-function (as saved)."""
        self = cls.__new__(cls)
        self.members, self.config, self._pessimistic, self._uniforms = None, None, None, None
        self._fixed = None
        self.done = np.ones(len(actions), dtype=bool)
        self.actions, self.values, self.allowed = actions, values, allowed
        return self

    def ensure(self, states: np.ndarray) -> None:
        """Tabulate every state of ``states`` not tabulated yet."""
        states = np.asarray(states, dtype=np.int64).ravel()
        todo = np.unique(states[~self.done[states]])
        for lo in range(0, len(todo), TABULATION_CHUNK):  # none left once saved and loaded
            part = todo[lo : lo + TABULATION_CHUNK]
            q, counts, successor = self.members.rows(part)
            pess = self._pessimistic if self._pessimistic is not None else np.zeros(len(q))
            a, v, ok = compose_states(
                q, counts, self.members.weights, pess, self.config, self._uniforms[part],
                successor,
            )  # fmt: skip
            self.actions[part] = a if self._fixed is None else self._fixed[part]
            self.values[part], self.allowed[part] = v, ok
            self.done[part] = True

    def fill(
        self, states: np.ndarray, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray
    ) -> None:
        """Tabulate ``states`` with what ``compose_states`` gives there, computed elsewhere
        (``compose_gpi``)."""
        self.actions[states], self.values[states], self.allowed[states] = actions, values, allowed
        self.done[states] = True

    def override(self, states: np.ndarray, actions: np.ndarray) -> None:
        """Take ``actions[i]`` in ``states[i]`` instead of the composed action (values kept)."""
        self.ensure(states)
        self.actions[states] = actions

    def act_as(self, actions: np.ndarray) -> None:
        """Take ``actions[s]`` in every state ``s`` instead of the composed action; the
        composed values are kept (and still tabulated lazily)."""
        self._fixed = np.asarray(actions).astype(np.int8)
        self.actions[self.done] = self._fixed[self.done]

    def action(self, state: int) -> int:
        """The composed action of one state."""
        if not self.done[state]:
            self.ensure(np.array([state]))
        return int(self.actions[state])

    def all(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, values, allowed)`` of every state."""
        self.ensure(np.arange(len(self.done)))
        return self.actions, self.values, self.allowed
