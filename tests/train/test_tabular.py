"""The compiled trainers against a plain trainer that steps the real env."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import ConfigError
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.solve import solve
from lever_gym.train.tabular import CHUNK, TrainConfig, chunk_draws, epsilons, train
from tests.conftest import TINY_LAYOUTS


def train_by_stepping(env: LeverGridEnv, config: TrainConfig) -> np.ndarray:
    """Textbook Q-learning / SARSA through ``env.reset`` and ``env.step`` only."""
    n_rows = env.model.n_states if config.key == "state" else env.layout.n_cells
    q = np.zeros((n_rows, 4))
    horizon = env.layout.n_cells
    starts = env.layout.start_cells() if config.random_start else (env.layout.start,)
    eps_all = epsilons(config)
    rng = np.random.default_rng(config.seed)

    def row(info):
        return info["state"] if config.key == "state" else info["cell"]

    def choose(k, u, eps):
        if u < eps:
            return min(int(u / eps * 4.0), 3)
        return int(np.argmax(q[k]))

    done = 0
    while done < config.episodes:
        n = min(CHUNK, config.episodes - done)
        idx, uniforms = chunk_draws(rng, n, horizon, len(starts), config.random_start)
        for e in range(n):
            eps = eps_all[done + e]
            _, info = env.reset(options={"start_cell": starts[idx[e]]})
            k = row(info)
            a = choose(k, uniforms[e, 0], eps)
            for t in range(horizon):
                _, r, term, _, info = env.step(a)
                k2 = row(info)
                if term:
                    q[k, a] += config.alpha * (r - q[k, a])
                    break
                a2 = choose(k2, uniforms[e, t + 1], eps)
                nxt = q[k2, a2] if config.algorithm == "sarsa" else q[k2].max()
                q[k, a] += config.alpha * (r + config.gamma * nxt - q[k, a])
                k, a = k2, a2
        done += n
    return q


@pytest.mark.parametrize("algorithm", ["q_learning", "sarsa"])
@pytest.mark.parametrize("key", ["state", "cell"])
@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("layout", ["corridor", "detour"])
def test_fast_trainer_equals_env_stepping(algorithm, key, random_start, layout):
    env = LeverGridEnv("PathGoldHazardLever", layout=TINY_LAYOUTS[layout])
    config = TrainConfig(
        algorithm=algorithm, gamma=0.9, episodes=300, key=key, random_start=random_start, seed=4
    )
    fast = train(env.model, env.objective, config).q
    slow = train_by_stepping(env, config)
    np.testing.assert_array_equal(fast, slow)
    assert np.count_nonzero(fast) > 10


def test_fast_trainer_equals_env_stepping_on_8x8_across_chunks():
    env = LeverGridEnv("PathGold", size=8, layout_seed=2)
    config = TrainConfig(gamma=0.99, episodes=CHUNK + 200, seed=1)
    np.testing.assert_array_equal(
        train(env.model, env.objective, config).q, train_by_stepping(env, config)
    )


def test_snapshots_and_determinism():
    env = LeverGridEnv("Path", size=8)
    config = TrainConfig(gamma=0.99, episodes=3000, snapshot_every=1000, seed=0)
    a, b = train(env.model, env.objective, config), train(env.model, env.objective, config)
    assert [s.episode for s in a.snapshots] == [1000, 2000, 3000]
    for x, y in zip(a.snapshots, b.snapshots, strict=True):
        np.testing.assert_array_equal(x.q, y.q)
        assert x.greedy_return == y.greedy_return
    assert a.steps == b.steps > 3000
    other = train(env.model, env.objective, TrainConfig(gamma=0.99, episodes=3000, seed=1))
    assert not np.array_equal(other.q, a.q)


def test_q_learning_reaches_the_optimum_on_a_small_grid():
    env = LeverGridEnv("PathGold", layout=TINY_LAYOUTS["corridor"])
    result = train(env.model, env.objective, TrainConfig(gamma=0.9, episodes=20_000, seed=0))
    m = env.model
    optimum = solve(env, 0.9)
    path = greedy_trajectory(m, optimum.policy, m.start_state, m.layout.n_cells)
    best = path.total(m, env.objective)
    assert result.snapshots[-1].greedy_return == pytest.approx(best)


def test_expert_is_the_exact_solver():
    env = LeverGridEnv("HazardLever", size=8)
    result = train(env.model, env.objective, TrainConfig(algorithm="expert", gamma=0.99))
    np.testing.assert_array_equal(result.q, solve(env, 0.99).q)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "dqn"}, "algorithm must be one of"),
        ({"key": "position"}, "key must be one of"),
        ({"gamma": 1.0}, r"gamma must be a number in \[0, 1\)"),
        ({"episodes": 0}, "episodes .* must be a positive integer"),
        ({"alpha": 0.0}, r"alpha must be a number in \(0, 1\]"),
        ({"epsilon_end": 0.0}, r"epsilon_end must be a number in \(0, 1\]"),
        ({"snapshot_every": -5}, "snapshot_every must be a positive integer"),
    ],
)
def test_bad_train_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)
