"""The time-limit contract: the time-indexed optimum attains the finite-horizon values, the
stationary reference is the best of its discounts, and bounds from data hold the true return."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import N_ACTIONS, model_for
from lever_gym.errors import ConfigError
from lever_gym.mdp.batch import SupportTables, discounted_values, full_table
from lever_gym.mdp.contract import (
    GAMMA_GRID,
    StepBounds,
    stationary_reference,
    step_reward_bounds,
    time_aware_returns,
    time_indexed_optimum,
    value_bounds,
)
from lever_gym.mdp.horizon import optimal_values, policy_values, start_states
from lever_gym.mdp.solve import value_iteration
from lever_gym.objective import Objective
from tests.conftest import TINY_LAYOUTS
from tests.mdp.test_batch import CORRIDOR, HAZARD, along, reachable, recorded

signed = st.lists(st.integers(-200, 200).map(lambda x: x / 100), min_size=4, max_size=4).filter(any)
HEMMED = """
    .H..
    HSH.
    ....
    L..E
"""
"""The start has three hazard neighbours; the cell below it none."""
ASCII = [*TINY_LAYOUTS.values(), CORRIDOR, HAZARD, HEMMED]


@settings(max_examples=15, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=signed, shaping=st.booleans(),
    horizon=st.sampled_from([1, 5, 64]),
)  # fmt: skip
def test_the_time_indexed_optimum_attains_the_finite_horizon_values(
    layout_seed, w, shaping, horizon
):
    model = model_for(Layout.generate(8, layout_seed), shaping)
    objective = Objective(w)
    table = time_indexed_optimum(model, objective, horizon)
    assert table.shape == (horizon, model.n_states)
    every = np.arange(model.n_states)
    np.testing.assert_allclose(
        time_aware_returns(table, model, objective, every, horizon),
        optimal_values(model, objective, horizon), atol=1e-9,
    )  # fmt: skip


def test_the_hazard_bonus_has_two_ceilings():
    """Weights (1, 0, -2, 0), no shaping: each step +0.1, the hazard (3 moves away) +200.1.
    Time-aware: 15 steps then the hazard, 201.6. Stationary: straight in, 200.3, at every
    discount up to 0.9995 (the loop is worth 0.1 / (1 - γ)); at 0.9999 it stalls: 16 x 0.1."""
    model = model_for(Layout.from_ascii(HAZARD), shaping=False)
    w, starts = Objective((1, 0, -2, 0)), np.array([model.start_state])
    ref = stationary_reference(model, w, 16, starts)
    assert (ref.gamma, ref.mean) == (0.9, pytest.approx(200.3))
    np.testing.assert_allclose(ref.means, [200.3] * 8 + [1.6])
    assert ref.gammas == GAMMA_GRID
    best = time_aware_returns(time_indexed_optimum(model, w, 16), model, w, starts, 16)
    assert best == pytest.approx([201.6])


@settings(max_examples=8, deadline=None)
@given(layout_seed=st.integers(0, 5000), w=signed, random_start=st.booleans())
def test_the_stationary_reference_is_the_best_discounted_policy_of_its_grid(
    layout_seed, w, random_start
):
    model = model_for(Layout.generate(8, layout_seed))
    objective, starts = Objective(w), start_states(model, random_start)
    grid = (0.99, 0.5, 0.9)
    ref = stationary_reference(model, objective, 64, starts, grid)
    assert ref.gammas == (0.5, 0.9, 0.99) and ref.mean == max(ref.means)
    assert ref.means[ref.gammas.index(ref.gamma)] == ref.mean
    np.testing.assert_array_equal(
        ref.returns, policy_values(model, objective, ref.actions, 64)[starts]
    )
    assert ref.mean <= optimal_values(model, objective, 64)[starts].mean() + 1e-9
    q, _ = value_iteration(model, objective, ref.gamma)  # discounted-optimal at its discount
    reward = model.reward(objective)
    onward = np.where(model.terminated, model.n_states, model.next_state)
    np.testing.assert_allclose(
        discounted_values(reward, onward, ref.gamma, ref.actions), q.max(axis=1), atol=1e-6
    )


@settings(max_examples=20, deadline=None)
@given(
    layout=st.one_of(st.integers(0, 5000), st.sampled_from(ASCII)), w=signed,
    shaping=st.booleans(),
)  # fmt: skip
def test_every_reward_lies_within_the_step_bounds(layout, w, shaping):
    lay = Layout.generate(8, layout) if isinstance(layout, int) else Layout.from_ascii(layout)
    model = model_for(lay, shaping)
    reward, done = model.reward(Objective(w)), model.terminated
    b = step_reward_bounds(w, shaping, lay.size)
    assert b.step_low - 1e-9 <= reward[~done].min() and reward[~done].max() <= b.step_high + 1e-9
    assert b.final_low - 1e-9 <= reward[done].min() and reward[done].max() <= b.final_high + 1e-9


def test_the_step_bounds_are_tight_where_they_can_be_and_entering_a_hazard_reaches_far():
    assert step_reward_bounds((1, 0, 0, 0), True, 8).step_low == pytest.approx(-1.1)
    assert step_reward_bounds((1, 0, 0, 0), True, 8).step_high == pytest.approx(0.9)
    assert step_reward_bounds((1, 0, 0, 0), False, 8).final_high == pytest.approx(99.9)
    hemmed = model_for(Layout.from_ascii(HEMMED))
    down = hemmed.reward(Objective((0, 0, 1, 0)))[hemmed.start_state, 1]
    assert down == pytest.approx(2 * 3 + 1 - 0.1)  # three hazards left behind, one step closer
    assert down == pytest.approx(step_reward_bounds((0, 0, 1, 0), True, 4).step_high)
    model = model_for(Layout.generate(8, 3))
    hazard = model.reward(Objective((0, 0, 1, 0)))[model.terminated]
    assert hazard.min() < -100.1 - 4 * 2 - 1  # what distance deltas in [-1, 1] would allow


def test_the_rest_of_an_episode_ends_at_a_terminal_step_or_the_horizon():
    b = StepBounds(step_low=-1.0, step_high=2.0, final_low=-5.0, final_high=10.0)
    assert b.rest(3) == (-7.0, 14.0)  # two steps and a terminal one, either way
    assert b.rest(0) == (0.0, 0.0)
    costly = StepBounds(step_low=-1.0, step_high=-0.5, final_low=-5.0, final_high=10.0)
    assert costly.rest(3) == (-7.0, 10.0)  # best: end at once with the terminal bonus
    assert StepBounds(0.5, 1.0, 2.0, 3.0).rest(4) == (2.0, 6.0)


@settings(max_examples=30, deadline=None)
@given(
    layout_seed=st.integers(0, 5000), w=signed, seed=st.integers(0, 999),
    share=st.sampled_from([0.3, 0.7, 0.95, 1.0]), shaping=st.booleans(),
)  # fmt: skip
def test_the_true_return_lies_within_the_value_bounds(layout_seed, w, seed, share, shaping):
    model = model_for(Layout.generate(8, layout_seed), shaping)
    rng = np.random.default_rng(seed)
    emp = recorded(model, rng.random((model.n_states, N_ACTIONS)) < share)
    actions = rng.integers(N_ACTIONS, size=len(emp.states()))  # recorded or not
    anywhere = full_table(emp.states(), actions, model.n_states)
    outside = ~np.isin(np.arange(model.n_states), emp.states())
    anywhere[outside] = rng.integers(N_ACTIONS, size=int(outside.sum()))  # anything there
    true = policy_values(model, Objective(w), anywhere, 64)
    bounds = step_reward_bounds(w, shaping, 8)
    for start in start_states(model, True)[:12]:
        b = value_bounds(emp, actions, w, int(start), 64, bounds)
        assert b.lower - 1e-9 <= true[start] <= b.upper + 1e-9
        if not b.left_data:
            assert b.lower == b.upper == pytest.approx(true[start])
        else:
            assert b.lower < b.upper and b.steps_in_data < 64


def test_the_bounds_are_exact_inside_the_data_and_open_up_where_it_ends():
    model = model_for(Layout.from_ascii(CORRIDOR))
    keep = reachable(model)
    emp = recorded(model, keep)
    w, bounds = (1, 0, 0, 0), step_reward_bounds((1, 0, 0, 0), True, 4)
    states = emp.states()
    way = dict(zip(along(model, [0, 1, 1, 0]), [0, 1, 1, 0, 0], strict=True))
    actions = np.array([way.get(int(s), 2) for s in states])
    inside = value_bounds(emp, actions, w, model.start_state, 16, bounds)
    assert (inside.lower, inside.upper, inside.steps_in_data) == (
        pytest.approx(104.5), pytest.approx(104.5), 5,
    )  # fmt: skip
    third = along(model, [0, 1])[-1]
    keep[third] = False  # the data ends after two steps
    short = value_bounds(recorded(model, keep), actions[states != third], w,
                         model.start_state, 16, bounds)  # fmt: skip
    low, high = bounds.rest(14)
    assert short.left_data and short.steps_in_data == 2
    assert (short.lower, short.upper) == (pytest.approx(1.8 + low), pytest.approx(1.8 + high))


def test_bad_input_says_what_to_pass():
    model = model_for(Layout.from_ascii(CORRIDOR))
    w = Objective((1, 0, 0, 0))
    with pytest.raises(ConfigError, match="starts"):
        stationary_reference(model, w, 16, np.array([model.n_states]))
    with pytest.raises(ConfigError, match="gamma"):
        stationary_reference(model, w, 16, np.array([0]), (0.9, 1.0))
    with pytest.raises(ConfigError, match="repeat"):
        stationary_reference(model, w, 16, np.array([0]), (0.9, 0.9))
    with pytest.raises(ConfigError, match="steps left"):
        time_aware_returns(np.zeros((3, model.n_states), int), model, w, np.array([0]), 16)
    emp = recorded(model, reachable(model))
    with pytest.raises(ConfigError, match="one per recorded state"):
        value_bounds(emp, np.zeros(2, int), w, 0, 16, step_reward_bounds(w, True, 4))
    with pytest.raises(ConfigError, match="StepBounds"):
        value_bounds(emp, np.zeros(len(emp.states()), int), w, 0, 16, (0.0, 1.0))
    with pytest.raises(ConfigError, match="EmpiricalModel"):
        value_bounds(SupportTables.of(emp), np.zeros(1, int), w, 0, 16, (0.0, 1.0))
    with pytest.raises(ConfigError, match="size"):
        step_reward_bounds(w, True, 0)
