"""``GridSpace``: the one encoding of states and observations."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.envs.layout import Layout
from lever_gym.envs.space import GridSpace
from lever_gym.errors import ObservationError


@pytest.mark.parametrize("size", [8, 16])
def test_encoding_round_trips_and_keeps_the_paper_layout(size):
    lay = Layout.generate(size, 3)
    space = GridSpace.of(lay)
    g = len(lay.gold)
    assert [f.name for f in space.fields] == ["lever", "gold"] and space.cell_shift == 1 + g
    assert space.n_states == lay.n_cells * 2 << g and space.obs_dim == 2 * size + 1 + g
    rng = np.random.default_rng(0)
    cell, lever, mask = (
        rng.integers(lay.n_cells, size=50),
        rng.integers(2, size=50),
        rng.integers(1 << g, size=50),
    )
    states = space.encode(cell, lever=lever, gold=mask)
    np.testing.assert_array_equal(states, (cell * 2 + lever) * (1 << g) + mask)
    np.testing.assert_array_equal(space.cell_of(states), cell)
    np.testing.assert_array_equal(space.field(states, "gold"), mask)
    np.testing.assert_array_equal(space.row_of(states, "cell"), cell)
    assert space.start(lay.start) == space.encode(lay.start, lever=0, gold=(1 << g) - 1)
    obs = space.observe(states)
    np.testing.assert_array_equal(space.states_from_obs(obs), states)
    assert [space.state_from_obs_one(o) for o in obs] == states.tolist()
    for s, o in zip(states.tolist(), obs, strict=True):
        np.testing.assert_array_equal(space.observe_one(s), o)
    assert obs[0, 2 * size] == lever[0]  # the lever flag, then the gold bits, lowest first
    np.testing.assert_array_equal(obs[0, 2 * size + 1 :], (mask[0] >> np.arange(g)) & 1)


def test_an_unknown_field_is_named():
    with pytest.raises(ObservationError, match="no state field 'key'"):
        GridSpace.of(Layout.generate(8, 0)).field(0, "key")
