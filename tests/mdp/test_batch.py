"""Batch-constrained planning: known answers on hand-written layouts, agreement with the exact
solvers on full data, and improvement rounds that never lower the contract's value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import N_ACTIONS, TabularModel, model_for
from lever_gym.errors import ConfigError
from lever_gym.mdp.batch import (
    FALLBACK_ACTION,
    SupportTables,
    backward_actions,
    bcvi_stationary,
    bcvi_time_indexed,
    discounted_greedy,
    discounted_policy_iteration,
    discounted_sums,
    discounted_values,
    full_table,
    solve_discounted,
    time_indexed_policy_iteration,
    time_indexed_values,
)
from lever_gym.mdp.contract import time_aware_returns
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.horizon import optimal_values
from lever_gym.mdp.solve import value_iteration
from lever_gym.mdp.support import SupportGraph
from lever_gym.objective import Objective, weighted

CORRIDOR = """
    S.L#
    #.##
    #..E
    ####
"""
"""One way from the start to the exit: right, down, down, right, right (5 steps)."""
TWO_ROUTES = """
    S..L
    .##.
    .##E
    ....
"""
"""Along the top in 5 steps (right x3, down x2) or around the bottom in 7."""
STALL = """
    S.$
    ...
    L.E
"""
HAZARD = """
    S...
    ..H.
    ....
    L..E
"""
"""The hazard is 3 moves from the start (right, right, down)."""
signed = st.lists(st.integers(-200, 200).map(lambda x: x / 100), min_size=4, max_size=4).filter(any)


def recorded(model: TabularModel, keep: np.ndarray) -> EmpiricalModel:
    """The empirical model of the true model's pairs where ``keep`` is true."""
    s, a = np.nonzero(keep)
    return EmpiricalModel.from_arrays(
        s, a, model.next_state[s, a], model.components[s, a], model.terminated[s, a],
        np.array([model.start_state]),
    )  # fmt: skip


def reachable(model: TabularModel) -> np.ndarray:
    """(n_states, N_ACTIONS) mask of every pair of every state reachable from the start."""
    seen = np.zeros(model.n_states, dtype=bool)
    seen[model.start_state] = True
    frontier = [model.start_state]
    while frontier:
        s = np.array(frontier)
        nxt = model.next_state[s][~model.terminated[s]]
        frontier = sorted(set(nxt[~seen[nxt]].tolist()))
        seen[frontier] = True
    return np.repeat(seen[:, None], N_ACTIONS, axis=1)


def along(model: TabularModel, actions: list[int]) -> list[int]:
    """The states from the start on, taking ``actions`` in the true model (the start first)."""
    states = [model.start_state]
    for a in actions:
        states.append(int(model.next_state[states[-1], a]))
    return states


def walk(model: TabularModel, table: np.ndarray, weights: tuple, horizon: int) -> tuple:
    """``(return, steps, terminated)`` from the start of a stationary (``(S,)``) or
    time-indexed (``(H, S)``) table in the true model."""
    reward, s, total = model.reward(Objective(weights)), model.start_state, 0.0
    for t in range(horizon):
        a = table[s] if table.ndim == 1 else table[horizon - 1 - t, s]
        total += reward[s, a]
        if model.terminated[s, a]:
            return total, t + 1, True
        s = model.next_state[s, a]
    return total, horizon, False


def plans(model: TabularModel, emp: EmpiricalModel, w: tuple) -> tuple:
    """Both batch-constrained plans as full tables: stationary (γ = 0.99), time-indexed."""
    states, horizon = emp.states(), model.layout.n_cells
    stationary = full_table(states, bcvi_stationary(emp, Objective(w)), model.n_states)
    timed = full_table(states, bcvi_time_indexed(emp, Objective(w), horizon), model.n_states)
    return stationary, timed


