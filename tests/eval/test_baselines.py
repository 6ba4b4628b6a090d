"""Baselines: scratch training, d3rlpy learners, best single policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lever_gym.eval.baselines as baselines
from lever_gym.errors import ConfigError
from lever_gym.eval.evaluate import evaluate
from lever_gym.library.store import Library
from lever_gym.objective import Objective

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


def test_scratch_is_timed_and_seeded():
    lib = Library.load(DEFAULT)
    model = lib.model(lib.filter(size=8, layout_seed=0)[0])
    w = Objective.named("PathGoldHazard")
    a = baselines.scratch(model, w, 2000, seed=3)
    b = baselines.scratch(model, w, 2000, seed=3)
    assert a.seconds > 0
    np.testing.assert_array_equal(a.policy.q, b.policy.q)


def test_best_single_uses_recorded_components():
    lib = Library.load(DEFAULT)
    records = lib.filter(size=8, layout_seed=0, gamma=0.99)
    objective = Objective.named("PathGold")
    w = objective.vector
    record, base = baselines.best_single(lib, records, objective)
    assert np.dot(record.greedy_components, w) == max(
        np.dot(r.greedy_components, w) for r in records
    )
    assert evaluate(base.policy, "LeverGrid-8x8-PathGold-v0", 2).mean_return == pytest.approx(
        np.dot(record.greedy_components, w), abs=1e-6
    )


@pytest.mark.slow
@pytest.mark.parametrize("algo", baselines.OFFLINE_ALGOS)
def test_d3rlpy_learners_train_and_wrap(algo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lib = Library.load(DEFAULT)
    datasets = [lib.dataset(r) for r in lib.filter(size=8, layout_seed=0, gamma=0.99)[:4]]
    base = baselines.offline_rl(datasets, Objective.named("PathGold"), algo, n_steps=200)
    assert base.seconds > 0 and not (tmp_path / "d3rlpy_logs").exists()
    obs = lib.model(lib.filter(size=8, layout_seed=0)[0]).space.observe(np.arange(0, 2048, 37))
    np.testing.assert_array_equal(base.policy.predict(obs), base.policy.algo.predict(obs))
    assert [base.policy(o) for o in obs[:5]] == base.policy.algo.predict(obs[:5]).tolist()
    result = evaluate(base.policy, "LeverGrid-8x8-PathGold-v0", 2)
    assert np.isfinite(result.mean_return)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["cql", "bcq"])
def test_offline_q_learners_find_the_path_the_data_holds(algo, tmp_path, monkeypatch):
    """Known answer: on the default library's 8x8 layout 0 (a tuning layout), DiscreteCQL and
    DiscreteBCQ at 4,000 steps reach bcvi's level on PathGoldHazard (0.998 measured for both;
    CQL with d3rlpy's Atari defaults, whose target never updates in such a fit, 0.754; BCQ
    with d3rlpy's shared-encoder imitator, 0.402)."""
    from lever_gym.eval.exact import score

    monkeypatch.chdir(tmp_path)
    lib = Library.load(DEFAULT)
    objective = Objective.named("PathGoldHazard")
    records = [
        r for r in lib.filter(size=8, layout_seed=0, gamma=0.99) if r.objective != objective.name
    ]
    base = baselines.offline_rl([lib.dataset(r) for r in records], objective, algo, n_steps=4000)
    assert base.policy.algo.config.target_update_interval == 4000 // baselines.TARGET_UPDATES
    model = lib.model(records[0])
    s = score(base.policy, model, objective, np.array([model.start_state]), model.layout.n_cells)
    assert (s.mean_return - s.random_return) / (s.optimal_return - s.random_return) >= 0.95


