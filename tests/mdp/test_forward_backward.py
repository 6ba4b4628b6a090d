"""The forward-backward comparator: exact at full rank (the measure, the plan), a fit error
that falls with rank, the same bytes from the same seed, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import lever_gym.mdp.forward_backward as fb
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import model_for
from lever_gym.errors import ConfigError
from lever_gym.mdp.batch import bcvi_stationary, full_table
from lever_gym.mdp.forward_backward import ForwardBackward, behaviour, measure
from lever_gym.objective import Objective
from tests.mdp.test_batch import CORRIDOR, HAZARD, STALL, TWO_ROUTES, reachable, recorded, walk

SIGNED = [(1, 0, 0, 0), (1, 1, -1, 0), (0.5, -1, 0, 2), (1, 0.3, -2, 0.5)]
"""Goal-reaching, gold against hazard, stalling pays (a negative gold weight), a hazard bonus."""


def fitted(layout: str, rank: int, seed: int = 0) -> tuple:
    model = model_for(Layout.from_ascii(layout))
    emp = recorded(model, reachable(model))
    return model, emp, ForwardBackward.fit(emp, rank, seed=seed)


@pytest.mark.parametrize("layout", [CORRIDOR, HAZARD])
def test_full_rank_forward_backward_is_the_behaviour_measure(layout):
    _, emp, full = fitted(layout, 10_000)
    assert full.rank == len(emp.keys) and full.fit_error == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(full.backward.T @ (full.density[:, None] * full.backward),
                               np.eye(full.rank), atol=1e-8)  # fmt: skip
    mu = behaviour(full.tables)
    rebuilt = full.forward(mu) @ (full.backward.T * full.density)  # M B B^T D = M
    np.testing.assert_allclose(rebuilt, measure(full.tables, mu, full.gamma), atol=1e-7)


@pytest.mark.parametrize("layout", [CORRIDOR, TWO_ROUTES, STALL, HAZARD])
@pytest.mark.parametrize("w", SIGNED)
def test_full_rank_plan_is_batch_constrained_discounted_planning(layout, w):
    model, emp, full = fitted(layout, 10_000)
    objective = Objective(w)
    assert full.projection_error(objective) == pytest.approx(0.0, abs=1e-9)
    states, horizon = emp.states(), model.layout.n_cells
    ours = full_table(states, full.actions(objective), model.n_states)
    theirs = full_table(states, bcvi_stationary(emp, objective, full.gamma), model.n_states)
    assert walk(model, ours, w, horizon) == pytest.approx(walk(model, theirs, w, horizon))


def test_fit_error_falls_with_rank_to_zero():
    errors = [fitted(HAZARD, rank)[2].fit_error for rank in (2, 8, 32, 108)]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0.1
    assert errors[-1] == pytest.approx(0.0, abs=1e-6)


def test_iterative_fit_matches_the_dense_one_and_repeats_its_bytes(monkeypatch):
    _, _, dense = fitted(HAZARD, 6)
    monkeypatch.setattr(fb, "DENSE_ROWS", 0)  # ARPACK from here on
    _, _, first = fitted(HAZARD, 6, seed=3)
    _, _, again = fitted(HAZARD, 6, seed=3)
    np.testing.assert_allclose(first.singular, dense.singular, rtol=1e-8)
    assert first.fit_error == pytest.approx(dense.fit_error, abs=1e-8)
    assert first.backward.tobytes() == again.backward.tobytes()
    objective = Objective((1, 1, -1, 0))
    np.testing.assert_allclose(first.projected(objective), dense.projected(objective), atol=1e-6)


def test_bad_rank_or_no_data_is_refused():
    model = model_for(Layout.from_ascii(CORRIDOR))
    emp = recorded(model, reachable(model))
    for rank in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="rank"):
            ForwardBackward.fit(emp, rank)
    empty = recorded(model, np.zeros_like(reachable(model)))
    with pytest.raises(ConfigError, match="recorded transitions"):
        ForwardBackward.fit(empty, 4)
