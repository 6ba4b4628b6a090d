"""Offline heads: ψ by TD matches exact policy evaluation; μ recovers the recorded policy."""

from __future__ import annotations

import numpy as np

from lever_gym.envs.layout import Layout
from lever_gym.envs.model import model_for
from lever_gym.envs.views import observer
from lever_gym.train.heads import (
    HeadConfig,
    Transitions,
    exact_successor_features,
    fit_behaviour_head,
    fit_successor_head,
    successor_outputs,
    supported_by_behaviour,
)
from tests.conftest import TINY_LAYOUTS

PSI_MEAN_TOLERANCE = 0.01
"""Stated tolerance: mean |ψ − ψ_exact| at most 1% of the largest |ψ_exact| (and 5% at worst)."""


def every_pair(layout: Layout) -> tuple[Transitions, np.ndarray]:
    """One recorded step per (state, action) of ``layout``'s model, observed in grid mode."""
    model = model_for(layout, True)
    states, actions = (
        a.ravel() for a in np.meshgrid(np.arange(model.n_states), np.arange(4), indexing="ij")
    )
    see = observer(layout, "grid").observe
    nxt = model.next_state[states, actions]
    data = Transitions(
        obs=see(states),
        actions=actions,
        components=model.components[states, actions],
        next_obs=see(nxt),
        terminal=model.terminated[states, actions],
    )
    return data, nxt


def test_the_successor_head_matches_exact_policy_evaluation() -> None:
    layout = Layout.from_ascii(TINY_LAYOUTS["open"])
    model = model_for(layout, True)
    policy = np.random.default_rng(0).integers(0, 4, model.n_states)
    data, nxt = every_pair(layout)
    config = HeadConfig(steps=5000, hidden=(64, 64), gamma=0.9, seed=0)
    head = fit_successor_head(data, policy[nxt], config)
    psi = successor_outputs(head, observer(layout, "grid").observe(np.arange(model.n_states)), 4)
    exact = exact_successor_features(model, policy, 0.9)
    error, scale = np.abs(psi - exact), np.abs(exact).max()
    assert error.mean() <= PSI_MEAN_TOLERANCE * scale, (error.mean(), scale)
    assert error.max() <= 5 * PSI_MEAN_TOLERANCE * scale, (error.max(), scale)


def test_exact_successor_features_satisfy_the_bellman_equation() -> None:
    model = model_for(Layout.from_ascii(TINY_LAYOUTS["corridor"]), True)
    policy = np.random.default_rng(1).integers(0, 4, model.n_states)
    psi = exact_successor_features(model, policy, 0.95)
    onward = psi[np.arange(model.n_states), policy][model.next_state]
    again = model.components + 0.95 * (~model.terminated)[..., None] * onward
    assert np.allclose(psi, again, atol=1e-6)


def test_the_behaviour_head_recovers_a_deterministic_policy() -> None:
    layout = Layout.from_ascii(TINY_LAYOUTS["corridor"])
    model = model_for(layout, True)
    policy = np.random.default_rng(2).integers(0, 4, model.n_states)
    see = observer(layout, "grid").observe
    states = np.arange(model.n_states)
    data = Transitions(
        obs=see(states),
        actions=policy,
        components=model.components[states, policy],
        next_obs=see(model.next_state[states, policy]),
        terminal=model.terminated[states, policy],
    )
    head = fit_behaviour_head(data, HeadConfig(steps=1500, hidden=(64,), seed=0))
    assert np.array_equal(head(see(states)).argmax(axis=1), policy)
    supported = supported_by_behaviour(head, see(states), 0.3)
    assert supported[states, policy].all() and supported.sum(axis=1).mean() < 2
