"""The library's retrieval index: one per layout, over its policies' embeddings.

Items are the layout's policies; the query for an objective ``w`` is ``[w, 0, ..., 0]``
under the inner-product metric, so neighbours rank by ``ψ_r · w``, the embedding's estimate
of each policy's value under ``w``. Two backends share one interface: Annoy (seeded,
``n_jobs=1``, saved and memory-mapped) and an exact numpy search used to check it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import LibraryError, RetrievalError
from lever_gym.objective import N_COMPONENTS, Objective

BACKENDS = ("annoy", "exact")
METRIC = "dot"


class Backend(Protocol):
    """Nearest-neighbour search over the rows of an embedding matrix."""

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best rows for ``vector`` (largest inner product first) and their scores."""
        ...


@dataclass(frozen=True, eq=False)
class ExactBackend:
    """Brute force: every inner product, stable order on ties."""

    vectors: np.ndarray

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Backend.query``."""
        scores = self.vectors @ np.asarray(vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:n]
        return order, scores[order]


class AnnoyBackend:
    """An Annoy forest (metric ``dot``) over float32 vectors."""

    def __init__(self, index: object, dim: int, search_k: int = -1) -> None:
        """Wrap a built or loaded ``annoy.AnnoyIndex``; ``search_k`` as in Annoy (-1: its
        default, ``n_trees * n``)."""
        self.index = index
        self.dim = dim
        self.search_k = search_k

    @classmethod
    def build(cls, vectors: np.ndarray, *, n_trees: int = 16, seed: int = 0) -> AnnoyBackend:
        """Build with a fixed seed and one thread, so the forest is the same on every machine."""
        from annoy import AnnoyIndex

        index = AnnoyIndex(vectors.shape[1], METRIC)
        index.set_seed(seed)
        for i, v in enumerate(np.asarray(vectors, dtype=np.float32)):
            index.add_item(i, v)
        index.build(n_trees, n_jobs=1)
        return cls(index, vectors.shape[1])

    @classmethod
    def load(cls, path: Path, dim: int, search_k: int = -1) -> AnnoyBackend:
        """Memory-map a saved forest; raise ``LibraryError`` if the file is unreadable."""
        from annoy import AnnoyIndex

        index = AnnoyIndex(dim, METRIC)
        try:
            index.load(str(path))
        except OSError as e:
            raise LibraryError(f"cannot read the Annoy index {path} ({e}); rebuild it.") from e
        return cls(index, dim, search_k)

    def save(self, path: Path) -> None:
        """Write the forest to ``path``."""
        self.index.save(str(path))

    def query(self, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See ``Backend.query``."""
        ids, dist = self.index.get_nns_by_vector(
            np.asarray(vector, dtype=np.float32).tolist(), n, self.search_k, include_distances=True
        )
        return np.array(ids, dtype=np.int64), np.array(dist)


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

    def query(self, objective: Objective, n: int | None = None) -> list[tuple[str, float]]:
        """Policy ids ranked by estimated value under ``objective`` (best first), with scores."""
        if not isinstance(objective, Objective):
            raise RetrievalError(f"query needs an Objective; got {type(objective).__name__}.")
        vector = np.zeros(self.embeddings.shape[1], dtype=np.float32)
        vector[:N_COMPONENTS] = objective.weights
        rows, scores = self.backend.query(vector, len(self.ids) if n is None else n)
        return [(self.ids[r], float(s)) for r, s in zip(rows, scores, strict=True)]


def index_paths(root: Path, size: int, layout_seed: int) -> dict[str, Path]:
    """Files of one layout's index under a library root."""
    folder = root / "index" / f"{size}x{size}-s{layout_seed}"
    return {
        "folder": folder,
        "annoy": folder / "annoy.ann",
        "arrays": folder / "embeddings.npz",
        "meta": folder / "index.json",
    }


def load_layout_index(root: Path, size: int, layout_seed: int, backend: str) -> LayoutIndex:
    """Open a layout's index with the ``annoy`` or ``exact`` backend."""
    checks.one_of(backend, BACKENDS, "backend")
    paths = index_paths(root, size, layout_seed)
    if not paths["meta"].is_file():
        raise LibraryError(
            f"the library at {root} has no retrieval index for {size}x{size} layout "
            f"{layout_seed}; rebuild it with `lever-gym build-library`."
        )
    meta = json.loads(paths["meta"].read_text())
    with np.load(paths["arrays"], allow_pickle=False) as npz:
        embeddings, canonical = npz["embeddings"], npz["canonical"]
    chosen: Backend = (
        ExactBackend(embeddings.astype(np.float32))
        if backend == "exact"
        # a layout holds tens of policies: let the search visit every leaf of the forest
        else AnnoyBackend.load(
            paths["annoy"], embeddings.shape[1], search_k=meta["n_trees"] * len(meta["ids"])
        )
    )
    return LayoutIndex(size, layout_seed, tuple(meta["ids"]), embeddings, canonical, chosen)
