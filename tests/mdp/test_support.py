"""Planning on the support: exact sums, batch-constrained optimum, monotone policy iteration,
and generalised policy improvement over successor features."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import Layout
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.horizon import optimal_values, policy_values
from lever_gym.mdp.solve import value_iteration
from lever_gym.mdp.support import SupportGraph, horizon_sums, policy_successor_features
from lever_gym.objective import Objective, weighted

positive = st.lists(st.floats(0.05, 2), min_size=4, max_size=4)
signed = st.lists(st.floats(-2, 2), min_size=4, max_size=4).filter(lambda w: any(w))


def recorded(env: LeverGridEnv, keep: np.ndarray) -> EmpiricalModel:
    """The empirical model of the exact model's pairs where ``keep`` is true."""
    m = env.model
    s, a = np.nonzero(keep)
    return EmpiricalModel.from_arrays(
        s, a, m.next_state[s, a], m.components[s, a], m.terminated[s, a], s[:1]
    )


def tiny(layout_seed: int, weights: list[float]) -> LeverGridEnv:
    return LeverGridEnv(layout=Layout.generate(8, layout_seed).to_ascii(), weights=weights)


@settings(max_examples=10, deadline=None)
@given(layout_seed=st.integers(0, 5000), w=signed, seed=st.integers(0, 99))
def test_full_data_gives_the_exact_values(layout_seed, w, seed):
    env = tiny(layout_seed, w)
    m, objective = env.model, env.objective
    graph = SupportGraph.of(recorded(env, np.ones(m.next_state.shape, bool)))
    rewards = weighted(graph.empirical.components, objective.weights)
    actions = np.random.default_rng(seed).integers(4, size=m.n_states)
    values = graph.values(graph.first_row + actions, rewards, 64)
    np.testing.assert_allclose(values, policy_values(m, objective, actions, 64))
    q = graph.backward_induction(rewards, 64)
    np.testing.assert_allclose(
        np.maximum.reduceat(q, graph.first_row), optimal_values(m, objective, 64)
    )


@settings(max_examples=25, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=signed, seed=st.integers(0, 999),
    share=st.floats(0.3, 1.0), steps=st.integers(1, 4),
)  # fmt: skip
def test_policy_iteration_on_the_support_never_lowers_a_value(layout_seed, w, seed, share, steps):
    env = tiny(layout_seed, w)
    rng = np.random.default_rng(seed)
    graph = SupportGraph.of(recorded(env, rng.random(env.model.next_state.shape) < share))
    rewards = weighted(graph.empirical.components, env.objective.weights)
    start = graph.greedy_choice(rng.random(graph.n_rows))
    before = graph.values(start, rewards, 64)
    improved, first, last = graph.policy_iteration(start, rewards, 64, steps)
    after = graph.values(improved, rewards, 64)
    assert np.all(after >= before - 1e-9)
    np.testing.assert_array_equal(first, before)
    np.testing.assert_array_equal(last, after)


@settings(max_examples=15, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=positive, members=st.lists(positive, min_size=2, max_size=4)
)
def test_gpi_is_at_least_every_member_at_every_covered_state(layout_seed, w, members):
    """The GPI theorem's setting: every pair recorded, members that reach a terminal state
    (optimal for positive weights), an objective with positive weights (every cycle costs)."""
    env = tiny(layout_seed, w)
    m, objective = env.model, env.objective
    emp = recorded(env, np.ones(m.next_state.shape, bool))
    graph = SupportGraph.of(emp)
    s, a = emp.state_of_rows(), emp.actions_of_rows()
    best, own = np.full(graph.n_rows, -np.inf), []
    for weights in members:
        q = value_iteration(m, Objective(tuple(weights)), 0.99)[0][s, a]
        value = weighted(policy_successor_features(emp, q, 64), objective.weights)
        best = np.maximum(best, value)
        own.append(value[graph.greedy_choice(q)])
    rewards = weighted(emp.components, objective.weights)
    gpi = graph.values(graph.greedy_choice(best), rewards, 64)
    for value in own:
        assert np.all(gpi >= value - 1e-6)


def test_successor_features_sum_components_along_the_recorded_walk():
    env = tiny(3, [1, 1, 1, 1])
    m = env.model
    emp = recorded(env, np.ones(m.next_state.shape, bool))
    q = value_iteration(m, env.objective, 0.9)[0]
    psi = policy_successor_features(emp, q[emp.state_of_rows(), emp.actions_of_rows()], 64)
    row = int(np.searchsorted(emp.keys, m.start_state * 4 + int(np.argmax(q[m.start_state]))))
    total, s, a = np.zeros(4), m.start_state, int(np.argmax(q[m.start_state]))
    for _ in range(64):
        total += m.components[s, a]
        if m.terminated[s, a]:
            break
        s = int(m.next_state[s, a])
        a = int(np.argmax(q[s]))
    np.testing.assert_allclose(psi[row], total)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), horizon=st.integers(1, 300), seed=st.integers(0, 999))
def test_horizon_sums_equal_stepping_the_walk(n, horizon, seed):
    """Doubling gives the sum of ``horizon`` nodes along each walk, cycles included."""
    rng = np.random.default_rng(seed)
    x = np.append(rng.normal(size=n), 0.0)
    nxt = np.append(rng.integers(0, n + 1, size=n), n)  # node n: the end
    want = np.zeros(n + 1)
    for i in range(n + 1):
        node = i
        for _ in range(horizon):
            want[i] += x[node]
            node = nxt[node]
    np.testing.assert_allclose(horizon_sums(x, nxt, horizon), want, rtol=1e-12, atol=1e-9)
