"""Retrieval: the MIPS-to-angular reduction, Annoy and hnswlib against exact search,
persistence, the default library's recorded answers, and errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.errors import ConfigError, LibraryError, RetrievalError
from lever_gym.library.index import (
    AnnoyBackend,
    ExactBackend,
    HnswBackend,
    mips_items,
    mips_query,
    open_layout_index,
)
from lever_gym.library.store import Library
from lever_gym.objective import OBJECTIVE_NAMES, Objective
from lever_gym.reuse.retrieval import recall_at_k
from tests.library.tamper import copy_library, reseal

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "datasets"


def clustered(seed: int, n: int, dim: int = 16, clusters: int = 100) -> np.ndarray:
    """Clustered rows with lognormal norms, as float32 (use seeds other than the ``rng``
    fixture's 0, or its queries would be the cluster centres)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    x = centers[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    norms = rng.lognormal(0.0, 0.5, size=(n, 1))
    return (x / np.linalg.norm(x, axis=1, keepdims=True) * norms).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    dim=st.integers(1, 20),
    spread=st.floats(0.0, 3.0),
    k=st.integers(1, 20),
)
def test_augmentation_turns_inner_product_search_into_angular_search(seed, n, dim, spread, k):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, dim)) * rng.lognormal(0.0, spread, size=(n, 1))).astype(np.float32)
    q = rng.normal(size=dim).astype(np.float32)
    items, top = mips_items(x)
    assert top == pytest.approx(np.linalg.norm(x.astype(np.float64), axis=1).max())
    np.testing.assert_allclose(np.linalg.norm(items.astype(np.float64), axis=1), top, rtol=1e-6)
    query = mips_query(q).astype(np.float64)
    cosine = items @ query / (np.linalg.norm(items, axis=1) * np.linalg.norm(query))
    inner = x.astype(np.float64) @ q
    by_angle = np.argsort(-cosine, kind="stable")[:k]
    by_product = np.argsort(-inner, kind="stable")[:k]
    # the same top k, up to near-ties within float32 rounding
    scale = np.abs(inner).max() + 1e-12
    np.testing.assert_allclose(inner[by_angle], inner[by_product], rtol=0, atol=1e-5 * scale)


def test_mips_items_edge_cases():
    items, top = mips_items(np.zeros((3, 2)))
    assert top == 1.0 and items.tolist() == [[0, 0, 1]] * 3
    items, top = mips_items(np.array([[3.0, 4.0]]), max_norm=10.0)
    assert top == 10.0 and items[0, 2] == pytest.approx(np.sqrt(75))
    with pytest.raises(ConfigError, match="max_norm must bound every row"):
        mips_items(np.array([[3.0, 4.0]]), max_norm=4.0)


def test_exact_backend_orders_by_inner_product():
    vectors = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0], [0.0, 5.0]], dtype=np.float32)
    ids, scores = ExactBackend(vectors).query(np.array([1.0, 0.0]), 3)
    assert ids.tolist() == [1, 2, 0] and scores.tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("n", [0, 1, 5, 37, 200, 500])
def test_exact_backend_partition_gives_the_full_stable_sort(rng, n):
    vectors = rng.integers(-3, 4, size=(200, 4)).astype(np.float32)  # many tied scores
    query = rng.integers(-2, 3, size=4).astype(np.float32)
    ids, scores = ExactBackend(vectors).query(query, n)
    full = vectors @ query
    order = np.argsort(-full, kind="stable")[:n]
    assert ids.tolist() == order.tolist()
    assert scores.tobytes() == full[order].tobytes()


def test_annoy_angular_mips_reaches_high_recall_and_beats_dot(rng):
    vectors = clustered(10, 5000)
    queries = rng.normal(size=(100, 16))
    exact = ExactBackend(vectors)
    reduced = AnnoyBackend.build(vectors, n_trees=10, seed=1, search_k=1000)
    dot = AnnoyBackend.build(vectors, n_trees=10, seed=1, search_k=1000, metric="dot")
    assert reduced.metric == "angular-mips" and reduced.max_norm == pytest.approx(
        np.linalg.norm(vectors, axis=1).max()
    )
    reached = recall_at_k(reduced, exact, queries, 10)
    assert reached >= 0.95  # the property the default metric is chosen for
    assert reached >= recall_at_k(dot, exact, queries, 10)


