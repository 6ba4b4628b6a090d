"""The library's retrieval index: one per layout, over its policies' embeddings.

Items are the layout's policies; the query for an objective ``w`` is ``[w, 0, ..., 0]`` (the
weights of the components the library records, in its order), so
neighbours rank by the inner product ``ψ_r · w``, the embedding's estimate of each policy's
value under ``w``. Largest-inner-product search is reduced to angular search (metric
``angular-mips``): item ``x`` becomes ``[x, sqrt(M² − ‖x‖²)]`` with ``M`` the largest item
norm, the query ``[q, 0]``, so every item has norm ``M`` and the smallest angle is the largest
``x · q``. Indexes written before the reduction use Annoy's ``dot`` metric and still load.

Backends share one interface and return true inner products recomputed from the stored
embeddings, best first (ties by row): Annoy (seeded, ``n_jobs=1``, saved and memory-mapped,
``angular-mips`` by default), hnswlib (optional extra ``scale``, seeded, one thread, ``dot``
by default), faiss (optional extra ``scale``, ``lever_gym.library.faiss_backend``) and an
exact numpy search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError, LibraryError, RetrievalError
from lever_gym.objective import Objective

BACKENDS = ("annoy", "exact", "hnsw", "faiss")
METRICS = ("angular-mips", "dot")
"""``angular-mips``: angular search on augmented items (the default); ``dot``: the search
engine's own inner-product metric (indexes built before the reduction)."""
DEFAULT_METRIC = "angular-mips"
KEPT_ANSWERS = 256
"""Query answers a ``LayoutIndex`` keeps (then it starts over)."""


class Backend(Protocol):
    """Nearest-neighbour search over the rows of an embedding matrix."""

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best rows for ``vector`` (largest inner product first) and their scores."""
        ...


def mips_items(vectors: np.ndarray, max_norm: float | None = None) -> tuple[np.ndarray, float]:
    """Rows ``x`` as ``[x, sqrt(M² − ‖x‖²)]`` (float32) and ``M``: the largest row norm, or
    ``max_norm`` if given (it must bound every row). Every augmented row has norm ``M``."""
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    top = float(norms.max(initial=0.0))
    bound = top if max_norm is None else float(max_norm)
    if bound < top:
        raise ConfigError(
            f"max_norm must bound every row's norm; got {max_norm} below the largest, {top}. "
            "Pass a larger max_norm or none."
        )
    bound = bound or 1.0  # all rows zero: any positive M gives them equal angles
    extra = np.sqrt(np.clip(bound**2 - norms**2, 0.0, None))
    return np.hstack([x, extra[:, None]]).astype(np.float32), bound


def mips_query(vector: np.ndarray) -> np.ndarray:
    """The query ``[q, 0]`` (float32) matching ``mips_items``."""
    return np.append(np.asarray(vector, dtype=np.float32), np.float32(0.0))


def rerank(
    vectors: np.ndarray, rows: np.ndarray, vector: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` by their exact inner product with ``vector`` (best first, ties by row) and the
    products themselves."""
    rows = np.asarray(rows, dtype=np.int64)
    scores = vectors[rows] @ np.asarray(vector, dtype=np.float32)
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


@dataclass(frozen=True, eq=False)
class ExactBackend:
    """Brute force: every inner product, the best ``n`` found by partition (linear), then
    sorted (ties by row, as a stable sort of every score orders them)."""

    vectors: np.ndarray

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Backend.query``."""
        scores = self.vectors @ np.asarray(vector, dtype=np.float32)
        negated = -scores
        if 0 < n < len(negated):  # every row at least as good as the n-th best, in row order
            kept = np.flatnonzero(negated <= np.partition(negated, n - 1)[n - 1])
        else:
            kept = np.arange(len(negated))
        order = kept[np.argsort(negated[kept], kind="stable")[:n]]
        return order, scores[order]


def _index_rows(vectors: np.ndarray, metric: str) -> tuple[np.ndarray, float | None]:
    """The rows a search engine indexes under ``metric`` and ``M`` (``None`` for ``dot``)."""
    checks.one_of(metric, METRICS, "metric")
    if metric == "dot":
        return np.asarray(vectors, dtype=np.float32), None
    return mips_items(vectors)


def _check_count(path: Path, held: int, expected: int) -> None:
    """Refuse an index file whose item count is not the embeddings'."""
    if held != expected:
        raise LibraryError(
            f"the index {path} holds {held} items but {expected} embeddings came with it; "
            "load it with the embeddings it was built from, or rebuild it."
        )


def _query_vector(vector: np.ndarray, metric: str) -> np.ndarray:
    """The vector a search engine is queried with under ``metric``."""
    return mips_query(vector) if metric == "angular-mips" else np.asarray(vector, np.float32)


