"""A layout's stacked policy tables: sparse lookups, and views equal to the dense tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lever_gym.library.store import Library
from lever_gym.reuse.tables import RowTables, layout_tables, rows_of_keys
from lever_gym.train.tabular import key_index

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


@pytest.fixture(scope="module")
def lib():
    return Library.load(DEFAULT)


def test_row_tables_read_stored_rows_and_fill_the_rest(rng):
    dense = [rng.normal(size=(9, 4)) for _ in range(3)]
    kept = [np.array([1, 4]), np.array([], dtype=np.int64), np.array([0, 8])]
    tables = RowTables.stack([(k, d[k]) for k, d in zip(kept, dense, strict=True)], 9, -1.0)
    expected = np.full((3, 9, 4), -1.0)
    for i, k in enumerate(kept):
        expected[i, k] = dense[i][k]
    np.testing.assert_array_equal(tables.take(np.arange(9)), expected)
    np.testing.assert_array_equal(
        tables.take(np.array([8, 1]), np.array([2, 0])), expected[[2, 0]][:, [8, 1]]
    )
    np.testing.assert_array_equal(
        tables.at(np.array([0, 2, 1]), np.array([4, 8, 3])), expected[[0, 2, 1], [4, 8, 3]]
    )
    np.testing.assert_array_equal(
        tables.dense_on(np.array([0, 4, 5, 8])), expected[:, [0, 4, 5, 8]]
    )
    alone = tables.subset([2])
    assert alone.n_members == 1
    np.testing.assert_array_equal(alone.take(np.arange(9)), expected[2:])


def test_rows_of_keys_fill_missing_actions():
    states, rows = rows_of_keys(np.array([5, 7, 12]), np.array([1.0, 2.0, 3.0]), np.nan)
    assert states.tolist() == [1, 3]
    np.testing.assert_array_equal(rows[0], [np.nan, 1.0, np.nan, 2.0])
    np.testing.assert_array_equal(rows[1], [3.0, np.nan, np.nan, np.nan])


@pytest.mark.parametrize(("size", "seed"), [(8, 1), (16, 0)])
def test_layout_tables_equal_the_dense_tables_of_every_policy(lib, size, seed):
    tables = layout_tables(lib, size, seed)
    records = lib.layout_records(size, seed)
    assert tables.ids == tuple(r.id for r in records)
    states = tables.states
    model = lib.model(records[0])
    assert model.start_state in states and set(lib.empirical(size, seed).states()) <= set(states)
    for i, r in enumerate(records):
        q, support = lib.arrays(r)
        np.testing.assert_array_equal(tables.q_on[i], q[key_index(model, r.key)[states]])
        np.testing.assert_array_equal(tables.counts_on[i], support[states])
        keys, psi = lib.successor_features(r)
        mine = tables.successor.member == i
        pairs = tables.successor.pair[mine]
        np.testing.assert_array_equal(states[pairs // 4] * 4 + pairs % 4, keys)
        np.testing.assert_array_equal(tables.successor.values[mine], psi)
    assert tables.pairs.any(axis=1).all()
