"""The vectorised tabular model against a plain, rule-by-rule reimplementation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lever_gym.components import TERMS
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.layout import MOVES, Layout
from lever_gym.envs.model import MAX_MODEL_BYTES_VAR, model_bytes, model_for
from lever_gym.errors import LayoutError, ObservationError
from tests.conftest import TINY_LAYOUTS


def reference_step(lay: Layout, cell: int, lever: int, mask: int, action: int, shaping: bool):
    """The documented rules, one transition at a time, with no shared code but BFS."""
    n = lay.size
    far = lay.n_cells
    sh = 1.0 if shaping else 0.0
    if cell in lay.walls or cell in lay.hazards or cell == lay.exit:
        return (cell, lever, mask), np.zeros(4), True
    r, c = divmod(cell, n)
    dr, dc = MOVES[action]
    rr, cc = r + dr, c + dc
    nxt = rr * n + cc if 0 <= rr < n and 0 <= cc < n and rr * n + cc not in lay.walls else cell
    d_exit = lay.distances([lay.exit])
    remaining = [g for i, g in enumerate(lay.gold) if mask >> i & 1]
    new_mask = mask
    picked = 0.0
    for i, g in enumerate(lay.gold):
        if nxt == g and mask >> i & 1:
            new_mask = mask & ~(1 << i)
            picked = TERMS.gold_pickup
    pulled = lever == 0 and nxt == lay.lever
    new_lever = 1 if pulled or lever else 0
    at_exit, at_hazard = nxt == lay.exit, nxt in lay.hazards
    toward_exit = float(d_exit[cell] - d_exit[nxt])

    def hazards_near(x):
        return sum(1 for y in lay.neighbours(x) if y in lay.hazards)

    path = sh * toward_exit + TERMS.path_step + (TERMS.path_exit if at_exit else 0.0)
    if remaining:
        d_gold = lay.distances(remaining)
        gold_shape = float(d_gold[cell] - d_gold[nxt])
    else:
        gold_shape = toward_exit
    left = bin(new_mask).count("1")
    gold_exit = TERMS.gold_exit_all if left == 0 else TERMS.gold_exit_missing * left / len(lay.gold)
    gold = picked + sh * gold_shape + TERMS.gold_step + (gold_exit if at_exit else 0.0)
    hazard = (
        (TERMS.hazard_hit if at_hazard else 0.0)
        + sh * (TERMS.hazard_proximity * (hazards_near(cell) - hazards_near(nxt)) + toward_exit)
        + TERMS.hazard_step
        + (TERMS.hazard_exit if at_exit else 0.0)
    )
    d_lever = lay.distances([lay.lever])
    lever_shape = float(d_lever[cell] - d_lever[nxt]) if lever == 0 else toward_exit
    lever_exit = TERMS.lever_exit_on if new_lever else TERMS.lever_exit_off
    lever_c = (
        (TERMS.lever_pickup if pulled else 0.0)
        + sh * lever_shape
        + TERMS.lever_step
        + (lever_exit if at_exit else 0.0)
    )
    assert far > 0
    return (nxt, new_lever, new_mask), np.array([path, gold, hazard, lever_c]), at_exit or at_hazard


@pytest.mark.parametrize("shaping", [True, False])
@pytest.mark.parametrize("name", sorted(TINY_LAYOUTS))
def test_model_equals_the_rules_on_every_state_and_action(name, shaping):
    lay = Layout.from_ascii(TINY_LAYOUTS[name])
    model = model_for(lay, shaping)
    for cell, lever, mask in itertools.product(
        range(lay.n_cells), (0, 1), range(1 << len(lay.gold))
    ):
        s = model.space.encode(cell, lever=lever, gold=mask)
        for a in range(4):
            (c2, l2, m2), comps, done = reference_step(lay, cell, lever, mask, a, shaping)
            assert model.next_state[s, a] == model.space.encode(c2, lever=l2, gold=m2)
            np.testing.assert_allclose(model.components[s, a], comps, atol=1e-12)
            assert model.terminated[s, a] == done


def test_model_equals_the_rules_on_a_generated_layout(rng):
    lay = Layout.generate(8, 5)
    model = model_for(lay, True)
    for s in rng.integers(0, model.n_states, size=400):
        fields = model.space.fields_of(s)
        cell, lever, mask = int(model.space.cell_of(s)), int(fields["lever"]), int(fields["gold"])
        a = int(rng.integers(4))
        (c2, l2, m2), comps, done = reference_step(lay, cell, lever, mask, a, True)
        assert model.next_state[s, a] == model.space.encode(c2, lever=l2, gold=m2)
        np.testing.assert_allclose(model.components[s, a], comps, atol=1e-12)
        assert model.terminated[s, a] == done


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda o: o[:-1], r"end in dimension 21 .*got shape \((1, )?20,?\)"),
        (lambda o: np.zeros_like(o), "exactly one row bit"),
        (lambda o: -o, r"entry 0 \(row 0\) is -0.0|entry \d+ .* is -1.0"),
        (lambda o: o * np.nan, "is nan; every entry must be 0 or 1"),
        (lambda o: np.where(np.arange(21) == 20, 0.6, o), r"entry 20 \(gold bit 3\) is 0.6"),
        (
            lambda o: np.where(np.arange(21) == 20, 1e9, o),
            r"entry 20 \(gold bit 3\) is 1000000000.0",
        ),
        (lambda o: o + np.eye(21, dtype=np.float32)[1], "exactly one row bit .*got 2 set"),
        (lambda o: o.astype(str), "must hold numbers"),
        (lambda o: o.astype(complex), "must hold numbers"),
    ],
)
def test_bad_observations_are_refused_by_every_reader(edit, message):
    model = model_for(Layout.generate(8, 0))
    obs = edit(model.space.observe(model.start_state))
    with pytest.raises(ObservationError, match=message):
        model.space.state_from_obs_one(obs)
    with pytest.raises(ObservationError, match=message):
        model.space.states_from_obs(np.asarray(obs)[None])


def test_observations_of_every_state_pass_and_unchecked_readers_agree(rng):
    model = model_for(Layout.generate(8, 1))
    obs = model.space.observe(np.arange(model.n_states))
    assert model.space.check_obs(obs) is obs
    np.testing.assert_array_equal(model.space.states_from_obs(obs), np.arange(model.n_states))
    noise = rng.normal(0.5, 2.0, size=(200, model.space.obs_dim)).astype(np.float32)
    batch = model.space.states_from_obs(noise, validate=False)
    assert batch.min() >= 0 and batch.max() < model.n_states
    assert [model.space.state_from_obs_one(o, validate=False) for o in noise] == batch.tolist()
    with pytest.raises(ObservationError, match="must be an array of numbers"):
        model.space.check_obs([[1, 0], [1]])


def test_the_size_guard_refuses_before_allocating(monkeypatch):
    rows = ["S.EL" + "." * 60] + ["$" * 12 + "." * 52] + ["." * 64] * 62
    big = Layout.from_ascii("\n".join(rows))
    assert model_bytes(big) > 20 * 2**30
    with pytest.raises(
        LayoutError,
        match=r"64x64 layout with 12 gold has 33,554,432 states.*21.2 GiB.*limit of 2.0 GiB",
    ):
        model_for(big)
    small = Layout.generate(16, 0)
    monkeypatch.setenv(MAX_MODEL_BYTES_VAR, str(model_bytes(small) - 1))
    with pytest.raises(LayoutError, match="above the limit of"):
        LeverGridEnv("Path", size=16, layout_seed=0, shaping=False)
    monkeypatch.setenv(MAX_MODEL_BYTES_VAR, "lots")
    with pytest.raises(LayoutError, match="must be a positive number of bytes; got 'lots'"):
        model_for(Layout.generate(8, 3))
