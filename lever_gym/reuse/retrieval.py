"""Retrieval of candidates: the library's index queried per building block and γ.

The index ranks a layout's policies by the embedding's estimate of their value under the
block's objective; a strategy (registered in ``STRATEGIES``) cuts the ranked list:
``targeted`` keeps the best, ``hybrid`` the best ``k``, ``exhaustive`` all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from lever_gym.library.config import PolicyRecord
from lever_gym.library.index import Backend, LayoutIndex
from lever_gym.library.store import Library
from lever_gym.objective import Objective

T = TypeVar("T")

STRATEGIES: dict[str, Callable[[list[T], int], list[T]]] = {
    "targeted": lambda ranked, k: ranked[:1],
    "hybrid": lambda ranked, k: ranked[:k],
    "exhaustive": lambda ranked, k: ranked,
}
"""How many ranked candidates per block a strategy keeps (``k`` is hybrid's)."""


def candidates(
    library: Library,
    index: LayoutIndex,
    block: str,
    gamma: float,
    strategy: str,
    k: int,
) -> list[tuple[PolicyRecord, float]]:
    """Records of ``block`` at ``gamma``, best first with their index scores, cut by
    ``strategy`` (may be empty)."""
    ranked = [
        (library[pid], score)
        for pid, score in index.query(Objective.named(block))
        if library[pid].objective == block and library[pid].gamma == gamma
    ]
    return STRATEGIES[strategy](ranked, k)


def layout_candidates(
    library: Library,
    index: LayoutIndex,
    target: Objective,
    gamma: float,
    strategy: str,
    k: int,
) -> list[tuple[PolicyRecord, float]]:
    """Every policy of the layout at ``gamma`` except the target's own block, ranked by the
    index's estimate of its value under ``target``, cut by ``strategy``."""
    ranked = [
        (library[pid], score)
        for pid, score in index.query(target)
        if library[pid].objective != target.name and library[pid].gamma == gamma
    ]
    return STRATEGIES[strategy](ranked, k)


def recall_at_k(approx: Backend, exact: Backend, queries: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-``k`` that ``approx`` returns in its top-``k``."""
    hits = [
        len(set(approx.query(q, k)[0].tolist()) & set(exact.query(q, k)[0].tolist())) / k
        for q in queries
    ]
    return float(np.mean(hits))
