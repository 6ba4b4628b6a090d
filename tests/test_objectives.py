"""Objective names, weight vectors and every accepted textual form."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.errors import UnknownObjectiveError
from lever_gym.objectives import (
    COMPONENTS,
    OBJECTIVE_NAMES,
    active_components,
    objective_name,
    objective_weights,
    parse_objective,
)


def test_fifteen_names_in_canonical_order():
    assert len(OBJECTIVE_NAMES) == 15 == len(set(OBJECTIVE_NAMES))
    assert OBJECTIVE_NAMES[:4] == ("Path", "Gold", "Hazard", "Lever")
    assert OBJECTIVE_NAMES[-1] == "PathGoldHazardLever"
    for name in OBJECTIVE_NAMES:
        assert objective_name(objective_weights(name)) == name


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("PathGoldHazard", [1, 1, 1, 0]),
        ("path+gold+hazard", [1, 1, 1, 0]),
        ("hazard-lever", [0, 0, 1, 1]),
        ("Gold, Lever", [0, 1, 0, 1]),
        ("LeverGrid-16x16-PathGold-v0", [1, 1, 0, 0]),
        ("lever_gym:LeverGrid-8x8-Lever-v0", [0, 0, 0, 1]),
        ("reach the exit, collect the gold and avoid hazards", [1, 1, 1, 0]),
        ("pull the lever before leaving", [1, 0, 0, 1]),
        ([1, 0.5, 0, 2], [1, 0.5, 0, 2]),
        (np.array([0, 0, 1.0, 0]), [0, 0, 1, 0]),
    ],
)
def test_parse_objective_accepts_every_form(spec, expected):
    np.testing.assert_array_equal(parse_objective(spec), expected)


def test_active_components():
    assert active_components([1, 0, 2, 0]) == ("path", "hazard")
    assert COMPONENTS == ("path", "gold", "hazard", "lever")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("PathGould", "Did you mean 'PathGold'"),
        ("LeverGrid-9x9-Path-v0", "is not a registered LeverGrid id"),
        ("make me a sandwich", "cannot read an objective"),
        ([1, 2], r"shape \(4,\)"),
        ([np.nan, 0, 0, 1], "finite"),
        ([0, 0, 0, 0], "all zero"),
        ("x" * 3, "cannot read an objective"),
    ],
)
def test_unknown_objectives_say_what_is_valid(spec, message):
    with pytest.raises(UnknownObjectiveError, match=message):
        parse_objective(spec)


def test_objective_weights_rejects_unknown_names():
    with pytest.raises(UnknownObjectiveError, match="expected one of Path, Gold"):
        objective_weights("Treasure")
