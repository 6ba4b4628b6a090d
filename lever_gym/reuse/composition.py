"""Composition of members on the support of their datasets.

For a state, each action gets a composed value from what the members contribute there: in
the ``q`` family their Q-values weighted by their part's factor, a support mode
(``operators.SUPPORT_MODES``) deciding what a member's entry is for an action its dataset
never took; in the ``successor`` family their own values ``ψ · w`` on their support. The
operator's reduction (``operators.OPERATORS``) combines the entries. With ``restrict``
(strict mode) the policy only picks actions some member's dataset took in that state,
whenever there is one; in a state no member's data covers, ``fallback`` decides.
``extraction="sample"`` draws ``n_samples`` actions from the datasets' action counts in the
state and keeps the best by composed value; draws come from a seed, so the result is
deterministic.

Two paths compute composed values from the same reduction: ``compose_states`` over stacked
member rows (what ``ComposedQ`` tabulates lazily) and ``compose_on_tables`` over a layout's
recorded states (what offline scoring reads; for the ``successor`` family over the recorded
pairs alone). A test checks that they agree for every registered operator. Everything is
held in plain numpy arrays (composed policies pickle and cross process boundaries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError
from lever_gym.objective import weighted
from lever_gym.reuse import operators
from lever_gym.reuse.members import Members
from lever_gym.reuse.operators import EXTRACTIONS, FALLBACKS, OPERATORS, SUPPORT_MODES, family
from lever_gym.reuse.tables import LayoutTables

MAX_SAMPLES = 64
"""Most actions ``extraction="sample"`` draws per state (its draws take ``n_states ×
n_samples`` floats)."""


@dataclass(frozen=True, kw_only=True)
class ComposeConfig:
    """How Q-values are composed and an action is extracted."""

    operator: str = field(default="gpi", metadata={"choices": tuple(OPERATORS)})
    """How members combine (``operators.OPERATORS``; ``gpi`` was tuned on the benchmark's
    tuning layouts, ``sum`` is the paper's rule)."""
    support_mode: str = field(default="exclude", metadata={"choices": tuple(SUPPORT_MODES)})
    """What a Q-value member contributes for an action its dataset never took."""
    restrict: bool = True
    """Pick only actions some member's dataset took in the state, whenever there is one."""
    fallback: str = field(default="raw", metadata={"choices": FALLBACKS})
    """In a state no member's data covers: ``raw`` (the operator over the raw Q-tables) or
    ``first`` (action 0)."""
    extraction: str = field(default="greedy", metadata={"choices": EXTRACTIONS})
    """``greedy``: the argmax; ``sample``: the best of ``n_samples`` actions drawn from the
    datasets' action counts."""
    n_samples: int = 4
    """Actions drawn per state with ``extraction="sample"``."""
    temperature: float = 1.0
    """Of ``lse``: ``τ log Σ exp(Q_i / τ)``."""

    def __post_init__(self) -> None:
        """Validate, naming the valid choices."""
        checks.one_of(self.operator, OPERATORS, "operator")
        checks.one_of(self.support_mode, SUPPORT_MODES, "support_mode")
        if family(self.operator) == "successor" and self.support_mode != "exclude":
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)

    def uniforms(self, seed: int, states: np.ndarray) -> np.ndarray:
        """Per-state uniforms for ``extraction="sample"`` of ``states`` (one zero column when
        greedy): state ``s`` gets row ``s`` of ``default_rng(seed).random((n, n_samples))``,
        read by advancing the generator (no table of every state's draws)."""
        states = np.asarray(states, dtype=np.int64)
        if self.extraction != "sample":
            return np.zeros((len(states), 1))
        out = np.empty((len(states), self.n_samples))
        for i, s in enumerate(states.tolist()):
            rng = np.random.default_rng(seed)
            rng.bit_generator.advance(s * self.n_samples)  # type: ignore[attr-defined]
            out[i] = rng.random(self.n_samples)
        return out


@dataclass(frozen=True, eq=False)
class Terms:
    """What the operator combines, per member, state and action (shape (m, n, A)): the
    weighted entries, which of them count, and the members' visit counts and raw weighted
    Q-values (for sampling and the ``raw`` fallback)."""

    values: np.ndarray
    used: np.ndarray
    counts: np.ndarray
    raw: np.ndarray


