"""Every policy type implements the Policy protocol, agrees with itself, and pickles."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lever_gym.errors import ObservationError
from lever_gym.eval.baselines import RandomPolicy
from lever_gym.library.store import Library
from lever_gym.mdp.solve import solve
from lever_gym.policy import Policy
from lever_gym.reuse.composed import LeverComposedPolicy

DEFAULT = Path(__file__).resolve().parents[1] / "datasets"


@pytest.fixture(scope="module")
def policies():
    lib = Library.load(DEFAULT)
    env_id = "LeverGrid-8x8-PathGoldHazard-v0"
    return {
        "tabular": lib.policy(lib.filter(size=8, layout_seed=0)[0]),
        "exact": solve(env_id, 0.99),
        "composed": LeverComposedPolicy.from_library(lib, env_id, layout=(8, 0)),
    }


@pytest.mark.parametrize("kind", ["tabular", "exact", "composed"])
def test_policy_protocol_pickle_and_copies(policies, kind):
    policy = policies[kind]
    assert isinstance(policy, Policy)
    model = policy.model
    obs = model.space.observe(np.arange(0, model.n_states, 7))
    batch = np.asarray(policy.predict(obs))
    assert [policy(o) for o in obs] == batch.tolist()
    for other in (pickle.loads(pickle.dumps(policy)), copy.deepcopy(policy)):
        np.testing.assert_array_equal(other.predict(obs), batch)


def test_random_policy_is_a_seeded_policy():
    a, b = RandomPolicy(3), RandomPolicy(3)
    assert isinstance(a, Policy)
    np.testing.assert_array_equal(a.predict(np.zeros((5, 21))), b.predict(np.zeros((5, 21))))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict(np.zeros((5, 21))), a.predict(np.zeros((5, 21))))


KINDS = ["tabular", "exact", "composed"]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_call_and_predict_agree_on_every_valid_observation(policies, kind, data):
    policy = policies[kind]
    model = policy.model
    states = data.draw(st.lists(st.integers(0, model.n_states - 1), min_size=1, max_size=8))
    obs = model.space.observe(np.array(states))
    batch = policy.predict(obs)
    assert [policy(o) for o in obs] == batch.tolist()
    assert [policy(o, validate=False) for o in obs] == batch.tolist()
    np.testing.assert_array_equal(policy.predict(obs, validate=False), batch)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_numbers_are_refused_or_read_alike(policies, kind, data):
    policy = policies[kind]
    d = policy.model.space.obs_dim
    values = st.sampled_from([0.0, 1.0, 0.6, -1.0, 2.0, 1e9, np.nan, np.inf])
    obs = np.array(data.draw(st.lists(values, min_size=d, max_size=d)), dtype=np.float32)
    np.testing.assert_array_equal(
        policy.predict(obs[None], validate=False), [policy(obs, validate=False)]
    )
    try:
        one = policy(obs)
    except ObservationError:
        for method in (policy.predict, getattr(policy, "q_values", policy.predict)):
            with pytest.raises(ObservationError):
                method(obs[None])
    else:
        assert policy.predict(obs[None]).tolist() == [one]


@pytest.mark.slow
def test_a_d3rlpy_policy_pickles_and_copies():
    from lever_gym.eval.baselines import offline_rl
    from lever_gym.objective import Objective

    lib = Library.load(DEFAULT)
    records = lib.filter(size=8, layout_seed=0, objective=["Path", "Gold"], gamma=0.99)[:2]
    trained = offline_rl([lib.dataset(r) for r in records], Objective.parse("path+gold"),
                         "cql", n_steps=20)  # fmt: skip
    policy = trained.policy
    assert isinstance(policy, Policy)
    obs = lib.model(records[0]).space.observe(np.arange(0, 200, 9))
    batch = np.asarray(policy.predict(obs))
    assert [policy(o) for o in obs] == batch.tolist()
    for other in (pickle.loads(pickle.dumps(policy)), copy.deepcopy(policy)):
        np.testing.assert_array_equal(other.predict(obs), batch)
