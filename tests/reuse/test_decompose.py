"""Decomposition of objectives into the library's building blocks."""

from __future__ import annotations

import pytest

from lever_gym.errors import RetrievalError
from lever_gym.library.format.config import BUILDING_BLOCKS
from lever_gym.objective import Objective
from lever_gym.reuse.decompose import SETUPS, setup_target, splits


def names(split):
    return [p.objective for p in split]


def test_every_exact_cover_fewest_parts_first():
    found = [names(s) for s in splits(Objective.named("PathGoldHazardLever"), BUILDING_BLOCKS)]
    assert found[0] == ["Lever", "PathGoldHazard"] and len(found) == 5
    assert ["Path", "Gold", "Hazard", "Lever"] in found
    assert all("PathGoldHazardLever" not in s for s in found)


def test_the_target_itself_is_never_a_part():
    found = [names(s) for s in splits(Objective.named("PathGoldHazard"), BUILDING_BLOCKS)]
    assert ["PathGoldHazard"] not in found and found[0] == ["Hazard", "PathGold"]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_paper_setups_parse(setup):
    assert tuple(p.name for p in Objective.parse_split(setup)) == SETUPS[setup]
    target = setup_target(setup)
    assert names(splits(target, BUILDING_BLOCKS, parts=setup)[0]) == list(SETUPS[setup])


def test_part_factors_follow_the_target_weights():
    split = splits(Objective((1.0, 0.5, 2.0, 2.0)), BUILDING_BLOCKS)[0]
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
        splits(Objective(tuple(weights)), blocks, parts=parts)
