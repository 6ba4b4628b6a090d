"""Decomposition of objectives into the library's building blocks."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.decompose import SETUPS, decompose, decompositions, parse_parts
from lever_gym.errors import RetrievalError
from lever_gym.library import BUILDING_BLOCKS
from lever_gym.objectives import objective_weights


def names(split):
    return [p.objective for p in split]


def test_every_exact_cover_fewest_parts_first():
    splits = [
        names(s) for s in decompositions(objective_weights("PathGoldHazardLever"), BUILDING_BLOCKS)
    ]
    assert splits[0] == ["Lever", "PathGoldHazard"] and len(splits) == 5
    assert ["Path", "Gold", "Hazard", "Lever"] in splits
    assert all("PathGoldHazardLever" not in s for s in splits)


def test_the_target_itself_is_never_a_part():
    splits = [
        names(s) for s in decompositions(objective_weights("PathGoldHazard"), BUILDING_BLOCKS)
    ]
    assert ["PathGoldHazard"] not in splits and splits[0] == ["Hazard", "PathGold"]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_paper_setups_parse(setup):
    assert parse_parts(setup) == SETUPS[setup]
    target = np.sum([objective_weights(n) for n in SETUPS[setup]], axis=0)
    assert names(decompose(target, BUILDING_BLOCKS, parts=setup)) == list(SETUPS[setup])


def test_part_factors_follow_the_target_weights():
    split = decompose(np.array([1.0, 0.5, 2.0, 2.0]), BUILDING_BLOCKS)
    assert {(p.objective, p.weight) for p in split} == {
        ("Path", 1.0),
        ("Gold", 0.5),
        ("HazardLever", 2.0),
    }


@pytest.mark.parametrize(
    ("weights", "parts", "blocks", "message"),
    [
        ([1, 1, 1, 1], None, ("Path", "Gold"), "no building block for hazard, lever"),
        ([1, 1, 0, 0], "PG", BUILDING_BLOCKS, "it is the target itself"),
        ([1, 1, 1, 0], "P+G", BUILDING_BLOCKS, "must cover PathGoldHazard exactly"),
        ([1, 2, 1, 0], "PG+H", BUILDING_BLOCKS, "mixes components with different target weights"),
        ([1, 1, 0, 0], "P+X", BUILDING_BLOCKS, "cannot read part 'X'"),
    ],
)
def test_decomposition_errors_name_what_is_missing(weights, parts, blocks, message):
    with pytest.raises(RetrievalError, match=message):
        decompose(np.array(weights, dtype=float), blocks, parts=parts)