@pytest.mark.slow
def test_behaviour_cloning_of_one_policy_is_that_policy(tmp_path, monkeypatch):
    """Known answer: DiscreteBC on one library policy's data (its greedy action at rate
    0.925, ε 0.1 over 4 actions) acts that policy's greedy action on its greedy path, so it
    earns exactly that policy's return on the objective it was trained for."""
    from lever_gym.eval.exact import score

    monkeypatch.chdir(tmp_path)
    lib = Library.load(DEFAULT)
    record = lib.filter(size=8, layout_seed=0, gamma=0.99)[0]
    objective = Objective(record.weights)
    base = baselines.offline_rl([lib.dataset(record)], objective, "bc", n_steps=1000)
    model = lib.model(record)
    starts = np.array([model.start_state])
    cloned = score(base.policy, model, objective, starts, model.layout.n_cells).mean_return
    own = score(lib.policy(record), model, objective, starts, model.layout.n_cells).mean_return
    assert cloned == pytest.approx(own, abs=1e-9)


def test_offline_rl_rejects_bad_input():
    with pytest.raises(ConfigError, match="algo must be one of"):
        baselines.offline_rl([], Objective((1, 1, 1, 1)), "dqn")
    with pytest.raises(ConfigError, match="n_steps must be a positive integer"):
        baselines.offline_rl([], Objective((1, 1, 1, 1)), "cql", n_steps=0)


@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0, 0.0), (1.0, 0.0, -2.0, 0.0), (1, 1, 1, 1)])
def test_bcvi_forms_earn_exactly_what_they_plan_on_the_data(weights):
    """Known answers: both forms plan on recorded transitions only and the grid is
    deterministic, so each one's true return from the start is its own planned value on the
    data (the time-indexed one also for stalling-pays weights, where it must stop at H)."""
    from lever_gym.eval.exact import exact_returns
    from lever_gym.mdp.batch import (
        SupportTables,
        backward_actions,
        discounted_values,
    )

    lib = Library.load(DEFAULT)
    records = lib.filter(size=8, layout_seed=0)
    model = lib.model(records[0])
    objective = Objective(weights)
    start, horizon = np.array([model.start_state]), model.layout.n_cells
    emp = baselines._pool_data(lib, records, model)
    tables = SupportTables.of(emp)
    j = int(np.searchsorted(tables.states, model.start_state))
    reward = tables.rewards(objective)
    timed = baselines.bcvi_time_indexed(lib, records, objective, model)
    planned = backward_actions(reward, tables.onward, horizon)[1]
    true = exact_returns(timed.policy, model, objective, start, horizon)[0]
    assert true == pytest.approx(planned[j], abs=1e-9)
    stationary = baselines.bcvi(lib, records, objective, model)
    actions = stationary.policy.predict(model.space.observe(tables.states))
    value = discounted_values(reward, tables.onward, 0.99, actions)[j]
    assert np.isfinite(value)
    assert exact_returns(stationary.policy, model, objective, start, horizon)[0] <= true + 1e-9


def test_forward_backward_at_full_rank_earns_what_bcvi_earns_and_below_it_reports_its_fit():
    """Known answer: at full rank the projected reward is the reward, so the zero-shot policy
    is stationary batch-constrained planning on the same data (``bcvi``'s return)."""
    from lever_gym.eval.exact import exact_returns

    lib = Library.load(DEFAULT)
    records = lib.filter(size=8, layout_seed=0)
    model = lib.model(records[0])
    start, horizon = np.array([model.start_state]), model.layout.n_cells
    full = baselines.forward_backward_fit(lib, records, model, rank=10**6)
    low = baselines.forward_backward_fit(lib, records, model, rank=16)
    assert full.fit_error < 1e-6 < low.fit_error < 1.0 and low.rank == 16
    for weights in [(1.0, 0.0, 0.0, 0.0), (1.0, 1.0, -1.0, 0.0), (1.0, -1.0, -1.0, 0.0)]:
        objective = Objective(weights)
        ours = baselines.forward_backward(full, objective, model)
        theirs = baselines.bcvi(lib, records, objective, model)
        assert ours.name == f"fb (rank {full.rank})"
        assert exact_returns(ours.policy, model, objective, start, horizon)[0] == pytest.approx(
            exact_returns(theirs.policy, model, objective, start, horizon)[0], abs=1e-9
        )
