"""Behavioural embeddings of library policies and the embedding-to-return predictor.

A policy's embedding is the mean, over a fixed seeded set of canonical states of its layout,
of its successor features (``lever_gym.mdp.successor``) on the empirical model of its own
dataset: the first ``N_COMPONENTS`` entries estimate its value per reward component, the
rest describe where it goes (the π2vec part). Library policies and scored candidates use
the same ``EmbedConfig``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.successor import behaviour_probabilities, successor_features


@dataclass(frozen=True, kw_only=True)
class EmbedConfig:
    """How embeddings are computed (one configuration for library and candidates)."""

    gamma: float = 0.9
    canonical: int = 64
    """Canonical states per layout."""
    tol: float = 1e-8
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate."""
        checks.gamma(self.gamma, "embedding gamma")
        checks.positive_int(self.canonical, "canonical")
        checks.real(self.tol, "embedding tol", 0.0, 1.0, closed="right")
        checks.seed(self.seed, "embedding seed")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)


def canonical_states(emp: EmpiricalModel, config: EmbedConfig) -> np.ndarray:
    """A seeded, sorted sample of ``config.canonical`` states that the data visits."""
    states = emp.states()
    if len(states) <= config.canonical:
        return states
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(states, size=config.canonical, replace=False))


def embed(
    emp: EmpiricalModel,
    model: TabularModel,
    canonical: np.ndarray,
    config: EmbedConfig,
    probabilities: np.ndarray | None = None,
) -> np.ndarray:
    """The embedding (``(dim,)`` float64): mean ψ over the canonical states.

    ``probabilities`` defaults to the data's own behaviour (``behaviour_probabilities``).
    """
    probs = behaviour_probabilities(emp) if probabilities is None else probabilities
    psi = successor_features(emp, probs, model, canonical, config.gamma, config.tol)
    return psi.mean(axis=0)


@dataclass(frozen=True, eq=False)
class Predictor:
    """Ridge map from an embedding to a policy's return per component (then ``@ w``)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    """(dim + 1, N_COMPONENTS) on standardised embeddings, intercept last."""
    cv_mae: float
    """K-fold mean absolute error of the predicted own-objective return."""
    cv_nmae: float
    """``cv_mae`` divided by the mean absolute own-objective return."""

    def predict(self, embedding: np.ndarray, weights: np.ndarray) -> float:
        """Predicted undiscounted return under ``weights``."""
        x = np.append((embedding - self.mean) / self.scale, 1.0)
        return float((x @ self.coef) @ weights)


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    reg = alpha * np.eye(z.shape[1])
    reg[-1, -1] = 0.0
    coef = np.linalg.solve(z.T @ z + reg, z.T @ y)
    return mean, scale, coef


def fit_predictor(
    embeddings: np.ndarray,
    components: np.ndarray,
    own_weights: np.ndarray,
    *,
    alpha: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> Predictor:
    """Fit the predictor on library policies (greedy returns per component as labels)."""
    n = len(embeddings)
    if n < 2:
        raise ConfigError(f"the predictor needs at least 2 policies; got {n}.")
    own = np.sum(components * own_weights, axis=1)
    order = np.random.default_rng(seed).permutation(n)
    errors = np.zeros(n)
    for fold in np.array_split(order, min(folds, n)):
        train = np.setdiff1d(order, fold)
        mean, scale, coef = _ridge(embeddings[train], components[train], alpha)
        z = np.hstack([(embeddings[fold] - mean) / scale, np.ones((len(fold), 1))])
        errors[fold] = np.abs(np.sum((z @ coef) * own_weights[fold], axis=1) - own[fold])
    mean, scale, coef = _ridge(embeddings, components, alpha)
    mae = float(errors.mean())
    return Predictor(mean, scale, coef, mae, mae / max(float(np.abs(own).mean()), 1e-12))