def member_terms(
    q: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray,
    pessimistic: np.ndarray,
    config: ComposeConfig,
    successor: np.ndarray | None = None,
) -> Terms:
    """The ``Terms`` of members with (m, n, A) rows ``q`` and ``counts`` (``successor``: their
    ``ψ · w``, needed by ``gpi``); ``weights`` and ``pessimistic``: (m,) or (m, n)."""
    w = operators.per_member(np.asarray(weights, dtype=np.float64), q)
    supported = counts > 0
    if family(config.operator) == "successor":
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
    reduction = OPERATORS[config.operator].reduction
    values = reduction.dense(terms.values, terms.used, config.temperature)
    allowed = np.asarray((terms.counts > 0).any(axis=0))
    return extract(
        values, allowed, config, uniforms,
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
    reduction = OPERATORS[config.operator].reduction
    ok = allowed if config.restrict else values > -np.inf
    actions = np.argmax(np.where(ok, values, -np.inf), axis=1)
    if config.extraction == "sample":
        drawn = _draw(totals(), uniforms)
        taken = np.take_along_axis(values, drawn, axis=1)
        best = np.where(taken == taken.max(axis=1, keepdims=True), drawn, values.shape[1])
        sampled = np.asarray(allowed.any(axis=1))
        actions = np.where(sampled, best.min(axis=1), actions)
        ok = ok | sampled[:, None]
    stuck = np.asarray(~ok.any(axis=1))
    if stuck.any():
        if config.fallback == "first":
            actions[stuck] = 0
        else:
            rows = raw(stuck)
            actions[stuck] = np.argmax(
                reduction.dense(rows, np.ones(rows.shape, dtype=bool), config.temperature), axis=1
            )
    return actions, values, allowed


def compose_on_tables(
    tables: LayoutTables,
    positions: np.ndarray,
    weights: np.ndarray,
    target: Sequence[float] | None,
    config: ComposeConfig,
    uniforms: np.ndarray,
    pessimistic: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``compose_states`` of the members ``positions`` of ``tables`` (factors ``weights``) on
    every state of ``tables.states``: in the ``successor`` family on their recorded pairs
    alone (``tables.successor`` and ``tables.support``, the reduction's ``entries`` path; it
    needs ``target``), in the ``q`` family on the stacked rows of those states. The same
    actions, values and allowed pairs as ``compose_states`` (a test checks it for every
    registered operator)."""
    positions = np.asarray(positions, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)[:, None, None]
    if family(config.operator) == "q":
        pess = np.zeros(len(positions)) if pessimistic is None else pessimistic
        terms = member_terms(
            tables.q_on[positions], tables.counts_on[positions], weights, pess, config
        )
        return combine(terms, config, uniforms)
    if target is None:
        raise ConfigError(f"operator {config.operator!r} needs the target weights of ψ · w.")
    n, a = tables.q_on.shape[1:]
    mine = np.zeros(len(tables.ids), dtype=bool)
    mine[positions] = True
    successor, support = tables.successor, tables.support
    keep = mine[successor.member]
    reduction = OPERATORS[config.operator].reduction
    values = reduction.entries(
        weighted(successor.values[keep], target), successor.pair[keep], n * a, config.temperature
    )
    take = mine[support.member]
    allowed = np.zeros(n * a, dtype=bool)
    allowed[support.pair[take]] = True
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
    """``(actions, values, allowed)`` of (m, n, A) member rows: ``member_terms``, ``combine``."""
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
SPARSE_FROM = 2**20
"""Layouts with at least this many states keep composed states in a sparse cache (only the
states asked for take memory) instead of arrays over every state."""


class StateCache:
    """Per state, a composed action, its values and allowed actions: arrays over every state
    of the layout, or (``sparse``) rows added as states are asked for."""

    def __init__(self, n_states: int, n_actions: int, sparse: bool) -> None:
        """Hold nothing yet, for ``n_states`` states of ``n_actions`` actions."""
        self.n_states, self.sparse = n_states, sparse
        size = 0 if sparse else n_states
        self.row: dict[int, int] = {}
        self.done = np.zeros(size, dtype=bool)
        self.actions = np.zeros(size, dtype=np.int8)
        self.values = np.zeros((size, n_actions))
        self.allowed = np.zeros((size, n_actions), dtype=bool)

    def rows(self, states: np.ndarray) -> np.ndarray:
        """The row of each state (-1: not cached)."""
        if not self.sparse:
            return np.where(self.done[states], states, -1)
        return np.array([self.row.get(s, -1) for s in states.tolist()], dtype=np.int64)

    def put(
        self, states: np.ndarray, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray
    ) -> None:
        """Cache ``states`` (distinct, not cached yet) with what was composed for them."""
        if self.sparse:
            start = len(self.done)
            self.row.update(zip(states.tolist(), range(start, start + len(states)), strict=True))
            self.done = np.append(self.done, np.ones(len(states), dtype=bool))
            self.actions = np.append(self.actions, np.asarray(actions).astype(np.int8))
            self.values = np.vstack([self.values, values])
            self.allowed = np.vstack([self.allowed, allowed])
            return
        self.actions[states], self.values[states], self.allowed[states] = actions, values, allowed
        self.done[states] = True


class ComposedQ:
    """The composed Q-function of some members, tabulated lazily: a state's action and
    values are computed the first time they are asked for (building costs almost nothing).
    Plain arrays only."""

    def __init__(self, members: Members, config: ComposeConfig, seed: int = 0) -> None:
        """Compose ``members`` under ``config`` (``seed``: of ``extraction="sample"``)."""
        self.members: Members | None = members
        self.config: ComposeConfig | None = config
        self.seed = seed
        self._pessimistic = members.pessimistic() if config.support_mode == "pessimistic" else None
        width = members.members[0].support(np.zeros(1, dtype=np.int64)).shape[1]
        self.cache = StateCache(members.n_states, width, members.n_states >= SPARSE_FROM)
        self._acting_as: object | None = None

    @classmethod
    def from_arrays(cls, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray) -> ComposedQ:
        """A fully tabulated composed Q-function (as saved)."""
        self = cls.__new__(cls)
        self.members, self.config, self.seed, self._pessimistic = None, None, 0, None
        self._acting_as = None
        self.cache = StateCache(len(actions), values.shape[1], False)
        self.cache.put(np.arange(len(actions)), actions, values, allowed)
        return self

    def ensure(self, states: np.ndarray) -> np.ndarray:
        """Tabulate every state of ``states`` not tabulated yet; their cache rows."""
        states = np.asarray(states, dtype=np.int64).ravel()
        rows = self.cache.rows(states)
        todo = np.unique(states[rows < 0])
        if not len(todo):
            return rows
        if self.members is None or self.config is None:
            raise ConfigError("a loaded composed policy holds every state; this one is not.")
        for lo in range(0, len(todo), TABULATION_CHUNK):
            part = todo[lo : lo + TABULATION_CHUNK]
            q, counts, successor = self.members.rows(part)
            pess = self._pessimistic if self._pessimistic is not None else np.zeros(len(q))
            a, v, ok = compose_states(
                q, counts, self.members.weights, pess, self.config,
                self.config.uniforms(self.seed, part), successor,
            )  # fmt: skip
            self.cache.put(part, self._acted(part, a), v, ok)
        return self.cache.rows(states)

    def _acted(self, states: np.ndarray, composed: np.ndarray) -> np.ndarray:
        """The actions taken in ``states``: the composed ones, or the member's it acts as."""
        if self._acting_as is None:
            return composed
        return np.argmax(self._acting_as.q_values(states), axis=1)  # type: ignore[attr-defined]

    def fill(
        self, states: np.ndarray, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray
    ) -> None:
        """Tabulate ``states`` (none tabulated yet) with what ``compose_states`` gives there,
        computed elsewhere (``compose_on_tables``)."""
        states = np.asarray(states, dtype=np.int64)
        self.cache.put(states, self._acted(states, actions), values, allowed)

    def override(self, states: np.ndarray, actions: np.ndarray) -> None:
        """Take ``actions[i]`` in ``states[i]`` instead of the composed action (values kept)."""
        rows = self.ensure(states)
        self.cache.actions[rows] = actions

    def act_as(self, member: object) -> None:
        """Take the greedy action of ``member`` (a ``Member``) in every state instead of the
        composed action; the composed values are kept (and still tabulated lazily)."""
        self._acting_as = member
        c = self.cache
        cached = np.flatnonzero(c.done) if not c.sparse else np.array(list(c.row), dtype=np.int64)
        if len(cached):
            c.actions[c.rows(cached)] = self._acted(cached, c.actions[c.rows(cached)])

    def actions_of(self, states: np.ndarray) -> np.ndarray:
        """The composed action (int64) of each state."""
        rows = self.ensure(states)  # first: a sparse cache grows into new arrays
        return self.cache.actions[rows].astype(np.int64).reshape(np.shape(states))

    def values_of(self, states: np.ndarray) -> np.ndarray:
        """The composed values (``-inf``: excluded) of each state, shape ``states.shape + (A,)``."""
        rows = self.ensure(states)
        return self.cache.values[rows].reshape((*np.shape(states), self.cache.values.shape[1]))

    def action(self, state: int) -> int:
        """The composed action of one state."""
        c = self.cache
        if not c.sparse and c.done[state]:
            return int(c.actions[state])
        row = self.ensure(np.array([state]))[0]
        return int(self.cache.actions[row])

    def all(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, values, allowed)`` of every state (of a layout below ``SPARSE_FROM``)."""
        if self.cache.sparse:
            raise ConfigError(
                f"this layout has {self.cache.n_states:,} states; a composed policy over it is "
                "tabulated lazily and cannot be listed state by state."
            )
        self.ensure(np.arange(self.cache.n_states))
        return self.cache.actions, self.cache.values, self.cache.allowed
