"""Registries of the composition's parts: operators, support modes and fallbacks.

An operator is a ``family`` and a ``Reduction``. The family says what each member
contributes to a state-action pair: ``q``, its Q-value times its part's factor (through a
support mode); ``successor``, its successor features times the target weights (``ψ · w``,
its own value under the whole objective, on its support only). The reduction combines the
contributions of the members. A ``Reduction`` has one definition (``start``, ``step`` and an
optional finishing form) that generates both paths of composition: over stacked ``(m, n, A)``
member rows (``dense``) and over the recorded pairs alone (``entries``), folding the members
in the same order, so both give the same values to the last bit. Adding an operator is one
line in ``OPERATORS``: ``Operator("successor", MIN)`` is a correct ``gpi_min``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FAMILIES = ("q", "successor")


@dataclass(frozen=True)
class Reduction:
    """Combines the contributions of members in member order: ``start`` then ``step`` for
    each; ``log_sum_exp`` folds ``exp((x - top) / τ)`` by ``step`` after a ``max`` pass."""

    name: str
    start: float
    step: np.ufunc
    log_sum_exp: bool = False
    order_free: bool = False
    """``step`` gives the same result in any order (max, min): groups reduce at once."""

    @property
    def neutral(self) -> float:
        """A term that leaves the reduction of the others unchanged when used last: ``start``
        (0 for a sum, -inf for a max, inf for a min), or -inf under ``log_sum_exp`` (its
        shifted exponential is 0)."""
        return -np.inf if self.log_sum_exp else self.start

    def dense(self, terms: np.ndarray, used: np.ndarray, temperature: float) -> np.ndarray:
        """``(n, A)`` over ``(m, n, A)`` ``terms`` where ``used``; ``-inf`` where none is."""
        if self.log_sum_exp:
            top = MAX.dense(terms, used, temperature)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                total = _fold(np.exp((terms - top) / temperature), used, 0.0, np.add)
                out = top + temperature * np.log(total)
        else:
            out = _fold(terms, used, self.start, self.step)
        return np.where(used.any(axis=0), out, -np.inf)

    def entries(
        self, values: np.ndarray, pair: np.ndarray, n_pairs: int, temperature: float
    ) -> np.ndarray:
        """``(n_pairs,)`` over entries ``values`` of pairs ``pair`` (sorted by pair, then
        member); ``-inf`` at a pair without entries. The same fold as ``dense``."""
        if self.log_sum_exp:
            top = MAX.entries(values, pair, n_pairs, temperature)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                shifted = np.exp((values - top[pair]) / temperature)
                out = top + temperature * np.log(_fold_entries(shifted, pair, n_pairs, 0.0, np.add))
        elif self.order_free:
            out = np.full(n_pairs, self.start)
            if len(pair):
                first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
                out[pair[first]] = self.step.reduceat(values, first)
        else:
            out = _fold_entries(values, pair, n_pairs, self.start, self.step)
        seen = np.zeros(n_pairs, dtype=bool)
        seen[pair] = True
        return np.where(seen, out, -np.inf)


def _fold(terms: np.ndarray, used: np.ndarray, start: float, step: np.ufunc) -> np.ndarray:
    out = np.full(terms.shape[1:], start)
    for x, u in zip(terms, used, strict=True):
        out = np.where(u, step(out, x), out)
    return out


def _fold_entries(
    values: np.ndarray, pair: np.ndarray, n_pairs: int, start: float, step: np.ufunc
) -> np.ndarray:
    """Per pair, ``step`` over its entries in order, from ``start``: rank by rank (the r-th
    entry of every pair at once), so each pair's entries are folded in member order."""
    out = np.full(n_pairs, start)
    if not len(pair):
        return out
    first = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    rank = np.arange(len(pair)) - np.repeat(first, np.diff(np.r_[first, len(pair)]))
    for r in range(int(rank.max()) + 1):
        at = rank == r
        out[pair[at]] = step(out[pair[at]], values[at])
    return out


SUM = Reduction("sum", 0.0, np.add)
MAX = Reduction("max", -np.inf, np.maximum, order_free=True)
MIN = Reduction("min", np.inf, np.minimum, order_free=True)
LSE = Reduction("lse", 0.0, np.add, log_sum_exp=True)
"""Log-sum-exp ``τ log Σ exp(x_i / τ)``, shifted by the largest term for stability."""


@dataclass(frozen=True)
class Operator:
    """What members contribute (``family``: ``q`` or ``successor``) and how it is reduced."""

    family: str
    reduction: Reduction


OPERATORS: dict[str, Operator] = {
    "sum": Operator("q", SUM),
    "max": Operator("q", MAX),
    "min": Operator("q", MIN),
    "lse": Operator("q", LSE),
    "gpi": Operator("successor", MAX),
}
"""``sum`` is the paper's tabular rule (``Q = Σ_i w_i Q_i``); ``max`` and ``min`` take the best
or the worst member's Q-value; ``lse`` a soft maximum; ``gpi`` is generalised policy
improvement, the best member's own value ``ψ_i · w`` under the whole objective."""


def family(operator: str) -> str:
    """The family of the registered operator ``operator``."""
    return OPERATORS[operator].family


SupportMode = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(q, supported, pessimistic (m,) or (m, n)) -> (entries, used)`` for every member, state, action
(what a ``q``-family member contributes where its dataset never took the action)."""


def per_member(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``x`` (m,) or (m, n) shaped to broadcast over (m, n, A) rows ``q``."""
    return x.reshape(x.shape + (1,) * (q.ndim - x.ndim))


def mode_exclude(
    q: np.ndarray, supported: np.ndarray, pessimistic: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An unsupported entry is left out of the operator."""
    return np.where(supported, q, 0.0), supported


def mode_zero(
    q: np.ndarray, supported: np.ndarray, pessimistic: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An unsupported entry counts as 0, as in the reference code."""
    return np.where(supported, q, 0.0), np.ones_like(supported)


def mode_pessimistic(
    q: np.ndarray, supported: np.ndarray, pessimistic: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An unsupported entry counts as the member's lowest supported Q-value (``pessimistic``
    per member (m,), or per member and state (m, n))."""
    return np.where(supported, q, per_member(pessimistic, q)), np.ones_like(supported)


def mode_raw(
    q: np.ndarray, supported: np.ndarray, pessimistic: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The Q-table as trained: support ignored."""
    return q, np.ones_like(supported)


SUPPORT_MODES: dict[str, SupportMode] = {
    "exclude": mode_exclude,
    "zero": mode_zero,
    "pessimistic": mode_pessimistic,
    "raw": mode_raw,
}
"""The ``successor`` family contributes on the support only (``exclude``)."""

FALLBACKS: tuple[str, ...] = ("raw", "first")
"""In a state where no action qualifies: ``raw``, the argmax of the operator over the raw
Q-tables; ``first``, action 0."""

EXTRACTIONS: tuple[str, ...] = ("greedy", "sample")
"""``greedy``: the argmax; ``sample``: the best of ``n_samples`` actions drawn from the
datasets' action counts in the state."""
