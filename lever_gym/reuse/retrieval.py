"""Retrieval of candidates: the library's index queried per building block and γ.

The index ranks a layout's policies by the embedding's estimate of their value under the
block's objective; a strategy (registered in ``STRATEGIES``) cuts the ranked list:
``targeted`` keeps the best, ``hybrid`` the best ``k``, ``exhaustive`` all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.index import Backend
from lever_gym.objective import Objective

T = TypeVar("T")

STRATEGIES: dict[str, Callable[[list[T], int], list[T]]] = {
    "targeted": lambda ranked, k: ranked[:1],
    "hybrid": lambda ranked, k: ranked[:k],
    "exhaustive": lambda ranked, k: ranked,
}
"""How many ranked candidates per block a strategy keeps (``k`` is hybrid's)."""


Ranked = list[tuple[PolicyRecord, float]]
"""A layout's records, best first, with their index scores (``LayoutIndex.query``)."""


def candidates(
    ranked: Ranked, block: str, gamma: float, strategy: str, k: int
) -> list[tuple[PolicyRecord, float]]:
    """Records of ``block`` at ``gamma`` in the index's ranking for the block's objective,
    best first with their scores, cut by ``strategy`` (may be empty)."""
    return STRATEGIES[strategy](
        [(r, s) for r, s in ranked if r.objective == block and r.gamma == gamma], k
    )


def layout_candidates(
    ranked: Ranked, target: Objective, gamma: float, strategy: str, k: int
) -> list[tuple[PolicyRecord, float]]:
    """Every policy of the layout at ``gamma`` except the target's own block, in the index's
    ranking for ``target`` (its estimate of their value under it), cut by ``strategy``."""
    return STRATEGIES[strategy](
        [(r, s) for r, s in ranked if r.objective != target.name and r.gamma == gamma], k
    )


def recall_at_k(approx: Backend, exact: Backend, queries: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-``k`` that ``approx`` returns in its top-``k``."""
    hits = [
        len(set(approx.query(q, k)[0].tolist()) & set(exact.query(q, k)[0].tolist())) / k
        for q in queries
    ]
    return float(np.mean(hits))
