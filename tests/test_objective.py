"""Objective: names, weight vectors, every accepted form, and strict parsing."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lever_gym.errors import UnknownObjectiveError
from lever_gym.objective import (
    COMPONENTS,
    N_COMPONENTS,
    OBJECTIVE_NAMES,
    Objective,
    env_id,
    weighted,
    weighted_one,
)


def test_named_objectives_in_canonical_order():
    assert len(OBJECTIVE_NAMES) == 2**N_COMPONENTS - 1 == len(set(OBJECTIVE_NAMES))
    assert OBJECTIVE_NAMES[:4] == ("Path", "Gold", "Hazard", "Lever")
    assert OBJECTIVE_NAMES[-1] == "PathGoldHazardLever"
    for name in OBJECTIVE_NAMES:
        objective = Objective.named(name)
        assert objective.name == name == str(objective)
        assert Objective.parse(objective.env_id(8)) == objective
        assert objective.is_unit


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("PathGoldHazard", [1, 1, 1, 0]),
        ("path+gold+hazard", [1, 1, 1, 0]),
        ("hazard-lever", [0, 0, 1, 1]),
        ("Gold, Lever", [0, 1, 0, 1]),
        ("paths + hazards", [1, 0, 1, 0]),
        ("LeverGrid-16x16-PathGold-v0", [1, 1, 0, 0]),
        ("lever_gym:LeverGrid-8x8-Lever-v0", [0, 0, 0, 1]),
        ("LeverGrid-16x16-Detour-PathLever-v0", [1, 0, 0, 1]),
        ("reach the exit, collect the gold and avoid hazards", [1, 1, 1, 0]),
        ("pull the lever before leaving", [1, 0, 0, 1]),
        ("treasure", [0, 1, 0, 0]),
        ([1, 0.5, 0, 2], [1, 0.5, 0, 2]),
        (np.array([0, 0, 1.0, 0]), [0, 0, 1, 0]),
    ],
)
def test_parse_accepts_every_form(spec, expected):
    np.testing.assert_array_equal(Objective.parse(spec).vector, expected)


def test_parse_reads_an_env_and_passes_an_objective_through():
    env = gym.make("LeverGrid-8x8-PathGold-v0", weights=[1, 2, 0, 0])
    objective = Objective.parse(env)
    assert objective.weights == (1.0, 2.0, 0.0, 0.0) and objective.name == "PathGold"
    assert Objective.parse(objective) is objective
    assert not objective.is_unit and str(objective).startswith("(path=1")


def test_active_components_letters_and_sum():
    objective = Objective((1, 0, 2, 0))
    assert objective.active == ("path", "hazard") and objective.letters == "PH"
    assert COMPONENTS == ("path", "gold", "hazard", "lever")
    total = Objective.named("Path") + Objective.named("Gold")
    assert total == Objective.named("PathGold")
    assert [p.name for p in Objective.parse_split("PG+HL")] == ["PathGold", "HazardLever"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("PathGould", "Did you mean 'PathGold'"),
        ("path+gold+hazrd", "unknown component 'hazrd'.*Did you mean 'hazard'"),
        ("Path+Gold+Hazzard+Lever", "unknown component 'hazzard'"),
        ("collect gold and avoid hazrds", "did you mean 'hazard'"),
        ("don't pull the lever", "negation"),
        ("reach the exit but never the lever", "negation"),
        ("LeverGrid-9x9-Path-v0", "is not a registered LeverGrid id"),
        ("make me a sandwich", "cannot read an objective"),
        ([1, 2], r"shape \(4,\)"),
        ([np.nan, 0, 0, 1], "finite"),
        ([1e308, 0, 0, 1], "finite"),
        ([0, 0, 0, 0], "all zero"),
        (["1", "0", "0", "0"], "numbers"),
        ("x" * 3, "cannot read an objective"),
    ],
)
def test_unknown_objectives_say_what_is_valid(spec, message):
    with pytest.raises(UnknownObjectiveError, match=message):
        Objective.parse(spec)


def test_named_rejects_unknown_names():
    with pytest.raises(UnknownObjectiveError, match="expected one of Path, Gold"):
        Objective.named("Treasure")


def test_env_ids_read_back():
    assert env_id(16, "PathGold") == "LeverGrid-16x16-PathGold-v0"
    assert env_id(16, "Lever", variant="Detour") == "LeverGrid-16x16-Detour-Lever-v0"


@given(
    st.lists(st.floats(-50, 50), min_size=4, max_size=4),
    st.lists(st.floats(-5, 5), min_size=4, max_size=4),
)
def test_weighted_sums_components_in_order(components, weights):
    c = np.array(components)
    expect = c[0] * weights[0] + c[1] * weights[1] + c[2] * weights[2] + c[3] * weights[3]
    assert weighted(c, weights) == expect


@given(
    st.lists(st.floats(-50, 50), min_size=4, max_size=4),
    st.lists(st.floats(-5, 5), min_size=4, max_size=4),
)
def test_weighted_one_gives_the_same_bits_in_plain_floats(components, weights):
    c = np.array(components)
    one = weighted_one(c.tolist(), weights)
    assert type(one) is float
    assert np.float64(one).tobytes() == np.float64(weighted(c, weights)).tobytes()
