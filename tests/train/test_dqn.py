"""Online DQN on the native vector env: it learns, and the same seed gives the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import model_for
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError
from lever_gym.mdp.horizon import policy_values, reference_values
from lever_gym.objective import Objective
from lever_gym.train.dqn import DQNConfig, Worlds, train_dqn

ONE_LAYOUT = Worlds(size=8, layout_seeds=(0, 1), obs_mode="view", view_size=3)
SMALL = DQNConfig(
    env_steps=8000,
    n_envs=8,
    hidden=(32,),
    learning_starts=200,
    buffer_size=5000,
    target_every=100,
    gradient_steps=1,
    worlds=ONE_LAYOUT,
)


def normalised(policy: object, layout: Layout, objective: str) -> float:
    model, target = model_for(layout, True), Objective.parse(objective)
    acts = policy.predict(observer(layout, "view", 3).observe(np.arange(model.n_states)))  # type: ignore[attr-defined]
    v = policy_values(model, target, acts, 64)
    low, high = reference_values(model, target, 64)
    s = model.start_state
    return float((v[s] - low[s]) / (high[s] - low[s]))


def test_dqn_solves_one_small_world() -> None:
    trained = train_dqn("Path", SMALL)
    assert normalised(trained.policy, Layout.generate(8, 0), "Path") >= 0.99
    assert trained.env_steps == 8000 and trained.updates > 0 and len(trained.curve) == 10


def test_the_same_seed_trains_the_same_network() -> None:
    config = DQNConfig(**{**SMALL.__dict__, "env_steps": 1000})
    a, b = train_dqn("PathGold", config), train_dqn("PathGold", config)
    c = train_dqn("PathGold", DQNConfig(**{**config.__dict__, "seed": 1}))
    assert all(np.array_equal(a.policy.arrays[k], b.policy.arrays[k]) for k in a.policy.arrays)
    assert not np.array_equal(a.policy.arrays["layer0.weight"], c.policy.arrays["layer0.weight"])


def test_the_policy_acts_on_one_observation_or_a_batch() -> None:
    trained = train_dqn("Path", DQNConfig(**{**SMALL.__dict__, "env_steps": 400}))
    obs = observer(Layout.generate(8, 0), "view", 3).observe(np.arange(10))
    assert trained.policy.predict(obs).shape == (10,)
    assert trained.policy(obs[0]) == trained.policy.predict(obs[:1])[0]
    assert trained.policy.q_values(obs).shape == (10, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"env_steps": 0}, "env_steps"),
        ({"hidden": (2**30,)}, "hidden width"),
        ({"epsilon_end": 1.5}, "epsilon_end"),
        ({"gamma": 1.5}, "gamma"),
    ],
)
def test_bad_settings_are_refused_before_any_work(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DQNConfig(**kwargs)
