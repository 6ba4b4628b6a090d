"""evaluate(): normalisation, confidence intervals, determinism, vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from lever_gym.errors import ConfigError, LayoutError
from lever_gym.eval.evaluate import check_layout, evaluate
from lever_gym.mdp.solve import solve

ENV = "LeverGrid-8x8-PathGoldHazard-v0"


def test_optimum_scores_about_one_and_random_about_zero():
    optimum = solve(ENV, 0.99, layout_seed=1, random_start=True)
    best = evaluate(optimum, ENV, 40, seed=0, layout_seed=1, random_start=True)
    assert 0.95 <= best.normalised_score <= 1.0  # the ceiling is the finite-horizon optimum
    assert best.success.mean() > 0.9
    rng = np.random.default_rng(123)
    rand = evaluate(
        lambda obs: int(rng.integers(4)), ENV, 200, seed=0, layout_seed=1, random_start=True
    )
    assert abs(rand.normalised_score) < 0.1
    assert rand.ci[0] < rand.mean_return < rand.ci[1]


def test_confidence_interval_shrinks_with_more_episodes():
    widths = []
    for n in (20, 80, 320):
        rng = np.random.default_rng(5)
        r = evaluate(lambda obs, rng=rng: int(rng.integers(4)), ENV, n, seed=3, random_start=True)
        widths.append(r.ci[1] - r.ci[0])
    assert widths[0] > widths[1] > widths[2]


def test_same_seed_same_results_and_summary_fields():
    optimum = solve(ENV, 0.9, random_start=True)
    a = evaluate(optimum, ENV, 15, seed=7, random_start=True)
    b = evaluate(optimum, ENV, 15, seed=7, random_start=True)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert set(a.summary()) == {
        "episodes", "mean_return", "ci_low", "ci_high", "success_rate",
        "normalised_score", "mean_length", "coverage",
    }  # fmt: skip
    np.testing.assert_allclose(a.components @ np.array([1.0, 1.0, 1.0, 0.0]), a.returns)


def test_vector_env_gives_the_same_episodes():
    optimum = solve(ENV, 0.99, random_start=True)
    single = evaluate(optimum, ENV, 10, seed=2, random_start=True)
    vector = evaluate(optimum, ENV, 10, seed=2, num_envs=4, random_start=True)
    np.testing.assert_array_equal(single.returns, vector.returns)
    np.testing.assert_array_equal(single.lengths, vector.lengths)


def test_policies_with_only_predict_work():
    optimum = solve(ENV, 0.99)

    class Batched:
        def predict(self, obs):
            return optimum.predict(obs)

    assert evaluate(Batched(), ENV, 3).normalised_score == pytest.approx(
        evaluate(optimum, ENV, 3).normalised_score
    )


def test_evaluate_takes_an_env_a_wrapped_env_or_a_vector_env():
    optimum = solve(ENV, 0.99, random_start=True)
    by_id = evaluate(optimum, ENV, 6, seed=4, random_start=True)
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(ENV, random_start=True))
    np.testing.assert_array_equal(evaluate(optimum, env, 6, seed=4).returns, by_id.returns)
    envs = gym.make_vec(ENV, num_envs=3, random_start=True)
    vector = evaluate(optimum, envs, 6, seed=4)
    np.testing.assert_array_equal(vector.returns, by_id.returns)
    assert vector.optimal_return == by_id.optimal_return
    skipped = evaluate(optimum, ENV, 2, reference=False)
    assert np.isnan(skipped.normalised_score)


@pytest.mark.parametrize(("policy", "kwargs", "message"), [
    (object(), {}, "policy must be callable"),
    (lambda obs: 0, {"n_episodes": 0}, "n_episodes must be a positive integer"),
    (lambda obs: 0, {"num_envs": 2}, "a vector env needs a policy with predict"),
])  # fmt: skip
def test_bad_input(policy, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        evaluate(policy, ENV, **{"n_episodes": 2, **kwargs})


def test_a_policy_of_another_layout_is_refused():
    optimum = solve(ENV, 0.99, layout_seed=1)
    with pytest.raises(LayoutError, match="built for another layout than the env plays"):
        evaluate(optimum, ENV, 3, layout_seed=0)
    with pytest.raises(LayoutError, match="another layout"):
        evaluate(optimum, ENV, 3, num_envs=2, layout_seed=2)
    with pytest.raises(LayoutError, match="new layout every reset"):
        evaluate(optimum, "LeverGrid-Random-8x8-PathGoldHazard-v0", 3, reference=False)
    for env in (gym.make(ENV, layout_seed=1), gym.make_vec(ENV, num_envs=2, layout_seed=1)):
        check_layout(optimum, env)  # the policy's own layout passes
    check_layout(lambda obs: 0, gym.make(ENV))  # a policy without a model passes
    layout = optimum.model.layout.to_ascii()
    ascii_env = gym.make("LeverGrid-8x8-PathGoldHazard-v0", layout=layout)
    assert evaluate(optimum, ascii_env, 2).normalised_score > 0.9
