"""Registries of the composition's parts: operators, support modes and fallbacks.

Arrays are stacked per member policy: ``q`` and ``counts`` have shape ``(m, n, A)`` (member,
state, action). A support mode turns them into the terms an operator combines; an operator
combines the used terms of each state-action pair over the members; a fallback picks an
action in a state where no action qualifies. Adding one is a function here and one line in
its registry; ``ComposeConfig``, the CLI and the docs read the registries.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Operator = Callable[[np.ndarray, np.ndarray, float], np.ndarray]
"""``(terms (m, n, A), used (m, n, A), temperature) -> values (n, A)``; ``-inf`` where no
term is used. Terms are combined in member order (the result is exactly reproducible)."""

SupportMode = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(q, supported, pessimistic (m,)) -> (entries, used)`` for every member, state, action."""


def _fold(terms: np.ndarray, used: np.ndarray, start: float, step: Callable) -> np.ndarray:
    out = np.full(terms.shape[1:], start)
    for x, u in zip(terms, used, strict=True):
        out = np.where(u, step(out, x), out)
    return np.where(used.any(axis=0), out, -np.inf)


def op_sum(terms: np.ndarray, used: np.ndarray, temperature: float) -> np.ndarray:
    """Weighted sum: the paper's tabular rule (``Q = Σ_i w_i Q_i``)."""
    return _fold(terms, used, 0.0, np.add)


def op_max(terms: np.ndarray, used: np.ndarray, temperature: float) -> np.ndarray:
    """Maximum over members (generalised policy improvement over the Q-values)."""
    return _fold(terms, used, -np.inf, np.maximum)


def op_min(terms: np.ndarray, used: np.ndarray, temperature: float) -> np.ndarray:
    """Minimum over members (every member must approve)."""
    return _fold(terms, used, np.inf, np.minimum)


def op_lse(terms: np.ndarray, used: np.ndarray, temperature: float) -> np.ndarray:
    """Log-sum-exp ``τ log Σ exp(Q_i / τ)``, shifted by the largest term for stability."""
    top = op_max(terms, used, temperature)
    total = np.zeros(terms.shape[1:])
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for x, u in zip(terms, used, strict=True):
            total = total + np.where(u, np.exp((x - top) / temperature), 0.0)
        out = top + temperature * np.log(total)
    return np.where(used.any(axis=0), out, -np.inf)


OPERATORS: dict[str, Operator] = {
    "sum": op_sum,
    "max": op_max,
    "min": op_min,
    "lse": op_lse,
    "gpi": op_max,
}
"""``gpi`` is generalised policy improvement: the maximum over members of their successor
features times the target weights (each member's own value under the whole objective),
instead of their Q-values times their part's factor."""

SUCCESSOR_OPERATORS = frozenset({"gpi"})
"""Operators that combine ``ψ · w`` (the members' successor features) instead of Q-values."""


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
    """An unsupported entry counts as the member's lowest supported Q-value."""
    return np.where(supported, q, pessimistic[:, None, None]), np.ones_like(supported)


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

FALLBACKS: tuple[str, ...] = ("raw", "first")
"""In a state where no action qualifies: ``raw``, the argmax of the operator over the raw
Q-tables; ``first``, action 0."""

EXTRACTIONS: tuple[str, ...] = ("greedy", "sample")
"""``greedy``: the argmax; ``sample``: the best of ``n_samples`` actions drawn from the
datasets' action counts in the state."""
