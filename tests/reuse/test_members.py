"""The ``Member`` protocol: a member that is not a table composes like a tabular one, and a
layout too large for arrays over every state keeps a sparse cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lever_gym.errors import ConfigError
from lever_gym.library.store import Library
from lever_gym.reuse.composition import SPARSE_FROM, ComposeConfig, ComposedQ
from lever_gym.reuse.members import Member, Members, TabularMember
from lever_gym.reuse.tables import layout_tables

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


@dataclass(frozen=True)
class FormulaMember:
    """A member computed on the fly, not read from a table (what a network would be): its
    Q-value of action ``a`` in state ``s`` is ``(s % 7) - a``, every pair supported once, ψ
    the Q-value on the first component."""

    id: str = "formula"
    n_components: int = 4

    def q_values(self, states: np.ndarray) -> np.ndarray:
        return (np.asarray(states)[:, None] % 7) - np.arange(4.0)[None, :]

    def successor_features(self, states: np.ndarray) -> np.ndarray:
        psi = np.zeros((len(states), 4, self.n_components))
        psi[..., 0] = self.q_values(states)
        return psi

    def support(self, states: np.ndarray) -> np.ndarray:
        return np.ones((len(states), 4), dtype=np.int32)


def test_a_member_that_is_not_a_table_composes_with_a_tabular_one():
    tables = layout_tables(Library.load(DEFAULT), 8, 0)
    tabular = TabularMember(tables.ids[0], tables.stacked, 0)
    formula = FormulaMember()
    assert isinstance(formula, Member) and isinstance(tabular, Member)
    states = tables.states[:50]
    for operator in ("sum", "max", "gpi"):
        target = (1.0, 0.0, 0.0, 0.0) if operator == "gpi" else None
        mixed = Members((tabular, formula), np.array([1.0, 2.0]), tables.n_states, target)
        composed = ComposedQ(mixed, ComposeConfig(operator=operator))
        q, counts, successor = mixed.rows(states)
        assert q.shape == (2, 50, 4) and np.array_equal(q[1], formula.q_values(states))
        values = composed.values_of(states)
        if operator == "sum":  # every action supported by the formula member
            own = np.where(counts[0] > 0, q[0], 0.0)
            np.testing.assert_allclose(values, own + 2.0 * q[1])
        if operator == "gpi":
            np.testing.assert_array_equal(successor[1], formula.q_values(states))
        assert np.array_equal(composed.actions_of(states), np.argmax(values, axis=1))
    with pytest.raises(ConfigError, match="cannot give it"):
        Members((formula,), np.ones(1), tables.n_states).pessimistic()
    assert Members((formula,), np.ones(1), tables.n_states).covered_keys() is None


def test_a_large_layout_keeps_a_sparse_cache_of_the_states_asked():
    n = 4 * SPARSE_FROM
    composed = ComposedQ(Members((FormulaMember(),), np.ones(1), n), ComposeConfig(operator="max"))
    states = np.array([n - 1, 5, 3 * SPARSE_FROM, 5])
    actions = composed.actions_of(states)
    assert composed.cache.sparse and len(composed.cache.done) == 3  # distinct states only
    assert actions.tolist() == [0, 0, 0, 0]  # (s % 7) - a: the first action is best
    assert composed.action(7) == 0 and len(composed.cache.done) == 4
    composed.override(np.array([5]), np.array([2]))
    assert composed.actions_of(np.array([5, n - 1])).tolist() == [2, 0]
    with pytest.raises(ConfigError, match="tabulated lazily"):
        composed.all()
