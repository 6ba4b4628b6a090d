"""LeverComposedPolicy: offline building, quality on the default library, I/O and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import (
    ConfigError,
    LeverGymError,
    LibraryError,
    RetrievalError,
    UnknownObjectiveError,
)
from lever_gym.eval.evaluate import evaluate
from lever_gym.library.store import Library
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


@pytest.fixture(scope="module")
def lib():
    return Library.load(DEFAULT)


@pytest.mark.parametrize("layout_seed", [0, 1])
def test_path_gold_hazard_8x8_reaches_a_normalised_score_of_0_8(lib, layout_seed):
    env_id = "LeverGrid-8x8-PathGoldHazard-v0"
    policy = LeverComposedPolicy.from_library(lib, env_id, layout=(8, layout_seed))
    result = evaluate(policy, env_id, n_episodes=5, seed=0, layout_seed=layout_seed)
    print(f"layout {layout_seed}: normalised score {result.normalised_score:.3f}")
    assert result.normalised_score >= 0.8


def test_building_never_steps_an_environment(lib, monkeypatch):
    def refuse(self, action):
        raise AssertionError("env.step called while building a composed policy")

    monkeypatch.setattr(LeverGridEnv, "step", refuse)
    env = gym.make("LeverGrid-8x8-PathGoldLever-v0", layout_seed=1)
    policy = LeverComposedPolicy.from_library(
        lib, env, config=ReuseConfig().with_options(strategy="exhaustive")
    )
    assert policy.info["layout_seed"] == 1 and policy.info["objective"] == "PathGoldLever"
    LeverComposedPolicy.from_library(
        lib,
        "LeverGrid-16x16-PathGoldHazardLever-v0",
        config=ReuseConfig().with_options(scoring="predictor"),
    )


def test_retrieval_stays_on_the_layout_and_skips_the_target(lib):
    policy = LeverComposedPolicy.from_library(
        lib,
        "path+gold+hazard",
        layout=(8, 1),
        config=ReuseConfig().with_options(strategy="exhaustive"),
    )
    info = policy.explain()
    listed = [pid for cands in info["candidates"].values() for pid, _ in cands]
    assert listed and all(pid.startswith("8x8-s1/") for pid in listed)
    assert all(lib[pid].objective != "PathGoldHazard" for pid in listed)
    assert "PathGoldHazard" not in info["splits_considered"]


def test_policy_interfaces_agree(lib):
    policy = LeverComposedPolicy.from_library(lib, "LeverGrid-8x8-PathGold-v0", layout=(8, 0))
    envs = gym.make_vec("LeverGrid-8x8-PathGold-v0", num_envs=4, vectorization_mode="sync")
    obs, _ = envs.reset(seed=0)
    batch = policy.predict(obs)
    assert batch.shape == (4,) and batch.dtype == np.int64
    assert [policy(o) for o in obs] == batch.tolist()
    q = policy.q_values(obs)
    assert q.shape == (4, 4)
    for row, a in zip(q, batch, strict=True):
        assert row[a] == np.max(row)
    with pytest.raises(ConfigError, match="observation must end in dimension 21"):
        policy.predict(np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="observation must end in dimension 21"):
        policy(np.zeros(7))


def test_explain_reports_choices_scores_and_timings(lib):
    policy = LeverComposedPolicy.from_library(
        lib,
        "PathGoldHazardLever",
        layout=(16, 0),
        config=ReuseConfig().with_options(
            gamma=0.0, parts="PG+HL", operator="sum", strategy="hybrid", k=3
        ),
    )
    info = policy.explain()
    assert info["chosen"]["parts"] == "PathGold+HazardLever" and info["chosen"]["gamma"] == 0.0
    assert len(info["combinations"]) == 3 * 3  # hybrid k=3: three candidates per part
    assert set(info["seconds"]) == {"retrieval", "scoring", "composition"}
    assert 0.0 <= info["coverage"]["start_rollout_coverage"] <= 1.0
    assert info["config"]["compose"]["operator"] == "sum"
    assert policy.summary().startswith("PathGoldHazardLever on 16x16 layout 0: return from")
    again = LeverComposedPolicy.from_library(
        lib, info["weights"], layout=(info["size"], info["layout_seed"]),
        config=ReuseConfig.from_dict(info["config"]),
    )  # fmt: skip
    assert again.explain()["chosen"] == info["chosen"]
    states = np.arange(0, policy.model.n_states, 3)
    np.testing.assert_array_equal(
        again.composed.actions_of(states), policy.composed.actions_of(states)
    )


def test_same_seed_same_policy_and_save_load(lib, tmp_path):
    a = LeverComposedPolicy.from_library(lib, "LeverGrid-8x8-PathGoldHazardLever-v0", layout=(8, 1))
    b = LeverComposedPolicy.from_library(lib, "LeverGrid-8x8-PathGoldHazardLever-v0", layout=(8, 1))
    assert a.info["chosen"] == b.info["chosen"]
    a.save(tmp_path / "policy")
    c = LeverComposedPolicy.load(tmp_path / "policy")
    states = np.arange(a.model.n_states)
    obs = a.model.space.observe(states)
    np.testing.assert_array_equal(a.predict(obs), c.predict(obs))
    np.testing.assert_array_equal(a.q_values(obs), c.q_values(obs))
    np.testing.assert_array_equal(a.covered_keys, c.covered_keys)
    assert c.info["chosen"] == a.info["chosen"]
    with pytest.raises(LibraryError, match="no readable composed policy"):
        LeverComposedPolicy.load(tmp_path / "missing")
    before = (tmp_path / "policy" / "policy.npz").read_bytes()
    with pytest.raises(LibraryError, match="overwrite=True"):
        b.save(tmp_path / "policy")
    assert (tmp_path / "policy" / "policy.npz").read_bytes() == before
    b.save(tmp_path / "policy", overwrite=True)


@pytest.mark.parametrize(
    ("objective", "kwargs", "error", "message"),
    [
        (
            "PathGould",
            {"size": 8, "layout_seed": 0},
            UnknownObjectiveError,
            "Did you mean 'PathGold'",
        ),
        ("PathGold", {"size": 32, "layout_seed": 0}, LibraryError, "has no 32x32 layout 0"),
        ("PathGold", {}, ConfigError, "say which layout"),
        (
            "PathGold",
            {"size": 8, "layout_seed": 0, "strategy": "greedy"},
            ConfigError,
            "strategy must be",
        ),
        ("PathGold", {"size": 8, "layout_seed": 0, "k": 0}, ConfigError, "k must be a positive"),
        (
            "PathGold",
            {"size": 8, "layout_seed": 0, "gamma": 0.5},
            LibraryError,
            "no policies with gamma 0.5",
        ),
        ("PathGold", {"size": 8, "layout_seed": 0, "parts": "PG"}, RetrievalError, "target itself"),
        (
            "PathGold",
            {"size": 8, "layout_seed": 0, "operator": "avg"},
            ConfigError,
            "operator must be",
        ),
        ("PathGold", {"size": 8, "layout_seed": True}, ConfigError, "layout_seed must be"),
        ("PathGold", {"size": 8.0, "layout_seed": 0}, ConfigError, "size must be a positive"),
        ("PathGold", {"size": 8, "layout_seed": 0, "gamma": "0.99"}, ConfigError, "gamma must"),
        ("PathGold", {"size": 8, "layout_seed": 0, "operator": ["gpi"]}, ConfigError, "operator"),
        ("PathGold", {"size": 8, "layout_seed": 0, "bogus": 1}, ConfigError, "unknown option"),
        (
            "PathGold",
            {"size": 8, "layout_seed": 0, "extraction": "sample", "n_samples": 10**6},
            ConfigError,
            "n_samples must be at most",
        ),
    ],
)
def test_bad_input(lib, objective, kwargs, error, message):
    kwargs = dict(kwargs)
    size, seed = kwargs.pop("size", None), kwargs.pop("layout_seed", None)
    layout = None if size is None and seed is None else (size, seed)
    with pytest.raises(error, match=message):
        LeverComposedPolicy.from_library(
            lib, objective, layout=layout, config=ReuseConfig().with_options(**kwargs)
        )


def test_empty_library_and_uncovered_objective(tmp_path, lib):
    with pytest.raises(LibraryError, match="no library at"):
        LeverComposedPolicy.from_library(tmp_path, "PathGold", layout=(8, 0))
    small = Library.load(DEFAULT)
    small.records = [r for r in small.records if r.objective in ("Path", "Gold")]
    with pytest.raises(RetrievalError, match="no building block for hazard"):
        LeverComposedPolicy.from_library(small, "PathGoldHazard", layout=(8, 0))


def test_corrupted_index_is_a_clear_error(tmp_path):
    copy = tmp_path / "lib"
    shutil.copytree(DEFAULT, copy)
    (copy / "index" / "8x8-s0" / "embeddings.npz").write_bytes(b"broken")
    with pytest.raises(LeverGymError, match="differs from the manifest's sha256"):
        LeverComposedPolicy.from_library(copy, "PathGold", layout=(8, 0))


@pytest.mark.parametrize("size", [8, 16])
def test_gpi_improvement_and_guard_never_lose_on_the_data(lib, size):
    env_id = f"LeverGrid-{size}x{size}-PathGoldHazardLever-v0"
    config = ReuseConfig().with_options(strategy="exhaustive", pool="layout", rounds=0)
    plain = LeverComposedPolicy.from_library(
        lib, env_id, layout=(size, 1), config=config.with_options(guard=False)
    )
    better = LeverComposedPolicy.from_library(
        lib, env_id, layout=(size, 1), config=config.with_options(rounds=5, guard=True)
    )
    info = better.explain()
    assert info["improvement"]["start_value_after"] >= info["improvement"]["start_value_before"]
    guard = info["guard"]
    assert guard["composed_score"] <= guard["best_member_score"] + 1e-9
    pool = info["chosen"]["policies"]
    assert len(pool) > len(set(p.split("/")[1].split("-")[0] for p in pool))  # several per block
    assert len(plain.explain()["chosen"]["policies"]) == len(pool)
    with pytest.raises(ConfigError, match="pool='layout' composes by successor features"):
        ReuseConfig().with_options(operator="sum", pool="layout")


def test_a_guard_that_picks_a_member_acts_as_that_member_everywhere(lib):
    policy = LeverComposedPolicy.from_library(
        lib,
        "PathGoldHazard",
        layout=(16, 0),
        config=ReuseConfig().with_options(
            parts="PG+H", operator="sum", strategy="targeted", rounds=0, guard=True
        ),
    )
    member = policy.explain()["guard"]["best_member"]
    assert member is not None  # this setup's composition loses to its PathGold member
    alone = lib.policy(lib[member])
    states = np.arange(0, policy.model.n_states, 5)
    obs = policy.model.space.observe(states)
    np.testing.assert_array_equal(policy.predict(obs), alone.predict(obs))
    composed = LeverComposedPolicy.from_library(
        lib,
        "PathGoldHazard",
        layout=(16, 0),
        config=ReuseConfig().with_options(
            parts="PG+H", operator="sum", strategy="targeted", rounds=0, guard=False
        ),
    )
    np.testing.assert_array_equal(policy.q_values(obs), composed.q_values(obs))  # values kept


def test_best_single_from_data_never_reads_the_model_or_the_env(lib, monkeypatch):
    import lever_gym.eval.baselines as baselines
    from lever_gym.envs.model import TabularModel
    from lever_gym.mdp.horizon import start_states

    records = lib.filter(size=8, layout_seed=0, gamma=0.99)
    model = lib.model(records[0])
    starts = start_states(model, True)
    target = baselines.Objective.named("PathGoldHazardLever")
    expected = baselines.best_single_data(lib, records, target, starts)[0]

    def refuse(*args, **kwargs):
        raise AssertionError("the exact model or the env was consulted")

    monkeypatch.setattr(TabularModel, "reward", refuse)
    monkeypatch.setattr(TabularModel, "_tables", property(refuse))
    monkeypatch.setattr(LeverGridEnv, "step", refuse)
    assert baselines.best_single_data(lib, records, target, starts)[0] == expected


def test_the_true_value_lies_within_the_reported_bounds(lib, rng):
    """On every library layout and objectives of every sign, the true return of the composed
    policy from the start lies in ``explain()["bounds"]`` (computed from the data alone)."""
    from lever_gym.eval.exact import exact_returns

    tight = 0
    for size, seed in lib.layouts():
        model = lib.model(lib.layout_records(size, seed)[0])
        for _ in range(4):
            w = rng.uniform(-2, 2, size=4)
            w[0] = abs(w[0])
            policy = LeverComposedPolicy.from_library(lib, tuple(w), layout=(size, seed))
            bounds = policy.explain()["bounds"]
            true = exact_returns(
                policy, model, policy.objective, np.array([model.start_state]), model.layout.n_cells
            )[0]
            assert bounds["lower"] - 1e-6 <= true <= bounds["upper"] + 1e-6
            tight += bounds["lower"] == bounds["upper"]
    assert tight >= 1  # some walks stay in the data: the value is known exactly there


def test_a_pickled_policy_is_as_small_as_its_saved_form(lib, tmp_path):
    import copy
    import pickle

    policy = LeverComposedPolicy.from_library(lib, "PathGoldHazard", layout=(8, 1))
    folder = policy.save(tmp_path / "saved")
    saved = sum(f.stat().st_size for f in folder.iterdir())
    raw = pickle.dumps(policy)
    assert len(raw) <= 2 * saved
    obs = policy.model.space.observe(np.arange(policy.model.n_states))
    for again in (pickle.loads(raw), copy.deepcopy(policy)):
        np.testing.assert_array_equal(again.q_values(obs), policy.q_values(obs))
        assert again.explain() == policy.explain()
