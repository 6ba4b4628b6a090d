"""Composition operators and support handling: properties, and the gamma = 0 identity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import ConfigError
from lever_gym.reuse.composition import ComposeConfig, ComposedQ, compose_states
from lever_gym.reuse.members import Members
from lever_gym.reuse.operators import FAMILIES, OPERATORS, SUPPORT_MODES, family
from lever_gym.train.tabular import TrainConfig, train
from tests.conftest import TINY_LAYOUTS

values = st.floats(-100, 100, allow_nan=False, width=32)


@st.composite
def policies(draw, min_m=1, max_m=4):
    m = draw(st.integers(min_m, max_m))
    q = draw(arrays(np.float64, (m, 4), elements=values))
    counts = draw(arrays(np.int32, (m, 4), elements=st.integers(0, 3)))
    w = draw(arrays(np.float64, (m,), elements=st.floats(0.1, 3)))
    return q, counts, w


OPS = [op for op in OPERATORS if family(op) == "q"]
MODES = list(SUPPORT_MODES)


def compose_table(members, config, seed=0):
    """``(actions, values, allowed)`` of every state."""
    return ComposedQ(members, config, seed).all()


def compose_values(q, counts, weights=None, config=None):
    """Composed values and action of one state from its ``(m, A)`` Q-values and counts."""
    w = np.ones(len(q)) if weights is None else np.asarray(weights, dtype=np.float64)
    members = Members.of_arrays([row[None, :] for row in q], [row[None, :] for row in counts], w)
    actions, values, _ = compose_table(members, config or ComposeConfig(operator="sum"))
    return values[0], int(actions[0])


def test_every_registered_operator_and_mode_is_a_valid_config():
    for name in OPERATORS:
        assert family(name) in FAMILIES
        ComposeConfig(operator=name)
        for mode in MODES:
            if family(name) == "q" or mode == "exclude":
                ComposeConfig(operator=name, support_mode=mode)
            else:  # successor operators read the support only
                with pytest.raises(ConfigError, match="support_mode='exclude'"):
                    ComposeConfig(operator=name, support_mode=mode)


def test_gpi_takes_the_best_successor_value_on_the_support():
    q = np.zeros((2, 3, 4))
    counts = np.array([[[1, 1, 0, 0]] * 3, [[0, 1, 1, 0]] * 3])
    psi = np.full((2, 3, 4, 4), np.nan)  # ψ on the recorded pairs; w = (1, 0, 0, 0) reads ψ[0]
    psi[0, :, :2] = [[5.0, 0, 0, 0], [1.0, 0, 0, 0]]
    psi[1, :, 1:3] = [[2.0, 0, 0, 0], [9.0, 0, 0, 0]]
    members = Members.of_arrays(q, counts, np.ones(2), psi, (1.0, 0.0, 0.0, 0.0))
    actions, vals, _ = compose_table(members, ComposeConfig(operator="gpi"))
    np.testing.assert_array_equal(vals[0], [5.0, 2.0, 9.0, -np.inf])
    assert actions.tolist() == [2, 2, 2]


@settings(max_examples=60, deadline=None)
@given(q=arrays(np.float64, (1, 4), elements=values), op=st.sampled_from(OPS))
def test_one_policy_composes_to_itself(q, op):
    counts = np.ones((1, 4), dtype=np.int32)
    vals, action = compose_values(q, counts, config=ComposeConfig(operator=op))
    np.testing.assert_allclose(vals, q[0], rtol=1e-9, atol=1e-9)
    assert action == int(np.argmax(q[0]))


@settings(max_examples=80, deadline=None)
@given(p=policies(2), op=st.sampled_from(OPS), mode=st.sampled_from(MODES), seed=st.integers(0, 9))
def test_order_of_policies_does_not_matter(p, op, mode, seed):
    q, counts, w = p
    perm = np.random.default_rng(seed).permutation(len(q))
    cfg = ComposeConfig(operator=op, support_mode=mode)
    a_vals, a_act = compose_values(q, counts, w, cfg)
    b_vals, b_act = compose_values(q[perm], counts[perm], w[perm], cfg)
    np.testing.assert_allclose(a_vals, b_vals, rtol=1e-9, atol=1e-9)
    if len(set(np.round(a_vals, 6))) == 4:  # ties may resolve either way after rounding
        assert a_act == b_act


@settings(max_examples=80, deadline=None)
@given(p=policies(), op=st.sampled_from(["sum", "max", "min"]), c=st.floats(0.01, 100))
def test_scaling_every_weight_keeps_the_greedy_action(p, op, c):
    q, counts, w = p
    cfg = ComposeConfig(operator=op)
    a_vals, a = compose_values(q, counts, w, cfg)
    b_vals, b = compose_values(q, counts, w * c, cfg)
    finite = np.isfinite(a_vals)
    np.testing.assert_allclose(b_vals[finite], c * a_vals[finite], rtol=1e-9, atol=1e-9)
    if np.sum(a_vals == a_vals[a]) == 1:
        assert a == b


@settings(max_examples=60, deadline=None)
@given(
    q=arrays(np.float64, (1, 4), elements=values),
    n=st.integers(2, 4),
    counts=arrays(np.int32, (1, 4), elements=st.integers(0, 2)),
    mode=st.sampled_from(MODES),
)
def test_max_over_duplicates_is_the_single_policy(q, n, counts, mode):
    cfg = ComposeConfig(operator="max", support_mode=mode)
    single = compose_values(q, counts, config=cfg)
    dup = compose_values(np.repeat(q, n, axis=0), np.repeat(counts, n, axis=0), config=cfg)
    np.testing.assert_array_equal(single[0], dup[0])
    assert single[1] == dup[1]


@settings(max_examples=120, deadline=None)
@given(
    p=policies(),
    op=st.sampled_from(OPS),
    mode=st.sampled_from(MODES),
    extraction=st.sampled_from(["greedy", "sample"]),
)
def test_strict_mode_only_picks_supported_actions(p, op, mode, extraction):
    q, counts, w = p
    cfg = ComposeConfig(operator=op, support_mode=mode, restrict=True, extraction=extraction)
    _, action = compose_values(q, counts, w, cfg)
    union = counts.sum(axis=0) > 0
    if union.any():
        assert union[action]


def test_support_modes_and_fallbacks_by_hand():
    q = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    counts = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=np.int32)
    expect = {
        "exclude": [5.0, 5.0, 2.0, -np.inf],
        "zero": [5.0, 5.0, 2.0, 0.0],
        "pessimistic": [5.0, 5.0, 3.0, 3.0],  # policy 0's lowest supported Q is 1
        "raw": [5.0, 5.0, 5.0, 5.0],
    }
    for mode, want in expect.items():
        vals, _ = compose_values(q, counts, config=ComposeConfig(operator="sum", support_mode=mode))
        np.testing.assert_array_equal(vals, want)
    nothing = np.zeros((2, 4), dtype=np.int32)
    assert (
        compose_values(q, nothing, config=ComposeConfig(operator="sum", fallback="raw"))[1] == 0
    )  # raw sums tie
    q2 = np.array([[0.0, 0.0, 9.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    assert compose_values(q2, nothing, config=ComposeConfig(operator="sum", fallback="raw"))[1] == 2
    assert (
        compose_values(q2, nothing, config=ComposeConfig(operator="sum", fallback="first"))[1] == 0
    )
    # without restrict, an excluded action is still never chosen; zero mode may choose it
    q3 = np.array([[-5.0, -5.0, -5.0, -5.0]])
    c3 = np.array([[1, 1, 1, 0]], dtype=np.int32)
    assert (
        compose_values(
            q3, c3, config=ComposeConfig(operator="sum", support_mode="zero", restrict=False)
        )[1]
        == 3
    )
    assert (
        compose_values(
            q3, c3, config=ComposeConfig(operator="sum", support_mode="zero", restrict=True)
        )[1]
        == 0
    )


def test_sampling_extraction_is_seeded_and_approaches_the_argmax(rng):
    q = rng.normal(size=(3, 500, 4))
    counts = rng.integers(0, 3, size=(3, 500, 4)).astype(np.int32)
    comp = Members.of_arrays(q, counts, np.ones(3))
    greedy, _, _ = compose_table(comp, ComposeConfig(operator="sum"))
    one = compose_table(comp, ComposeConfig(operator="sum", extraction="sample", n_samples=1), 3)[0]
    again = compose_table(comp, ComposeConfig(operator="sum", extraction="sample", n_samples=1), 3)[
        0
    ]
    many = compose_table(comp, ComposeConfig(operator="sum", extraction="sample", n_samples=64), 3)[
        0
    ]
    np.testing.assert_array_equal(one, again)
    assert np.mean(many == greedy) > np.mean(one == greedy)
    assert np.mean(many == greedy) > 0.95


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", MODES)
def test_table_agrees_with_single_state_composition(rng, op, mode):
    q = rng.normal(size=(2, 40, 4))
    counts = rng.integers(0, 2, size=(2, 40, 4)).astype(np.int32)
    w = np.array([1.0, 0.5])
    cfg = ComposeConfig(operator=op, support_mode=mode if mode != "pessimistic" else "zero")
    actions, vals, allowed = compose_table(Members.of_arrays(q, counts, w), cfg)
    for s in range(40):
        one_vals, one_action = compose_values(q[:, s], counts[:, s], w, cfg)
        np.testing.assert_array_equal(vals[s], one_vals)
        assert actions[s] == one_action
        np.testing.assert_array_equal(allowed[s], counts[:, s].sum(axis=0) > 0)


def test_gamma_zero_identity_sum_of_primitives_is_the_scratch_policy():
    """Position-keyed, gamma = 0: Q_path + Q_hazard = Q of a scratch PathHazard policy."""
    layout = TINY_LAYOUTS["corridor"]
    cfg = {"gamma": 0.0, "episodes": 20_000, "key": "cell", "epsilon_end": 0.2, "seed": 1}
    tables = []
    for objective in ("Path", "Hazard", "PathHazard"):
        env = LeverGridEnv(objective, layout=layout)
        tables.append(train(env.model, env.objective, TrainConfig(**cfg)).q)
    path, hazard, scratch = tables
    counts = np.ones((env.layout.n_cells, 4), dtype=np.int32)
    comp = Members.of_arrays([path, hazard], [counts, counts], np.ones(2))
    composed, _, _ = compose_table(comp, ComposeConfig(operator="sum", support_mode="raw"))
    free = [c for c in range(env.layout.n_cells) if c in env.layout.start_cells()]
    np.testing.assert_allclose(path[free] + hazard[free], scratch[free], atol=1e-3)
    ordered = np.sort(scratch[free], axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > 1e-2  # exact reward ties may resolve either way
    assert clear.sum() >= len(free) // 2
    np.testing.assert_array_equal(composed[free][clear], np.argmax(scratch[free], axis=1)[clear])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operator": "mean"}, "operator must be one of"),
        ({"support_mode": "ignore"}, "support_mode must be one of"),
        ({"fallback": "random"}, "fallback must be one of"),
        ({"extraction": "beam"}, "extraction must be one of"),
        ({"n_samples": 0}, "n_samples must be a positive integer"),
        ({"temperature": 0.0}, r"temperature must be a number in \(0"),
    ],
)
def test_bad_compose_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ComposeConfig(**kwargs)


def test_members_must_match():
    with pytest.raises(ConfigError, match="members need m Q-tables"):
        Members.of_arrays([np.zeros((3, 4))], [np.zeros((2, 4))], np.ones(1))


def test_compose_states_is_the_table_on_a_subset(rng):
    q = rng.normal(size=(3, 30, 4))
    counts = rng.integers(0, 2, size=(3, 30, 4))
    cfg = ComposeConfig(operator="lse", extraction="sample")
    actions, values, allowed = compose_table(Members.of_arrays(q, counts, np.ones(3)), cfg, 2)
    subset = np.array([3, 7, 29])
    a, v, ok = compose_states(
        q[:, subset], counts[:, subset], np.ones(3), np.zeros(3), cfg, cfg.uniforms(2, subset)
    )
    np.testing.assert_array_equal(a, actions[subset])
    np.testing.assert_array_equal(v, values[subset])
    np.testing.assert_array_equal(ok, allowed[subset])


def test_uniforms_of_a_state_are_the_same_whatever_is_asked_with_it():
    cfg = ComposeConfig(operator="sum", extraction="sample", n_samples=3)
    every = np.random.default_rng(5).random((40, 3))
    np.testing.assert_array_equal(cfg.uniforms(5, np.array([39, 2, 17])), every[[39, 2, 17]])
    assert cfg.uniforms(5, np.arange(40)).tolist() == every.tolist()
