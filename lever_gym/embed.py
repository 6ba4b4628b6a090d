"""Behavioural embeddings (successor features from a policy's own data) and the predictor.

A policy's embedding is the mean, over a fixed seeded set of canonical states of its layout,
of its successor features ψ(s) = E[Σ_t γ^t φ(s_t, a_t)] on the empirical model of its own
dataset (a transition the data never shows ends the sum). The cumulants φ are the four reward
components followed by ``STATE_FEATURES`` state features, so ``ψ[:4] @ w`` estimates the
policy's value under objective ``w`` and the rest describes where it goes (the π2vec part).
Library policies and scored candidates use the same ``EmbedConfig``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lever_gym.empirical import EmpiricalModel
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError

STATE_FEATURES = (
    "row",
    "col",
    "lever",
    "gold_left",
    "exit_distance",
    "lever_distance",
    "gold_distance",
    "hazard_neighbours",
    "on_hazard",
)


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
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"embedding gamma must be in [0, 1); got {self.gamma!r}.")
        if self.canonical < 1:
            raise ConfigError(f"canonical must be a positive count; got {self.canonical!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)

    @property
    def dim(self) -> int:
        """Embedding length: 4 reward components plus the state features."""
        return 4 + len(STATE_FEATURES)


@functools.lru_cache(maxsize=8)
def state_features(model: TabularModel) -> np.ndarray:
    """(n_states, len(STATE_FEATURES)) float64 features in [0, 1] of every state."""
    lay = model.layout
    n = lay.size
    cell, lever, mask = model.decode(np.arange(model.n_states))
    scale = 2.0 * n
    d_exit = np.minimum(lay.distances([lay.exit]), scale) / scale
    d_lever = np.minimum(lay.distances([lay.lever]), scale) / scale
    gold_left = np.array([bin(m).count("1") for m in range(1 << model.n_gold)], dtype=np.float64)
    per_gold = [np.minimum(lay.distances([g]), scale) / scale for g in lay.gold]
    nearest = np.zeros((1 << model.n_gold, lay.n_cells))
    for m in range(1, 1 << model.n_gold):
        nearest[m] = np.min([per_gold[i] for i in range(model.n_gold) if m >> i & 1], axis=0)
    hazard = np.zeros(lay.n_cells)
    hazard[list(lay.hazards)] = 1.0
    near = np.array([sum(hazard[x] for x in lay.neighbours(c)) for c in range(lay.n_cells)]) / 4
    return np.stack(
        [
            (cell // n) / max(n - 1, 1),
            (cell % n) / max(n - 1, 1),
            lever.astype(np.float64),
            gold_left[mask] / max(model.n_gold, 1),
            d_exit[cell],
            d_lever[cell],
            nearest[mask, cell],
            near[cell],
            hazard[cell],
        ],
        axis=1,
    )


def canonical_states(emp: EmpiricalModel, config: EmbedConfig) -> np.ndarray:
    """A seeded, sorted sample of ``config.canonical`` states that the data visits."""
    states = emp.states()
    if len(states) <= config.canonical:
        return states
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(states, size=config.canonical, replace=False))


def behaviour_probabilities(emp: EmpiricalModel) -> np.ndarray:
    """Per row, the empirical probability of its action in its state (the data's policy)."""
    states = emp.state_of_rows()
    _, inverse = np.unique(states, return_inverse=True)
    totals = np.bincount(inverse, weights=emp.counts)
    return emp.counts / totals[inverse]


def successor_features(
    emp: EmpiricalModel,
    probabilities: np.ndarray,
    model: TabularModel,
    states: np.ndarray,
    config: EmbedConfig,
) -> np.ndarray:
    """ψ (``(len(states), dim)``) of the policy that takes row ``r`` with ``probabilities[r]``.

    Rows with zero probability are unused; a next state with no recorded row contributes 0
    (the data ends there). Solved by iterating the Bellman equation to ``config.tol``.
    """
    feats = state_features(model)
    own = emp.state_of_rows()
    uniq, row_state = np.unique(own, return_inverse=True)
    nxt = np.searchsorted(uniq, emp.next_state)
    nxt = np.minimum(nxt, len(uniq) - 1)
    known = (uniq[nxt] == emp.next_state) & ~emp.terminated
    cumulant = np.concatenate([emp.components, feats[own]], axis=1)
    psi = np.zeros((len(uniq), config.dim))
    bound = max(float(np.abs(cumulant).max(initial=0.0)) / (1 - config.gamma), config.tol)
    sweeps = 1
    if config.gamma > 0:  # the error after k sweeps is at most bound * gamma**k
        sweeps = max(1, int(np.ceil(np.log(config.tol / bound) / np.log(config.gamma))) + 1)
    from scipy.sparse import csr_matrix

    rows = np.arange(len(own))
    weighted = csr_matrix((probabilities, (row_state, rows)), shape=(len(uniq), len(own)))
    to_next = csr_matrix((known.astype(np.float64), (rows, nxt)), shape=(len(own), len(uniq)))
    reward = weighted @ cumulant  # ψ = Σ_rows p (φ + γ ψ[next]) as sparse products
    step = (weighted @ to_next) * config.gamma
    for _ in range(sweeps):
        psi = reward + step @ psi
    out = np.zeros((len(states), config.dim))
    idx = np.minimum(np.searchsorted(uniq, states), len(uniq) - 1)
    hit = uniq[idx] == states
    out[hit] = psi[idx[hit]]
    return out


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
    return successor_features(emp, probs, model, canonical, config).mean(axis=0)


@dataclass(frozen=True, eq=False)
class Predictor:
    """Ridge map from an embedding to a policy's return per component (then ``@ w``)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    """(dim + 1, 4) on standardised embeddings, intercept last."""
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
