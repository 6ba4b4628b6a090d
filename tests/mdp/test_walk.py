"""Walks through recorded data: the rows a policy visits, and their returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import Layout
from lever_gym.errors import ConfigError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.walk import WalkBatch, WalkGraph


def reference_return(emp, states, actions, start, horizon, rewards, penalty):
    """The walk stepped by hand: the recorded row of each (state, action), until the end."""
    total, s = 0.0, start
    for _ in range(horizon):
        if s not in states.tolist():
            return total - penalty, False
        row = emp.rows(np.array([s]), np.array([actions[states.tolist().index(s)]]))[0]
        if row < 0:
            return total - penalty, False
        total += rewards[row]
        if emp.terminated[row]:
            break
        s = int(emp.next_state[row])
    return total, True


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.2, 1.0), horizon=st.integers(1, 80))
def test_walks_follow_the_recorded_rows(seed, share, horizon):
    env = LeverGridEnv(layout=Layout.generate(8, seed % 50).to_ascii())
    m, rng = env.model, np.random.default_rng(seed)
    s, a = np.nonzero(rng.random(m.next_state.shape) < share)
    emp = EmpiricalModel.from_arrays(
        s, a, m.next_state[s, a], m.components[s, a], m.terminated[s, a], s[:1]
    )
    states = np.union1d(emp.states(), [m.start_state])
    actions = rng.integers(4, size=len(states))
    rewards = rng.normal(size=len(emp.keys))
    graph = WalkGraph.of(emp, states)
    starts = rng.choice(states, size=3)
    batch = WalkBatch.of([graph.walk(actions, int(x), horizon) for x in starts])
    totals = batch.totals(rewards, 7.5)
    for i, x in enumerate(starts):
        want, inside = reference_return(emp, states, actions, int(x), horizon, rewards, 7.5)
        assert totals[i] == want and batch.inside[i] == inside


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000), share=st.floats(0.2, 1.0), horizon=st.integers(1, 80),
    per_chunk=st.sampled_from([1, 2, 4, 6]),
)  # fmt: skip
def test_lazy_walks_visit_the_rows_of_walk_asking_once_per_state(seed, share, horizon, per_chunk):
    """Many policies walked at once, each asked for an action only where it arrives, visit
    the rows ``walk`` visits with their action tables, in chunks of any size; a walker is
    never asked twice about one state (a revisit repeats its cycle)."""
    from unittest import mock

    import lever_gym.mdp.walk as walk_module

    env = LeverGridEnv(layout=Layout.generate(8, seed % 50).to_ascii())
    m, rng = env.model, np.random.default_rng(seed)
    s, a = np.nonzero(rng.random(m.next_state.shape) < share)
    emp = EmpiricalModel.from_arrays(
        s, a, m.next_state[s, a], m.components[s, a], m.terminated[s, a], s[:1]
    )
    states = np.union1d(emp.states(), [m.start_state])
    graph = WalkGraph.of(emp, states)
    tables = rng.integers(4, size=(6, len(states)))
    starts = np.append(rng.choice(states, size=5), m.n_states + 3)  # the last is unrecorded
    asked: list[tuple[int, int]] = []

    def act(walkers, positions):
        asked.extend(zip(walkers.tolist(), positions.tolist(), strict=True))
        return tables[walkers, positions]

    cells = per_chunk * max(len(states), horizon)  # walkers per chunk: per_chunk
    with mock.patch.object(walk_module, "LAZY_WALK_CELLS", cells):
        lazy = graph.walk_lazily(act, starts, horizon)
    eager = WalkBatch.of([graph.walk(tables[i], int(x), horizon) for i, x in enumerate(starts)])
    assert np.array_equal(lazy.rows, eager.rows)
    assert np.array_equal(lazy.steps, eager.steps) and np.array_equal(lazy.inside, eager.inside)
    assert len(asked) == len(set(asked))
    assert not lazy.inside[-1] and lazy.steps[-1] == 0
    with pytest.raises(ConfigError, match="horizon"):
        graph.walk_lazily(act, starts, 0)
