"""Exact evaluation: the finite-horizon ceiling bounds every policy; references agree with
sampled episodes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import Layout
from lever_gym.eval.evaluate import evaluate
from lever_gym.eval.exact import exact_returns, score
from lever_gym.mdp.horizon import optimal_values, policy_values, random_values, start_states
from lever_gym.mdp.solve import solve
from lever_gym.objective import Objective
from lever_gym.train.policy import TabularPolicy

weights = st.lists(st.floats(-2, 2).filter(lambda x: abs(x) > 0.05), min_size=4, max_size=4)


@settings(max_examples=25, deadline=None)
@given(layout_seed=st.integers(0, 10_000), w=weights, policy_seed=st.integers(0, 99))
def test_no_policy_exceeds_the_ceiling_on_random_layouts(layout_seed, w, policy_seed):
    env = LeverGridEnv(layout=Layout.generate(8, layout_seed).to_ascii(), weights=w)
    model, objective, horizon = env.model, env.objective, 64
    ceiling = optimal_values(model, objective, horizon)
    actions = np.random.default_rng(policy_seed).integers(4, size=model.n_states)
    values = policy_values(model, objective, actions, horizon)
    assert np.all(values <= ceiling + 1e-9)
    assert np.all(random_values(model, objective, horizon) <= ceiling + 1e-9)
    starts = start_states(model, True)
    policy = TabularPolicy(model, np.eye(4)[actions])
    np.testing.assert_allclose(exact_returns(policy, model, objective, starts, horizon),
                               values[starts])  # fmt: skip
    sol = solve(env, 0.99)
    assert score(sol, model, objective, starts, horizon).normalised <= 1 + 1e-9 or np.isnan(
        score(sol, model, objective, starts, horizon).normalised
    )


def test_exact_score_matches_sampled_episodes_of_evaluate():
    env_id = "LeverGrid-8x8-PathGoldHazard-v0"
    sol = solve(env_id, 0.99, random_start=True)
    model = sol.model
    objective = Objective.named("PathGoldHazard")
    starts = start_states(model, True)
    exact = score(sol, model, objective, starts, 64)
    sampled = evaluate(sol, env_id, 400, seed=1, random_start=True)
    assert abs(sampled.mean_return - exact.mean_return) < 0.05 * abs(exact.span)
    assert exact.normalised <= 1.0 and exact.regret >= 0
