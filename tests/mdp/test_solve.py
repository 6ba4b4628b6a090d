"""The exact solver against brute force, and its optimal policies on every 8x8 id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import lever_gym
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import Layout
from lever_gym.errors import ConfigError
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.solve import solve
from lever_gym.objective import Objective
from tests.conftest import TINY_LAYOUTS


def brute_force(env: LeverGridEnv, gamma: float, depth: int) -> float:
    """Best discounted return over every action sequence of length <= depth (env.step only)."""
    best = -np.inf

    def search(d: int, total: float, discount: float) -> None:
        nonlocal best
        saved = env.state
        for a in range(4):
            env._state = saved
            _, r, term, _, _ = env.step(a)
            value = total + discount * r
            if term or d == 1:
                best = max(best, value)
            else:
                search(d - 1, value, discount * gamma)
        env._state = saved

    env.reset(seed=0)
    search(depth, 0.0, 1.0)
    return best


def episode_length(sol) -> int:
    """Steps of the greedy optimal episode from the start (capped at the horizon)."""
    m = sol.model
    s = m.start_state
    for t in range(1, m.layout.n_cells + 1):
        a = sol.policy[s]
        if m.terminated[s, a]:
            return t
        s = m.next_state[s, a]
    return m.layout.n_cells + 1


@pytest.mark.parametrize("gamma", [0.0, 0.9, 0.99])
@pytest.mark.parametrize("objective", ["Path", "PathGold", "HazardLever", "PathGoldHazardLever"])
@pytest.mark.parametrize(("name", "depth"), [("open", 6), ("detour", 7), ("corridor", 8)])
def test_solver_equals_brute_force(name, depth, objective, gamma):
    env = LeverGridEnv(objective, layout=TINY_LAYOUTS[name])
    sol = solve(env, gamma)
    model = sol.model
    if gamma > 0:  # the optimal episode must end within `depth` steps for an exact match
        assert episode_length(sol) <= depth
    assert sol.values[model.start_state] == pytest.approx(brute_force(env, gamma, depth), abs=1e-9)


def jacobi(model, objective, gamma: float) -> np.ndarray:
    """Plain value iteration over every state at once, to a change of at most 1e-12."""
    reward, cont = model.reward(objective), gamma * ~model.terminated
    q = reward.copy()
    while True:
        new = reward + cont * q.max(axis=1)[model.next_state]
        if np.max(np.abs(new - q)) <= 1e-12:
            return new
        q = new


@pytest.mark.parametrize("seed", range(6))
def test_layer_by_layer_sweeps_equal_plain_value_iteration(seed):
    """Sweeping each layer of the fields alone (in an order where each leads only to itself
    and to layers already swept) gives plain value iteration's values for weights of every
    sign, loops that pay forever included (within γ tol / (1 - γ)), and its exact bytes on
    every named objective, where plain value iteration reaches the exact fixed point."""
    from lever_gym.mdp.solve import value_iteration

    rng = np.random.default_rng(seed)
    env = LeverGridEnv("Path", layout=Layout.generate(8, seed).to_ascii())
    for weights in [(1.0, 1.0, 1.0, 1.0), tuple(rng.uniform(-2, 2, 4))]:
        objective = Objective(weights)
        for gamma in (0.9, 0.99):
            got, _ = value_iteration(env.model, objective, gamma)
            np.testing.assert_allclose(got, jacobi(env.model, objective, gamma), atol=1e-6)
    for name in lever_gym.objective_names():
        objective = Objective.named(name)
        named, _ = value_iteration(env.model, objective, 0.99)
        assert np.array_equal(named, jacobi(env.model, objective, 0.99)), name


def test_layers_in_a_cycle_are_swept_as_one_block():
    """``layer_blocks`` orders the layers so that each leads only to itself and to earlier
    ones, one block each; if the layers' transitions form a cycle, every layer is one block.
    Two cells x four layers (two field bits), state ``cell << 2 | layer``, two actions."""
    from lever_gym.mdp.solve import layer_blocks

    def table(moves: dict[int, tuple[int, int]]) -> np.ndarray:
        """Next states: layer ``l`` goes to layers ``moves[l]`` (the other cell if it stays)."""
        nxt = np.zeros((8, 2), dtype=np.int64)
        for state in range(8):
            cell, layer = divmod(state, 4)
            for a, to in enumerate(moves[layer]):
                nxt[state, a] = ((cell ^ 1) if to == layer else cell) * 4 + to
        return nxt

    never_ends = np.zeros((8, 2), dtype=bool)
    layers, starts = layer_blocks(
        2, table({0: (0, 0), 1: (0, 1), 2: (2, 2), 3: (1, 2)}), never_ends
    )
    at = {layer: i for i, layer in enumerate(layers.tolist())}
    assert sorted(at) == [0, 1, 2, 3] and starts.tolist() == [0, 1, 2, 3, 4]
    assert at[0] < at[1] < at[3] and at[2] < at[3]
    layers, starts = layer_blocks(
        2, table({0: (1, 0), 1: (0, 1), 2: (2, 2), 3: (1, 2)}), never_ends
    )
    assert layers.tolist() == [0, 1, 2, 3] and starts.tolist() == [0, 4]
    ended = never_ends.copy()
    ended[[0, 4], 0] = True  # the transition out of layer 0 ends the episode: no cycle
    assert len(layer_blocks(2, table({0: (1, 0), 1: (0, 1), 2: (2, 2), 3: (1, 2)}), ended)[1]) == 5


@pytest.mark.parametrize("objective", lever_gym.objective_names())
def test_optimal_policy_succeeds_on_every_8x8_id(objective):
    env_id = lever_gym.env_id(8, objective)
    sol = solve(env_id, 0.99)
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, info = env.step(sol(obs))
        total += r
        done = term or trunc
    assert info["is_success"]
    assert total == pytest.approx(lever_gym.optimal_return(env_id, 0.99))


def test_solution_predicts_batches():
    sol = solve("LeverGrid-8x8-PathGold-v0", 0.99)
    states = np.arange(0, sol.model.n_states, 7)
    np.testing.assert_array_equal(sol.predict(sol.model.space.observe(states)), sol.policy[states])


def test_gamma_zero_is_one_step_greedy():
    env = LeverGridEnv("PathGold", size=8)
    sol = solve(env, 0.0)
    np.testing.assert_allclose(sol.q, env.model.components @ env.weights)


def test_greedy_return_matches_the_env():
    env = LeverGridEnv("PathGoldHazard", size=8)
    sol = solve(env, 0.9)
    expect = greedy_trajectory(sol.model, sol.policy, sol.model.start_state, 64).total(
        sol.model, env.objective
    )
    obs, _ = env.reset(seed=0)
    total = 0.0
    for _ in range(64):
        obs, r, term, _, _ = env.step(sol(obs))
        total += r
        if term:
            break
    assert total == pytest.approx(expect, abs=1e-9)


@pytest.mark.parametrize("gamma", [1.0, -0.1])
def test_bad_gamma(gamma):
    with pytest.raises(ConfigError, match=r"gamma must be a number in \[0, 1\)"):
        solve("LeverGrid-8x8-Path-v0", gamma)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tol": float("nan")}, "tol must be"), ({"tol": 0.0}, "tol must be"),
     ({"max_iterations": -1}, "max_iterations must be"),
     ({"max_iterations": 2.5}, "max_iterations must be"),
     ({"max_iterations": 2**63}, "max_iterations must be")],
)  # fmt: skip
def test_bad_tolerance_or_sweep_limit(kwargs, message):
    from lever_gym.mdp.solve import value_iteration

    env = LeverGridEnv("Path", size=8)
    with pytest.raises(ConfigError, match=message):
        value_iteration(env.model, env.objective, 0.99, **kwargs)


@pytest.mark.slow
def test_a_64x64_layout_is_solved_and_its_optimum_reaches_the_exit():
    """The largest generated size: 2,097,152 states, solved layer by layer; the optimal
    policy ends at the exit, and its discounted return from the start is the start's value."""
    sol = solve("LeverGrid-64x64-PathGoldHazardLever-v0", 0.99)
    m = sol.model
    assert m.n_states == 2**21 and sol.iterations < 100
    path = greedy_trajectory(m, sol.policy, m.start_state, m.layout.n_cells)
    end = m.next_state[path.states[-1], path.actions[-1]]
    assert path.terminated and m.space.cell_of(end) == m.layout.exit
    rewards = m.reward(Objective.named("PathGoldHazardLever"))[path.states, path.actions]
    discounted = float(np.sum(rewards * 0.99 ** np.arange(len(rewards))))
    assert sol.values[m.start_state] == pytest.approx(discounted, abs=1e-6)


def test_solve_rejects_other_envs():
    with pytest.raises(ConfigError, match="expected a LeverGrid env or id"):
        solve(gym.make("CartPole-v1"))
