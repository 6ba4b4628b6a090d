"""Baselines the composed policy is compared with, each timed and a ``Policy``.

Each is a function that returns a ``Baseline``; the benchmark names the methods it compares
in ``lever_gym.experiments.methods.METHODS`` (adding a baseline is a function here and a line
there).

* ``scratch``: tabular Q-learning trained on the composite objective itself, on lever_gym's
  compiled trainer, at each budget of the task (the paper's X1/X5/X10);
* ``offline_rl``: d3rlpy ``DiscreteCQL``, ``DiscreteBCQ`` or ``DiscreteBC`` trained on the
  union of the task's datasets relabelled to the composite objective (seeded, no log files);
* ``best_single``: the library policy whose recorded greedy components score best under
  the composite weights (recorded at build time by rolling it out in the exact model: an
  oracle choice, no environment step now);
* ``best_single_data``: the library policy whose successor features on its own data give
  the best value under the composite weights at the start(s) (data alone);
* ``bcvi``: batch-constrained value iteration, discounted planning in the empirical MDP of
  the task's datasets over recorded actions only (the tabular analogue of BCQ), one action
  per state (the stationary contract); ``bcvi_time_indexed``: backward induction over steps
  left on the same data, acting on the elapsed steps (the time-aware contract);
* ``forward_backward``: the zero-shot policy of a forward-backward representation fitted
  without rewards on the same data (``forward_backward_fit``, ``mdp.forward_backward``);
* ``random`` and ``optimum`` (exact value iteration).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

import lever_gym.checks as checks
import lever_gym.mdp.batch as batch
from lever_gym.data.convert import import_d3rlpy, to_d3rlpy
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import ConfigError
from lever_gym.library.format.config import PolicyRecord
from lever_gym.library.store import Library
from lever_gym.mdp.forward_backward import ForwardBackward
from lever_gym.objective import Objective
from lever_gym.reuse.pipeline import own_value
from lever_gym.train.policy import TabularPolicy, TimeIndexedPolicy
from lever_gym.train.tabular import TrainConfig, train

OFFLINE_ALGOS = ("cql", "bcq", "bc")
LEARNING_RATE = 1e-3
"""Adam's step for the d3rlpy learners (d3rlpy's DiscreteBC default). DiscreteCQL and
DiscreteBCQ default to their Atari settings (6.25e-5, target copied every 8,000 steps),
under which a fit of a few thousand steps never updates its target network."""
TARGET_UPDATES = 40
"""Target-network copies per fit (every ``n_steps // 40`` steps: 100 at 4,000)."""
BCQ_AUTHORS = MappingProxyType({"share_encoder": False, "beta": 0.01, "action_flexibility": 0.3})
"""DiscreteBCQ as its authors build it for vector observations (Fujimoto et al. 2019,
"Benchmarking Batch Deep RL Algorithms"): an imitator network of its own, logits penalised
by 1e-2 and the threshold 0.3. d3rlpy's defaults (imitator sharing the Q encoder, penalty
0.5) flatten the imitator until its mask lets 3.8 of 4 actions through where the data
records 2.5, and the learner falls to the unconstrained DoubleDQN's level: 0.40 on the
tuning cell where these settings reach 0.998."""


@dataclass(frozen=True, eq=False)
class Baseline:
    """A policy, the wall-clock seconds it took to obtain, and what it was built from."""

    name: str
    policy: Any
    seconds: float
    chosen: str = ""


class RandomPolicy:
    """Uniformly random actions from a seeded generator (a ``Policy``)."""

    def __init__(self, seed: int = 0) -> None:
        """Draw from ``np.random.default_rng(seed)``."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> int:
        """A random action."""
        return int(self.rng.integers(N_ACTIONS))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """A random action per observation of the batch."""
        return self.rng.integers(N_ACTIONS, size=len(obs)).astype(np.int64)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Zero for every action: random play prefers none."""
        return np.zeros((*np.shape(obs)[:-1], N_ACTIONS))


class D3rlpyPolicy:
    """A trained d3rlpy discrete algorithm as a ``Policy``."""

    def __init__(self, algo: Any) -> None:
        """Wrap ``algo`` (anything with d3rlpy's ``predict``)."""
        self.algo = algo

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations (exactly ``algo.predict``)."""
        return np.asarray(self.algo.predict(np.asarray(obs, dtype=np.float32)), dtype=np.int64)

    def __call__(self, obs: np.ndarray) -> int:
        """The action for one observation."""
        return int(self.predict(np.asarray(obs)[None])[0])

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The learner's value of each action (``algo.predict_value``; for behaviour cloning,
        which has none, d3rlpy raises), shape ``obs.shape[:-1] + (A,)``."""
        x = np.asarray(obs, dtype=np.float32)
        flat = x.reshape(-1, x.shape[-1])
        values = [
            self.algo.predict_value(flat, np.full(len(flat), a, dtype=np.int64))
            for a in range(N_ACTIONS)
        ]
        return np.stack(values, axis=-1).reshape((*x.shape[:-1], N_ACTIONS))


def scratch(
    model: TabularModel,
    objective: Objective,
    episodes: int,
    *,
    gamma: float = 0.99,
    algorithm: str = "q_learning",
    seed: int = 0,
) -> Baseline:
    """Train from scratch on the composite; ``seconds`` is the training wall-clock."""
    config = TrainConfig(algorithm=algorithm, gamma=gamma, episodes=episodes, seed=seed)
    result = train(model, objective, config)
    return Baseline(f"scratch-{episodes}", TabularPolicy(model, result.q), result.seconds)


def offline_rl(
    datasets: Sequence[Any],
    objective: Objective,
    algo: str = "cql",
    *,
    n_steps: int = 2000,
    batch_size: int = 64,
    gamma: float = 0.99,
    seed: int = 0,
    threads: int = 1,
) -> Baseline:
    """Train a d3rlpy learner on ``datasets`` relabelled to ``objective``, with at most
    ``threads`` torch threads (torch's default takes every core, which stalls on a busy
    machine). The Q-learners copy their target ``TARGET_UPDATES`` times per fit and every
    learner steps at ``LEARNING_RATE`` (d3rlpy's Atari defaults never update the target in
    a short fit: DiscreteCQL scored 0.754 with them and 0.998 with these on an 8x8 tuning
    layout at 4,000 steps); DiscreteBCQ takes ``BCQ_AUTHORS``. ``seconds`` covers the
    conversion and ``fit`` (d3rlpy's import is excluded)."""
    checks.one_of(algo, OFFLINE_ALGOS, "algo")
    checks.positive_int(n_steps, "n_steps")
    checks.positive_int(threads, "threads")
    import logging

    d3rlpy = import_d3rlpy()
    import structlog
    import torch
    from d3rlpy.logging import NoopAdapterFactory

    torch.set_num_threads(threads)

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    start = time.perf_counter()
    mdp = to_d3rlpy(datasets, objective)
    d3rlpy.seed(seed)
    q_learning = {
        "batch_size": batch_size, "gamma": gamma, "learning_rate": LEARNING_RATE,
        "target_update_interval": max(1, n_steps // TARGET_UPDATES),
    }  # fmt: skip
    configs = {
        "cql": lambda: d3rlpy.algos.DiscreteCQLConfig(**q_learning),
        "bcq": lambda: d3rlpy.algos.DiscreteBCQConfig(**q_learning, **BCQ_AUTHORS),
        "bc": lambda: d3rlpy.algos.DiscreteBCConfig(
            batch_size=batch_size, learning_rate=LEARNING_RATE
        ),
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
    library: Library, records: Sequence[PolicyRecord], objective: Objective
) -> tuple[PolicyRecord, Baseline]:
    """The record whose recorded greedy components give the best return under ``objective``."""
    start = time.perf_counter()
    if not records:
        raise ConfigError("best_single needs at least one library policy.")
    w = objective.vector
    best = max(records, key=lambda r: (float(np.dot(r.greedy_components, w)), r.id))
    policy = library.policy(best)
    return best, Baseline("best-single", policy, time.perf_counter() - start, best.id)


def best_single_data(
    library: Library, records: Sequence[PolicyRecord], objective: Objective, starts: np.ndarray
) -> tuple[PolicyRecord, Baseline]:
    """The record whose ψ on its own data gives the best value under ``objective`` from
    ``starts`` (records whose data miss a start rank last); no model or env is consulted."""
    start = time.perf_counter()
    if not records:
        raise ConfigError("best_single_data needs at least one library policy.")
    values = [own_value(library, r, objective, starts) for r in records]
    ranked = [(v if np.isfinite(v) else -np.inf, -i) for i, v in enumerate(values)]
    best = records[-max(ranked)[1]]
    policy = library.policy(best)
    return best, Baseline("best-single-data", policy, time.perf_counter() - start, best.id)


def _pool_data(library: Library, records: Sequence[PolicyRecord], model: TabularModel) -> Any:
    """The empirical model of the pairs ``records``' datasets took (from the layout's union)."""
    union = library.empirical(model.layout.size, records[0].layout_seed)
    keys = np.unique(np.concatenate([library.successor_features(r)[0] for r in records]))
    return union.subset(np.flatnonzero(np.isin(union.keys, keys)))


def bcvi(
    library: Library,
    records: Sequence[PolicyRecord],
    objective: Objective,
    model: TabularModel,
    gamma: float = 0.99,
) -> Baseline:
    """Batch-constrained value iteration for the stationary contract: discounted (``gamma``)
    value iteration in the empirical MDP of ``records``' datasets over recorded actions
    only, one action per state (``mdp.batch.bcvi_stationary``); in a state the data never
    records it acts ``batch.FALLBACK_ACTION``."""
    start = time.perf_counter()
    emp = _pool_data(library, records, model)
    actions = batch.full_table(
        emp.states(), batch.bcvi_stationary(emp, objective, gamma), model.n_states
    )
    table = np.eye(N_ACTIONS)[actions]
    return Baseline("bcvi", TabularPolicy(model, table), time.perf_counter() - start)


def bcvi_time_indexed(
    library: Library, records: Sequence[PolicyRecord], objective: Objective, model: TabularModel
) -> Baseline:
    """Batch-constrained backward induction for the time-aware contract: an action per steps
    left and recorded state over recorded actions only (``mdp.batch.bcvi_time_indexed``), a
    ``TimeIndexedPolicy`` acting on the elapsed steps."""
    start = time.perf_counter()
    emp = _pool_data(library, records, model)
    horizon = model.layout.n_cells
    actions = batch.bcvi_time_indexed(emp, objective, horizon)
    policy = TimeIndexedPolicy(model.space, emp.states(), actions, horizon, batch.FALLBACK_ACTION)
    return Baseline("bcvi (time-indexed)", policy, time.perf_counter() - start)


def forward_backward_fit(
    library: Library, records: Sequence[PolicyRecord], model: TabularModel, rank: int, seed: int = 0
) -> ForwardBackward:
    """The reward-free forward-backward fit (``mdp.forward_backward``) at ``rank`` on the
    pairs ``records``' datasets took, the data every other baseline of the cell sees."""
    return ForwardBackward.fit(_pool_data(library, records, model), rank, seed=seed)


def forward_backward(
    fitted: ForwardBackward, objective: Objective, model: TabularModel
) -> Baseline:
    """The zero-shot policy of a forward-backward representation fitted on a layout's data
    (``mdp.forward_backward``): embed ``objective`` and act by ``π_z`` (stationary), with
    ``batch.FALLBACK_ACTION`` in states the data never records. ``seconds`` is the zero-shot
    step alone; the reward-free fit is shared by every objective of the layout."""
    start = time.perf_counter()
    actions = batch.full_table(fitted.tables.states, fitted.actions(objective), model.n_states)
    policy = TabularPolicy(model, np.eye(N_ACTIONS)[actions])
    return Baseline(f"fb (rank {fitted.rank})", policy, time.perf_counter() - start)
