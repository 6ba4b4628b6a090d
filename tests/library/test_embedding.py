"""Successor-feature embeddings and the return predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import ConfigError
from lever_gym.library.embedding import EmbedConfig, fit_predictor
from lever_gym.library.format.manifest import embedding_dim
from lever_gym.library.store import Library
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.successor import (
    behaviour_probabilities,
    n_cumulants,
    state_features,
    successor_features,
)
from tests.conftest import TINY_LAYOUTS

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


def test_successor_features_of_a_recorded_chain_match_the_closed_form():
    env = LeverGridEnv("Path", layout=TINY_LAYOUTS["open"])  # S.. / L$. / .HE
    model = env.model
    s0 = model.start_state
    s1 = int(model.next_state[s0, 0])
    s2 = int(model.next_state[s1, 0])  # two steps right, then the data ends
    states = np.array([s0, s1])
    actions = np.array([0, 0])
    nxt = np.array([s1, s2])
    comps = model.components[states, actions]
    emp = EmpiricalModel.from_arrays(states, actions, nxt, comps, np.zeros(2, bool), states[:1])
    psi = successor_features(emp, behaviour_probabilities(emp), model, states, 0.5, 1e-8)
    feats = state_features(model)
    first = np.concatenate([comps[0], feats[s0]])
    second = np.concatenate([comps[1], feats[s1]])
    np.testing.assert_allclose(psi[1], second, atol=1e-7)
    np.testing.assert_allclose(psi[0], first + 0.5 * second, atol=1e-7)
    assert psi.shape == (2, n_cumulants()) == (2, embedding_dim(4))


def test_behaviour_probabilities_follow_counts():
    s = np.array([3, 3, 3, 5])
    a = np.array([0, 0, 2, 1])
    emp = EmpiricalModel.from_arrays(s, a, s, np.zeros((4, 4)), np.zeros(4, bool), s[:1])
    np.testing.assert_allclose(behaviour_probabilities(emp), [2 / 3, 1 / 3, 1.0])


def test_library_predictor_is_fitted_with_a_cross_validated_error():
    lib = Library.load(DEFAULT)
    predictor = lib.predictor()
    assert 0 < predictor.cv_nmae < 1.0
    index = lib.layout_index(8, 0, "exact")
    record = lib[index.ids[0]]
    guess = predictor.predict(index.embeddings[0], np.array(record.weights))
    assert np.isfinite(guess)


def test_predictor_recovers_a_linear_map(rng):
    x = rng.normal(size=(60, 5))
    true = rng.normal(size=(5, 4))
    y = x @ true + 1.0
    w = np.tile([1.0, 1.0, 0.0, 0.0], (60, 1))
    p = fit_predictor(x, y, w, alpha=1e-6)
    assert p.cv_mae < 1e-3
    assert p.predict(x[0], np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(y[0, 0], abs=1e-4)


def test_embed_config_is_validated():
    with pytest.raises(ConfigError, match="embedding gamma"):
        EmbedConfig(gamma=1.0)
    with pytest.raises(ConfigError, match="at least 2 policies"):
        fit_predictor(np.zeros((1, 3)), np.zeros((1, 4)), np.zeros((1, 4)))