class AnnoyBackend:
    """An Annoy forest over float32 embeddings: metric ``angular`` on augmented rows
    (``angular-mips``) or Annoy's ``dot``."""

    def __init__(
        self,
        index: Any,
        vectors: np.ndarray,
        metric: str = DEFAULT_METRIC,
        search_k: int = -1,
        max_norm: float | None = None,
    ) -> None:
        """Wrap a built or loaded ``annoy.AnnoyIndex`` over ``vectors`` (kept to score the
        results); ``search_k`` as in Annoy (-1: its default, ``n_trees * n``); ``max_norm``:
        the ``M`` of ``angular-mips``."""
        self.index = index
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.metric = metric
        self.search_k = search_k
        self.max_norm = max_norm

    @staticmethod
    def _annoy(dim: int, metric: str) -> Any:
        from annoy import AnnoyIndex

        checks.one_of(metric, METRICS, "metric")
        if metric == "dot":
            return AnnoyIndex(dim, "dot")
        return AnnoyIndex(dim + 1, "angular")  # the added axis of `mips_items`

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        n_trees: int = 16,
        seed: int = 0,
        metric: str = DEFAULT_METRIC,
        search_k: int = -1,
    ) -> AnnoyBackend:
        """Build with a fixed seed and one thread: the same rows give the same file bytes."""
        rows, max_norm = _index_rows(vectors, metric)
        index = cls._annoy(np.shape(vectors)[1], metric)
        index.set_seed(seed)
        for i, v in enumerate(rows):
            index.add_item(i, v)
        index.build(n_trees, n_jobs=1)
        return cls(index, vectors, metric, search_k, max_norm)

    @classmethod
    def load(
        cls,
        path: Path,
        vectors: np.ndarray,
        metric: str = DEFAULT_METRIC,
        search_k: int = -1,
        max_norm: float | None = None,
    ) -> AnnoyBackend:
        """Memory-map a forest saved over ``vectors``; raise ``LibraryError`` if unreadable."""
        index = cls._annoy(np.shape(vectors)[1], metric)
        try:
            index.load(str(path))
        except OSError as e:
            raise LibraryError(f"cannot read the Annoy index {path} ({e}); rebuild it.") from e
        _check_count(path, index.get_n_items(), len(vectors))
        return cls(index, vectors, metric, search_k, max_norm)

    def save(self, path: Path) -> None:
        """Write the forest to ``path``."""
        self.index.save(str(path))

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Backend.query``."""
        query = _query_vector(vector, self.metric).tolist()
        return rerank(self.vectors, self.index.get_nns_by_vector(query, n, self.search_k), vector)


def _hnswlib() -> Any:
    """The hnswlib module, or a ``ConfigError`` naming the extra that installs it."""
    try:
        import hnswlib
    except ImportError as e:
        raise ConfigError(
            "backend 'hnsw' needs the hnswlib package, which is not installed; install it "
            "with `pip install 'lever-gym[scale]'`, or use backend 'annoy' or 'exact'."
        ) from e
    return hnswlib


class HnswBackend:
    """An hnswlib graph (optional extra ``scale``) over float32 embeddings: its ``ip`` space
    (``dot``, the default) or its ``cosine`` space on augmented rows (``angular-mips``).

    Unlike Annoy's trees, the graph searches best in ``ip`` space: augmented rows crowd
    around the added axis, far from every query ``[q, 0]``, and the greedy walk needs a much
    larger ``ef`` for the same recall (``benchmarks/results/retrieval.md``). Built with a fixed
    seed and one thread, the same rows give the same graph, answers and file bytes with one
    build of hnswlib (its levels come from ``std::default_random_engine``, which another C++
    library may implement differently); the saved file is read into memory, not mapped.
    """

    def __init__(self, index: Any, vectors: np.ndarray, metric: str, ef: int = 64) -> None:
        """Wrap a built or loaded ``hnswlib.Index`` over ``vectors``; ``ef``: the search's
        candidate list (at least the ``n`` asked for)."""
        self.index = index
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.metric = metric
        self.ef = ef

    @staticmethod
    def _hnsw(dim: int, metric: str) -> Any:
        checks.one_of(metric, METRICS, "metric")
        if metric == "dot":
            return _hnswlib().Index(space="ip", dim=dim)
        return _hnswlib().Index(space="cosine", dim=dim + 1)  # the added axis of `mips_items`

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        metric: str = "dot",
        m: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
        ef: int = 64,
    ) -> HnswBackend:
        """Insert every row with one thread; ``m`` and ``ef_construction`` as in hnswlib."""
        rows, _ = _index_rows(vectors, metric)
        index = cls._hnsw(np.shape(vectors)[1], metric)
        index.init_index(
            max_elements=max(len(rows), 1), ef_construction=ef_construction, M=m, random_seed=seed
        )
        index.add_items(rows, np.arange(len(rows)), num_threads=1)
        return cls(index, vectors, metric, ef)

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray, metric: str, ef: int = 64) -> HnswBackend:
        """Read a graph saved over ``vectors``; raise ``LibraryError`` if unreadable."""
        index = cls._hnsw(np.shape(vectors)[1], metric)
        try:
            index.load_index(str(path), max_elements=len(vectors))
        except (OSError, RuntimeError) as e:
            raise LibraryError(f"cannot read the hnswlib index {path} ({e}); rebuild it.") from e
        _check_count(path, index.get_current_count(), len(vectors))
        return cls(index, vectors, metric, ef)

    def save(self, path: Path) -> None:
        """Write the graph to ``path``."""
        self.index.save_index(str(path))

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Backend.query``."""
        n = min(n, self.index.get_current_count())
        if n <= 0:
            return rerank(self.vectors, np.zeros(0, dtype=np.int64), vector)
        self.index.set_ef(max(self.ef, n))
        labels, _ = self.index.knn_query(_query_vector(vector, self.metric), k=n, num_threads=1)
        return rerank(self.vectors, labels[0], vector)


