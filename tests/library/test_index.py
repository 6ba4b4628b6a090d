"""Retrieval: Annoy against exact search, persistence, and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lever_gym.errors import LibraryError, RetrievalError
from lever_gym.library.index import AnnoyBackend, ExactBackend
from lever_gym.library.store import Library
from lever_gym.objective import OBJECTIVE_NAMES, Objective
from lever_gym.reuse.retrieval import recall_at_k

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


def test_annoy_and_exact_agree_on_the_default_library(rng):
    lib = Library.load(DEFAULT)
    queries = [Objective.named(n) for n in OBJECTIVE_NAMES] + [
        Objective(tuple(w)) for w in rng.normal(size=(10, 4))
    ]
    for size, seed in lib.layouts():
        annoy = lib.layout_index(size, seed, "annoy")
        exact = lib.layout_index(size, seed, "exact")
        assert annoy.ids == exact.ids
        assert set(annoy.ids) == {r.id for r in lib.filter(size=size, layout_seed=seed)}
        for w in queries:
            a = [pid for pid, _ in annoy.query(w, 5)]
            e = [pid for pid, _ in exact.query(w, 5)]
            assert set(a) == set(e)  # recall@5 = 1.0


def test_exact_backend_orders_by_inner_product():
    vectors = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [0.0, 5.0]], dtype=np.float32)
    ids, scores = ExactBackend(vectors).query(np.array([1.0, 0.0]), 3)
    assert ids.tolist() == [1, 2, 0] and scores.tolist() == [3.0, 2.0, 1.0]


def test_annoy_save_load_and_recall(tmp_path, rng):
    centers = rng.normal(size=(20, 16)) * 5
    vectors = (centers[rng.integers(20, size=2000)] + rng.normal(size=(2000, 16))).astype(
        np.float32
    )
    built = AnnoyBackend.build(vectors, n_trees=20, seed=1)
    built.save(tmp_path / "x.ann")
    loaded = AnnoyBackend.load(tmp_path / "x.ann", 16)
    queries = rng.normal(size=(30, 16)) * 5
    for q in queries:
        np.testing.assert_array_equal(built.query(q, 10)[0], loaded.query(q, 10)[0])
    again = AnnoyBackend.build(vectors, n_trees=20, seed=1)
    assert [again.query(q, 10)[0].tolist() for q in queries] == [
        built.query(q, 10)[0].tolist() for q in queries
    ]
    default = recall_at_k(loaded, ExactBackend(vectors), queries, 10)
    loaded.search_k = 20 * 2000  # a wider search buys recall
    assert recall_at_k(loaded, ExactBackend(vectors), queries, 10) >= max(0.95, default)


def test_query_needs_an_objective():
    lib = Library.load(DEFAULT)
    with pytest.raises(RetrievalError, match="query needs an Objective"):
        lib.layout_index(8, 0).query(np.ones(3))


def test_corrupted_index_is_refused(tmp_path):
    copy = tmp_path / "lib"
    shutil.copytree(DEFAULT, copy)
    ann = copy / "index" / "8x8-s0" / "annoy.ann"
    ann.write_bytes(ann.read_bytes()[:-100])
    lib = Library.load(copy)
    with pytest.raises(LibraryError, match="does not match the manifest"):
        lib.layout_index(8, 0)
    assert not lib.verify().ok
    with pytest.raises(LibraryError, match="has no 32x32 layout 0"):
        lib.layout_index(32, 0)