def test_both_forms_take_the_one_shortest_path():
    model = model_for(Layout.from_ascii(CORRIDOR))
    stationary, timed = plans(model, recorded(model, reachable(model)), (1, 0, 0, 0))
    path = along(model, [0, 1, 1, 0])  # the states of the way, start first
    assert stationary[path].tolist() == [0, 1, 1, 0, 0]
    assert [timed[16 - 1 - t, s] for t, s in enumerate(path)] == [0, 1, 1, 0, 0]
    for table in (stationary, timed):  # five steps toward the exit (+0.9 each), then +100
        assert walk(model, table, (1, 0, 0, 0), 16) == pytest.approx((104.5, 5, True))


def test_a_missing_pair_sends_both_forms_the_long_way():
    model = model_for(Layout.from_ascii(TWO_ROUTES))
    keep = reachable(model)
    w, start = (1, 0, 0, 0), model.start_state
    for table in plans(model, recorded(model, keep), w):
        assert walk(model, table, w, 16) == pytest.approx((104.5, 5, True))
    keep[start, 0] = False  # the data never goes right from the start
    for table in plans(model, recorded(model, keep), w):
        assert table[..., start].flat[-1] == 1  # down (with 16 steps left)
        assert walk(model, table, w, 16) == pytest.approx((104.3, 7, True))


@pytest.mark.parametrize(
    ("w", "timed", "fast", "slow"),
    [  # gold weighted -1, no shaping: each step +0.01, the exit with the gold left +10.01
        ((0, -1, 0, 0), (10.09, 9, True), (10.04, 4, True), (0.09, 9, False)),
        # path weighted -1: each step +0.1, the exit -99.9: nobody leaves
        ((-1, 0, 0, 0), (0.9, 9, False), (0.9, 9, False), (0.9, 9, False)),
    ],
)
def test_where_stalling_pays(w, timed, fast, slow):
    """Time-indexed: wander 8 steps and exit on the 9th (if the exit pays). Discounted at 0.99
    the loop is worth 0.01 / 0.01 = 1 < 10, so go (4 steps); at 0.9999 it is worth 100: stay."""
    model = model_for(Layout.from_ascii(STALL), shaping=False)
    emp = recorded(model, reachable(model))
    stationary, time_indexed = plans(model, emp, w)
    assert walk(model, time_indexed, w, 9) == pytest.approx(timed)
    assert walk(model, stationary, w, 9) == pytest.approx(fast)
    tables = SupportTables.of(emp)  # value iteration at 0.9999 would need ~3e5 sweeps
    patient = solve_discounted(tables.rewards(Objective(w)), tables.onward, 0.9999)
    assert walk(model, full_table(tables.states, patient, model.n_states), w, 9) == pytest.approx(
        slow
    )


def test_where_a_hazard_is_a_bonus():
    """Weights (1, 0, -2, 0), no shaping: each step +0.1, a hazard +200.1. Time-indexed:
    wander 15 steps, enter the hazard on the 16th; discounted: straight in (3 steps). The old
    extraction (one action per state from the 16-steps-left values) never enters it."""
    model = model_for(Layout.from_ascii(HAZARD), shaping=False)
    w = (1, 0, -2, 0)
    emp = recorded(model, reachable(model))
    stationary, timed = plans(model, emp, w)
    assert walk(model, timed, w, 16) == pytest.approx((201.6, 16, True))
    assert walk(model, stationary, w, 16) == pytest.approx((200.3, 3, True))
    graph = SupportGraph.of(emp)
    choice = graph.greedy_choice(graph.backward_induction(weighted(emp.components, w), 16))
    old = full_table(graph.states, emp.actions_of_rows()[choice], model.n_states)
    assert walk(model, old, w, 16) == pytest.approx((1.6, 16, False))


def test_support_tables_follow_the_data_and_end_where_it_does():
    model = model_for(Layout.from_ascii(CORRIDOR))
    keep = reachable(model)
    _, second, third, fourth, fifth = along(model, [0, 1, 1, 0])
    keep[fourth] = False  # the data stops after three steps: nothing recorded there
    tables = SupportTables.of(recorded(model, keep))
    i = np.searchsorted(tables.states, third)
    assert tables.onward[i, 1] == tables.n  # down, to the fourth: the data ends
    assert tables.states[tables.onward[i, 3]] == second  # up, back: recorded
    exit_side = np.searchsorted(tables.states, fifth)
    assert tables.onward[exit_side, 0] == tables.n  # into the exit: terminal
    no_left = SupportTables.of(recorded(model, keep & (np.arange(N_ACTIONS) != 2)))
    reward = no_left.rewards(Objective((1, 0, 0, 0)))
    assert np.isneginf(reward[:, 2]).all() and np.isfinite(reward[:, [0, 1, 3]]).all()