@dataclass(frozen=True, eq=False)
class LayoutIndex:
    """The retrieval index of one layout: policy ids, their embeddings, a backend."""

    size: int
    layout_seed: int
    ids: tuple[str, ...]
    embeddings: np.ndarray
    canonical: np.ndarray
    """The canonical states the embeddings average over."""
    backend: Backend
    columns: np.ndarray
    """Per component the embeddings record, its column in the registry (``Library.columns``)."""
    _answers: dict[tuple[Objective, int | None], list[tuple[str, float]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def query(self, objective: Objective, n: int | None = None) -> list[tuple[str, float]]:
        """Policy ids ranked by estimated value under ``objective`` (best first), with scores.
        Answers are kept per objective (up to ``KEPT_ANSWERS``): the index never changes once
        open, and every query of a building block repeats across composite objectives."""
        if not isinstance(objective, Objective):
            raise RetrievalError(f"query needs an Objective; got {type(objective).__name__}.")
        key = (objective, n)
        if key not in self._answers:
            vector = np.zeros(self.embeddings.shape[1], dtype=np.float32)
            vector[: len(self.columns)] = np.asarray(objective.weights)[self.columns]
            rows, scores = self.backend.query(vector, len(self.ids) if n is None else n)
            if len(self._answers) >= KEPT_ANSWERS:
                self._answers.clear()  # start over (one call, safe beside other threads)
            ids = self.ids
            self._answers[key] = [
                (ids[r], s)
                for r, s in zip(
                    np.asarray(rows).tolist(), np.asarray(scores, np.float64).tolist(), strict=True
                )
            ]
        return list(self._answers[key])


def open_layout_index(
    size: int,
    layout_seed: int,
    meta: dict[str, Any],
    embeddings: np.ndarray,
    canonical: np.ndarray,
    backend: str,
    columns: np.ndarray,
    annoy: Path | None = None,
) -> LayoutIndex:
    """A layout's index with the ``annoy``, ``exact``, ``hnsw`` or ``faiss`` backend, from its
    parts as ``Library.layout_index`` reads and checks them: ``meta`` (its ``index.json``),
    the embeddings and canonical states, and for Annoy the forest file ``annoy``.

    Annoy reads the forest with the metric ``meta`` records (``dot`` if none); hnsw builds a
    graph over the embeddings in memory (a layout holds tens of policies), seeded with the
    index's seed; faiss builds its exact ``IndexFlatIP`` in memory.
    """
    checks.one_of(backend, BACKENDS, "backend")
    metric = meta.get("metric", "dot")
    if metric not in METRICS:
        raise LibraryError(
            f"the index of {size}x{size} layout {layout_seed} records metric {metric!r}; this "
            f"lever_gym reads {' or '.join(map(repr, METRICS))}. Rebuild the library with it."
        )
    rows = embeddings.astype(np.float32)
    chosen: Backend
    if backend == "exact":
        chosen = ExactBackend(rows)
    elif backend == "hnsw":
        chosen = HnswBackend.build(rows, seed=meta["seed"], ef=len(meta["ids"]))
    elif backend == "faiss":  # exact inner products: a layout holds tens of policies
        from lever_gym.library.faiss_backend import FaissBackend

        chosen = FaissBackend.build(rows, kind="flat")
    else:  # a layout holds tens of policies: let the search visit every leaf of the forest
        if annoy is None:
            raise ConfigError("the annoy backend needs the path of the layout's Annoy file.")
        search_k = meta["n_trees"] * len(meta["ids"])
        chosen = AnnoyBackend.load(annoy, rows, metric, search_k, meta.get("max_norm"))
    return LayoutIndex(
        size, layout_seed, tuple(meta["ids"]), embeddings, canonical, chosen, columns
    )
