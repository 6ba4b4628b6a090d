"""Baselines the composed policy is compared with, each timed and usable by ``evaluate``.

* ``scratch``: tabular Q-learning (or SARSA) trained on the composite objective itself, on
  lever_gym's compiled trainer, at a budget (the paper's X1/X5/X10);
* ``offline_rl``: d3rlpy ``DiscreteCQL``, ``DiscreteBCQ`` or ``DiscreteBC`` trained on the
  union of the given library datasets relabelled to the composite objective (seeded, no
  log files written);
* ``best_single``: the library policy whose recorded greedy components score best under the
  composite weights (no environment step);
* ``random_policy`` and ``optimum`` (exact value iteration).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError
from lever_gym.library import Library, PolicyRecord
from lever_gym.policies import TabularPolicy
from lever_gym.solve import solve
from lever_gym.train import TrainConfig, train

OFFLINE_ALGOS = ("cql", "bcq", "bc")


@dataclass(frozen=True, eq=False)
class Baseline:
    """A policy and the wall-clock seconds it took to obtain."""

    name: str
    policy: Any
    seconds: float


class D3rlpyPolicy:
    """A trained d3rlpy discrete algorithm as a policy: ``policy(obs)`` and ``predict``."""

    def __init__(self, algo: Any) -> None:
        """Wrap ``algo`` (anything with d3rlpy's ``predict``)."""
        self.algo = algo

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations (exactly ``algo.predict``)."""
        return np.asarray(self.algo.predict(np.asarray(obs, dtype=np.float32)), dtype=np.int64)

    def __call__(self, obs: np.ndarray) -> int:
        """The action for one observation."""
        return int(self.predict(np.asarray(obs)[None])[0])


def scratch(
    model: TabularModel,
    weights: np.ndarray,
    episodes: int,
    *,
    gamma: float = 0.99,
    algorithm: str = "q_learning",
    seed: int = 0,
) -> Baseline:
    """Train from scratch on the composite; ``seconds`` is the training wall-clock."""
    config = TrainConfig(algorithm=algorithm, gamma=gamma, episodes=episodes, seed=seed)
    result = train(model, weights, config)
    return Baseline(f"scratch-{episodes}", TabularPolicy(model, result.q), result.seconds)


def offline_rl(
    datasets: Sequence[Any],
    weights: np.ndarray,
    algo: str = "cql",
    *,
    n_steps: int = 2000,
    batch_size: int = 64,
    gamma: float = 0.99,
    seed: int = 0,
) -> Baseline:
    """Train a d3rlpy learner on ``datasets`` relabelled to ``weights``.

    ``seconds`` covers the conversion and ``fit`` (d3rlpy's import is excluded).
    """
    if algo not in OFFLINE_ALGOS:
        raise ConfigError(f"algo must be one of {OFFLINE_ALGOS}; got {algo!r}.")
    if n_steps < 1:
        raise ConfigError(f"n_steps must be positive; got {n_steps!r}.")
    import logging

    import d3rlpy
    import structlog
    from d3rlpy.logging import NoopAdapterFactory

    from lever_gym.data import to_d3rlpy

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    start = time.perf_counter()
    mdp = to_d3rlpy(datasets, weights)
    d3rlpy.seed(seed)
    configs = {
        "cql": lambda: d3rlpy.algos.DiscreteCQLConfig(batch_size=batch_size, gamma=gamma),
        "bcq": lambda: d3rlpy.algos.DiscreteBCQConfig(batch_size=batch_size, gamma=gamma),
        "bc": lambda: d3rlpy.algos.DiscreteBCConfig(batch_size=batch_size),
    }
    learner = configs[algo]().create(device="cpu:0")
    learner.fit(
        mdp,
        n_steps=n_steps,
        n_steps_per_epoch=n_steps,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
    )
    return Baseline(f"d3rlpy-{algo}", D3rlpyPolicy(learner), time.perf_counter() - start)


def best_single(
    library: Library, records: Sequence[PolicyRecord], weights: np.ndarray
) -> tuple[PolicyRecord, Baseline]:
    """The record whose recorded greedy components give the best return under ``weights``."""
    start = time.perf_counter()
    if not records:
        raise ConfigError("best_single needs at least one library policy.")
    best = max(records, key=lambda r: (float(np.dot(r.greedy_components, weights)), r.id))
    policy = library.policy(best)
    return best, Baseline("best-single", policy, time.perf_counter() - start)


def random_policy(seed: int = 0) -> Baseline:
    """Uniformly random actions from a seeded generator."""
    rng = np.random.default_rng(seed)
    return Baseline("random", lambda obs: int(rng.integers(4)), 0.0)


def optimum(model_env: Any, gamma: float = 0.99) -> Baseline:
    """The exact optimum by value iteration (``seconds``: the solve)."""
    start = time.perf_counter()
    sol = solve(model_env, gamma)
    return Baseline("optimum", sol, time.perf_counter() - start)