def test_a_terminal_pair_ends_the_walk_even_where_its_next_state_is_recorded():
    one = np.ones((2, 4))
    emp = EmpiricalModel.from_arrays(
        np.array([0, 1]), np.array([0, 0]), np.array([1, 1]), one, np.array([True, False]),
        np.array([0]),
    )  # fmt: skip
    tables = SupportTables.of(emp)
    assert tables.onward[:, 0].tolist() == [2, 1]  # 2: the end
    assert bcvi_time_indexed(emp, Objective((1, 0, 0, 0)), 3).shape == (3, 2)
    reward = tables.rewards(Objective((1, 0, 0, 0)))
    np.testing.assert_allclose(backward_actions(reward, tables.onward, 3)[1], [1.0, 3.0])


def test_full_table_falls_back_outside_the_data():
    table = full_table(np.array([1, 3]), np.array([[2, 3], [1, 1]]), 5)
    assert table.tolist() == [[FALLBACK_ACTION, 2, 0, 3, 0], [0, 1, 0, 1, 0]]
    assert full_table(np.array([0]), np.array([2]), 3, fallback=3).tolist() == [2, 3, 3]


def test_discounted_sums_are_the_geometric_sums():
    x = np.array([1.0, 2.0, 0.0, 3.0])  # 0 -> 1 -> end (2); 3 loops on itself
    nxt = np.array([1, 2, 2, 3])
    np.testing.assert_allclose(discounted_sums(x, nxt, 0.5), [2.0, 2.0, 0.0, 6.0])
    np.testing.assert_allclose(discounted_sums(x, nxt, 0.9999)[3], 3e4, rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(layout_seed=st.integers(0, 5000), w=signed, gamma=st.sampled_from([0.5, 0.9, 0.99]))
def test_on_full_data_the_planners_are_the_exact_solvers(layout_seed, w, gamma):
    model = model_for(Layout.generate(8, layout_seed))
    objective = Objective(w)
    emp = recorded(model, np.ones((model.n_states, N_ACTIONS), bool))
    tables = SupportTables.of(emp)
    reward, onward = tables.rewards(objective), tables.onward
    q, _ = value_iteration(model, objective, gamma)
    for actions in (
        bcvi_stationary(emp, objective, gamma),
        solve_discounted(reward, onward, gamma),
    ):
        np.testing.assert_allclose(
            discounted_values(reward, onward, gamma, actions), q.max(axis=1), atol=1e-6
        )
    timed = bcvi_time_indexed(emp, objective, 64)
    np.testing.assert_allclose(
        time_aware_returns(timed, model, objective, np.arange(model.n_states), 64),
        optimal_values(model, objective, 64),
    )  # fmt: skip


def random_support(layout_seed: int, share: float, seed: int) -> tuple[SupportTables, np.ndarray]:
    """A random partial dataset on a generated 8x8 layout, and a random recorded action per
    state."""
    model = model_for(Layout.generate(8, layout_seed))
    rng = np.random.default_rng(seed)
    tables = SupportTables.of(recorded(model, rng.random((model.n_states, N_ACTIONS)) < share))
    scores = np.where(tables.row >= 0, rng.random(tables.row.shape), -1.0)
    return tables, np.argmax(scores, axis=1)


@settings(max_examples=15, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=signed, seed=st.integers(0, 999),
    share=st.floats(0.2, 1.0), gamma=st.sampled_from([0.9, 0.99, 0.999]),
)  # fmt: skip
def test_discounted_improvement_never_lowers_a_value(layout_seed, w, seed, share, gamma):
    tables, actions = random_support(layout_seed, share, seed)
    reward = tables.rewards(Objective(w))
    new, before, after = discounted_policy_iteration(reward, tables.onward, gamma, actions, 1)
    np.testing.assert_array_equal(before, discounted_values(reward, tables.onward, gamma, actions))
    np.testing.assert_array_equal(after, discounted_values(reward, tables.onward, gamma, new))
    scale = np.abs(reward[np.isfinite(reward)]).max() / (1 - gamma)
    assert np.all(after >= before - 1e-12 * scale)
    assert (after > before + 1e-12 * scale).any()  # a random policy always has room
    assert np.isfinite(reward[np.arange(tables.n), new]).all()  # recorded actions only
    best = solve_discounted(reward, tables.onward, gamma, new)
    optimum = discounted_values(reward, tables.onward, gamma, best)
    assert np.all(optimum >= after - 1e-12 * scale)
    if gamma == 0.9:  # value iteration reaches the same optimum (slowly nearer 1)
        greedy = discounted_greedy(reward, tables.onward, gamma)
        vi = discounted_values(reward, tables.onward, gamma, greedy)
        np.testing.assert_allclose(optimum, vi, atol=1e-6 * (1 + scale) * (1 - gamma))


@settings(max_examples=25, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=signed, seed=st.integers(0, 999),
    share=st.floats(0.2, 1.0), horizon=st.integers(1, 12),
)  # fmt: skip
def test_time_indexed_improvement_never_lowers_a_value(layout_seed, w, seed, share, horizon):
    tables, _ = random_support(layout_seed, share, seed)
    reward, onward = tables.rewards(Objective(w)), tables.onward
    rng = np.random.default_rng(seed)  # a random recorded action per steps left and state
    scores = np.where(tables.row >= 0, rng.random((horizon, *tables.row.shape)), -1.0)
    timed = np.argmax(scores, axis=2)
    new, before, after = time_indexed_policy_iteration(reward, onward, timed, 1)
    np.testing.assert_array_equal(before, time_indexed_values(reward, onward, timed))
    assert np.all(after >= before - 1e-9)
    assert (after > before + 1e-9).any()
    assert np.isfinite(np.take_along_axis(reward, new.T, 1)).all()
    final = time_indexed_policy_iteration(reward, onward, new, horizon)[2]
    optimum, best = backward_actions(reward, onward, horizon)[::-1]
    np.testing.assert_allclose(final[-1], optimum, atol=1e-9)
    np.testing.assert_allclose(time_indexed_values(reward, onward, best)[-1], optimum, atol=1e-9)


def test_bad_input_says_what_to_pass():
    model = model_for(Layout.from_ascii(CORRIDOR))
    tables = SupportTables.of(recorded(model, reachable(model)))
    reward, onward = tables.rewards(Objective((1, 0, 0, 0))), tables.onward
    with pytest.raises(ConfigError, match="EmpiricalModel"):
        SupportTables.of(model)
    with pytest.raises(ConfigError, match="shape"):
        discounted_values(reward, onward, 0.9, np.zeros(3, dtype=np.int64))
    with pytest.raises(ConfigError, match=r"0\.\.3"):
        discounted_values(reward, onward, 0.9, np.full(tables.n, 4))
    with pytest.raises(ConfigError, match="gamma"):
        solve_discounted(reward, onward, 1.0)
    with pytest.raises(ConfigError, match="onward"):
        backward_actions(reward, onward + tables.n, 3)
    with pytest.raises(ConfigError, match="steps left"):
        time_indexed_values(reward, onward, np.zeros(tables.n, dtype=np.int64))
    with pytest.raises(ConfigError, match="max_iterations"):
        discounted_greedy(reward, onward, 0.999, max_iterations=3)
    partial = SupportTables.of(recorded(model, reachable(model) & (np.arange(4) != 2)))
    left = np.full(partial.n, 2)
    with pytest.raises(ConfigError, match="recorded"):
        discounted_values(partial.rewards(Objective((1, 0, 0, 0))), partial.onward, 0.9, left)
