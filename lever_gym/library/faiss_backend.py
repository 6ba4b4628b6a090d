"""The faiss retrieval backend (optional extra ``scale``): exact inner products
(``IndexFlatIP``) or an HNSW graph in inner-product space (``IndexHNSWFlat``).

faiss is the library of this part of the job, so the backend adds nothing to its search but
the shared re-scoring: answers are true inner products recomputed from the stored
embeddings, best first (ties by row), like every backend of ``lever_gym.library.index``.
Every call runs on one OpenMP thread and puts the process's thread count back afterwards
(faiss would otherwise take every core). An HNSW graph built on one thread draws its levels
from faiss's fixed seed, so the same rows give the same graph and answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.index import _check_count, rerank

KINDS = ("flat", "hnsw")
"""``flat``: exact (``IndexFlatIP``); ``hnsw``: ``IndexHNSWFlat`` with the inner product."""


def _faiss() -> Any:
    """The faiss module, or a ``ConfigError`` naming the extra that installs it."""
    try:
        import faiss
    except ImportError as e:
        raise ConfigError(
            "backend 'faiss' needs the faiss-cpu package, which is not installed; install it "
            "with `pip install 'lever-gym[scale]'`, or use backend 'annoy' or 'exact'."
        ) from e
    return faiss


@contextmanager
def one_thread() -> Iterator[Any]:
    """faiss on one OpenMP thread for the block, the previous count restored after it."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(before)


class FaissBackend:
    """A faiss index over float32 embeddings (see the module docstring)."""

    def __init__(self, index: Any, vectors: np.ndarray, kind: str, ef: int = 64) -> None:
        """Wrap a built or read faiss index over ``vectors``; ``ef``: HNSW's ``efSearch``
        (at least the ``n`` asked for)."""
        self.index = index
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.kind = checks.one_of(kind, KINDS, "kind")
        self.ef = ef

    @classmethod
    def build(
        cls, vectors: np.ndarray, *, kind: str = "flat", m: int = 32, ef_construction: int = 40,
        ef: int = 64,
    ) -> FaissBackend:  # fmt: skip
        """Add every row on one thread; ``m`` and ``ef_construction`` as faiss's HNSW takes
        them (``hnsw`` only)."""
        checks.one_of(kind, KINDS, "kind")
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        if rows.ndim != 2 or not rows.size or not np.isfinite(rows).all():
            raise ConfigError(
                "faiss needs a non-empty 2-D array of finite embeddings (one row per item); got "
                f"shape {rows.shape}{'' if np.isfinite(rows).all() else ' with NaN or inf'}."
            )
        with one_thread() as faiss:
            if kind == "flat":
                index = faiss.IndexFlatIP(rows.shape[1])
            else:
                index = faiss.IndexHNSWFlat(rows.shape[1], m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = ef_construction
            index.add(rows)
        return cls(index, rows, kind, ef)

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray, kind: str, ef: int = 64) -> FaissBackend:
        """Read an index saved over ``vectors``; raise ``LibraryError`` if unreadable."""
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise LibraryError(f"cannot read the faiss index {path} ({e}); rebuild it.") from e
        _check_count(path, int(index.ntotal), len(vectors))
        return cls(index, vectors, kind, ef)

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""
        _faiss().write_index(self.index, str(path))

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``lever_gym.library.index.Backend.query``."""
        q = np.asarray(vector, np.float32)
        if q.shape != (self.vectors.shape[1],) or not np.isfinite(q).all():
            raise ConfigError(
                f"a query is one finite vector of {self.vectors.shape[1]} entries; got shape "
                f"{q.shape}{'' if np.isfinite(q).all() else ' with NaN or inf'}."
            )
        n = min(checks.non_negative_int(n, "n"), int(self.index.ntotal))
        if n <= 0:
            return rerank(self.vectors, np.zeros(0, dtype=np.int64), vector)
        with one_thread():
            if self.kind == "hnsw":
                self.index.hnsw.efSearch = max(self.ef, n)
            _, labels = self.index.search(q[None], n)
        return rerank(self.vectors, labels[0][labels[0] >= 0], vector)