@pytest.mark.parametrize("metric", ["angular-mips", "dot"])
def test_annoy_scores_are_true_inner_products_best_first(metric, rng):
    vectors = clustered(11, 1000)
    index = AnnoyBackend.build(vectors, n_trees=10, seed=0, metric=metric)
    for q in rng.normal(size=(20, 16)):
        ids, scores = index.query(q, 10)
        assert len(ids) == 10 and np.all(np.diff(scores) <= 0)
        np.testing.assert_allclose(scores, vectors[ids] @ q.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("metric", ["angular-mips", "dot"])
def test_annoy_is_deterministic_and_loads_what_it_saves(metric, tmp_path, rng):
    vectors = clustered(12, 2000)
    built = AnnoyBackend.build(vectors, n_trees=20, seed=1, metric=metric)
    built.save(tmp_path / "x.ann")
    AnnoyBackend.build(vectors, n_trees=20, seed=1, metric=metric).save(tmp_path / "y.ann")
    assert (tmp_path / "x.ann").read_bytes() == (tmp_path / "y.ann").read_bytes()
    loaded = AnnoyBackend.load(tmp_path / "x.ann", vectors, metric)
    for q in rng.normal(size=(30, 16)):
        for a, b in zip(built.query(q, 10), loaded.query(q, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    loaded.search_k = 20 * 2000  # a search visiting every leaf is exact
    assert recall_at_k(loaded, ExactBackend(vectors), rng.normal(size=(30, 16)), 10) == 1.0
    with pytest.raises(LibraryError, match="holds 2000 items but 1999 embeddings"):
        AnnoyBackend.load(tmp_path / "x.ann", vectors[:-1], metric)


@pytest.mark.parametrize("backend", ["annoy", "hnsw", "faiss"])
def test_backends_and_exact_agree_on_the_default_library(backend, rng):
    if backend in ("hnsw", "faiss"):
        module = {"hnsw": "hnswlib", "faiss": "faiss"}[backend]
        pytest.importorskip(module, reason=f"{module} is in the optional extra lever-gym[scale]")
    lib = Library.load(DEFAULT)
    queries = [Objective.named(n) for n in OBJECTIVE_NAMES] + [
        Objective(tuple(w)) for w in rng.normal(size=(10, 4))
    ]
    for size, seed in lib.layouts():
        approx = lib.layout_index(size, seed, backend)
        exact = lib.layout_index(size, seed, "exact")
        assert approx.ids == exact.ids
        assert set(approx.ids) == {r.id for r in lib.filter(size=size, layout_seed=seed)}
        hits = 0
        for w in queries:
            a, e = approx.query(w, 5), exact.query(w, 5)
            hits += len({pid for pid, _ in a} & {pid for pid, _ in e})
            if backend in ("annoy", "faiss"):  # every leaf visited / a flat index: exact
                assert [pid for pid, _ in a] == [pid for pid, _ in e]
                np.testing.assert_allclose([s for _, s in a], [s for _, s in e], rtol=1e-6)
        # hnsw: a greedy graph walk in inner-product space over 84 near-duplicate embeddings
        assert hits / (5 * len(queries)) >= 0.85


@pytest.mark.parametrize("metric", ["dot", "angular-mips"])
def test_hnsw_recall_scores_determinism_and_persistence(metric, tmp_path, rng):
    pytest.importorskip("hnswlib", reason="hnswlib is the optional extra lever-gym[scale]")
    vectors = clustered(13, 2000)
    queries = rng.normal(size=(50, 16))
    built = HnswBackend.build(vectors, metric=metric, seed=4, ef=400)
    assert recall_at_k(built, ExactBackend(vectors), queries, 10) >= 0.95
    ids, scores = built.query(queries[0], 10)
    np.testing.assert_allclose(scores, vectors[ids] @ queries[0].astype(np.float32), rtol=1e-6)
    assert np.all(np.diff(scores) <= 0)
    built.save(tmp_path / "x.bin")
    HnswBackend.build(vectors, metric=metric, seed=4).save(tmp_path / "y.bin")
    assert (tmp_path / "x.bin").read_bytes() == (tmp_path / "y.bin").read_bytes()
    loaded = HnswBackend.load(tmp_path / "x.bin", vectors, metric, ef=400)
    with pytest.raises(LibraryError, match="holds 2000 items but 1999 embeddings"):
        HnswBackend.load(tmp_path / "x.bin", vectors[:-1], metric)
    for q in queries:
        for a, b in zip(built.query(q, 10), loaded.query(q, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    tiny = HnswBackend.build(vectors[:3], metric=metric)
    assert [len(x) for x in tiny.query(queries[0], 10)] == [3, 3]  # all it holds


def test_faiss_flat_is_exact_and_hnsw_reaches_recall_on_one_thread(tmp_path, rng):
    faiss = pytest.importorskip("faiss", reason="faiss-cpu is the optional extra lever-gym[scale]")
    from lever_gym.library.faiss_backend import FaissBackend

    vectors = clustered(13, 2000)
    queries = rng.normal(size=(50, 16))
    exact, flat = ExactBackend(vectors), FaissBackend.build(vectors)
    threads = faiss.omp_get_max_threads()
    for q in queries[:10]:
        for a, b in zip(flat.query(q, 10), exact.query(q, 10), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    graph = FaissBackend.build(vectors, kind="hnsw", ef=200)
    assert recall_at_k(graph, exact, queries, 10) >= 0.95
    assert faiss.omp_get_max_threads() == threads  # put back after every call
    graph.save(tmp_path / "x.faiss")
    loaded = FaissBackend.load(tmp_path / "x.faiss", vectors, "hnsw", ef=200)
    for q in queries[:10]:
        for a, b in zip(graph.query(q, 10), loaded.query(q, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(LibraryError, match="holds 2000 items but 1999 embeddings"):
        FaissBackend.load(tmp_path / "x.faiss", vectors[:-1], "hnsw")
    assert [len(x) for x in FaissBackend.build(vectors[:3]).query(queries[0], 10)] == [3, 3]
    with pytest.raises(ConfigError, match="kind must be one of"):
        FaissBackend.build(vectors, kind="ivf")
    for bad in (np.arange(8.0), np.zeros((0, 8)), np.full((4, 3), np.nan)):
        with pytest.raises(ConfigError, match="non-empty 2-D array of finite embeddings"):
            FaissBackend.build(bad)
    for query in (np.ones(5), queries[:2], np.full(16, np.nan)):
        with pytest.raises(ConfigError, match="one finite vector of 16 entries"):
            flat.query(query, 3)
    for n in (1.5, -1):
        with pytest.raises(ConfigError, match="n must be"):
            flat.query(queries[0], n)


def test_missing_faiss_names_the_extra(monkeypatch):
    from lever_gym.library.faiss_backend import FaissBackend

    monkeypatch.setitem(sys.modules, "faiss", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'lever-gym\[scale\]'"):
        FaissBackend.build(clustered(0, 10))


def test_missing_hnswlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'lever-gym\[scale\]'"):
        HnswBackend.build(clustered(0, 10))


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
    with pytest.raises(LibraryError, match="differs from the manifest's sha256"):
        lib.layout_index(8, 0)
    assert not lib.verify().ok
    with pytest.raises(LibraryError, match="has no 32x32 layout 0"):
        lib.layout_index(32, 0)


def test_unknown_metric_is_refused(tmp_path):
    copy = copy_library(DEFAULT, tmp_path / "lib")
    meta_path = copy / "index" / "8x8-s0" / "index.json"
    meta = json.loads(meta_path.read_text())
    meta["metric"] = "euclidean"
    meta_path.write_text(json.dumps(meta))
    reseal(copy, "index/8x8-s0/index.json")
    with pytest.raises(LibraryError, match="records metric 'euclidean' where the manifest"):
        Library.load(copy).layout_index(8, 0)
    rows = np.zeros((len(meta["ids"]), meta["dim"]))
    with pytest.raises(LibraryError, match="records metric 'euclidean'; this lever_gym reads"):
        open_layout_index(8, 0, meta, rows, np.zeros(1, dtype=np.int64), "exact", np.arange(4))
