"""Tabular Q-learning and SARSA on a LeverGrid's tabular model, compiled with numba
(``lever_gym.train.kernels``, imported on first use).

The inner loop reads the env's own tables (next state, reward, termination), so a trained
Q-table is identical to what stepping the real env with the same random draws would give
(a test checks this). Random draws come in chunks of ``CHUNK`` episodes from
``np.random.default_rng(seed)``: per chunk, the start indices (with ``random_start``), then
one uniform per step that decides exploration and, when exploring, the action.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.envs.space import KEYS
from lever_gym.errors import ConfigError
from lever_gym.mdp.horizon import start_states
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.objective import Objective

ALGORITHMS = ("q_learning", "sarsa", "expert")
CHUNK = 1000
BUDGETS = {"X1": 10_000, "X5": 50_000, "X10": 100_000}
"""The paper's episode budgets."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How one library policy is trained."""

    algorithm: str = "q_learning"
    """``q_learning``, ``sarsa`` (textbook, on-policy next action) or ``expert`` (exact solver)."""
    gamma: float = 0.99
    episodes: int = 10_000
    """Episode budget (ignored by ``expert``)."""
    alpha: float = 0.1
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    """ε decays geometrically per episode from ``epsilon_start`` to this at the last episode."""
    snapshot_every: int | None = None
    """Keep a copy of Q every this many episodes (``None``: only the final one)."""
    key: str = "state"
    """``state`` (Markov state) or ``cell`` (position only, as in the paper)."""
    random_start: bool = True
    """Start episodes from a random floor cell (else the layout's start)."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate every field, naming the valid range."""
        checks.one_of(self.algorithm, ALGORITHMS, "algorithm")
        checks.one_of(self.key, KEYS, "key")
        checks.gamma(self.gamma)
        checks.positive_int(self.episodes, "episodes (the budget)")
        checks.real(self.alpha, "alpha", 0.0, 1.0, closed="right")
        checks.real(self.epsilon_end, "epsilon_end", 0.0, 1.0, closed="right")
        checks.real(self.epsilon_start, "epsilon_start", self.epsilon_end, 1.0)
        if self.snapshot_every is not None:
            checks.positive_int(self.snapshot_every, "snapshot_every")
        checks.boolean(self.random_start, "random_start")
        checks.seed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Q after ``episode`` training episodes."""

    episode: int
    q: np.ndarray
    seconds: float
    """Training wall-clock up to this snapshot (evaluation excluded)."""
    greedy_return: float
    """Undiscounted return of the greedy policy from the layout's start."""
    greedy_components: np.ndarray
    """Its return per component, in ``COMPONENTS`` order."""


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The outcome of ``train``: snapshots in episode order, the last being final."""

    config: TrainConfig
    snapshots: list[Snapshot] = field(default_factory=list)
    steps: int = 0

    @property
    def q(self) -> np.ndarray:
        """The final Q-table."""
        return self.snapshots[-1].q

    @property
    def seconds(self) -> float:
        """Total training wall-clock."""
        return self.snapshots[-1].seconds


def key_index(model: TabularModel, key: str) -> np.ndarray:
    """Row of the Q-table used for each state (``GridSpace.row_of``): the state itself, or
    its cell."""
    return model.space.row_of(np.arange(model.n_states, dtype=np.int64), key)


def epsilons(config: TrainConfig) -> np.ndarray:
    """Per-episode ε: geometric from ``epsilon_start`` to ``epsilon_end`` over the budget."""
    return np.geomspace(config.epsilon_start, config.epsilon_end, config.episodes)


def chunk_draws(
    rng: np.random.Generator, n_episodes: int, horizon: int, n_starts: int, random_start: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Start indices (into the start cells) and per-step uniforms for ``n_episodes``."""
    starts = (
        rng.integers(n_starts, size=n_episodes) if random_start else np.zeros(n_episodes, np.int64)
    )
    return starts, rng.random((n_episodes, horizon + 1))


def _evaluate(
    model: TabularModel, objective: Objective, q: np.ndarray, key: np.ndarray
) -> tuple[float, np.ndarray]:
    """Greedy return and per-component returns of ``q`` from the layout's start."""
    path = greedy_trajectory(
        model, np.argmax(q, axis=1)[key], model.start_state, model.layout.n_cells
    )
    return path.total(model, objective), path.components(model)


def train(model: TabularModel, objective: Objective, config: TrainConfig) -> TrainResult:
    """Train one tabular policy for ``objective`` on ``model``; see ``TrainConfig``."""
    reward = model.reward(objective)
    horizon = model.layout.n_cells
    key = key_index(model, config.key)
    if config.algorithm == "expert":
        if config.key == "cell":
            raise ConfigError("the expert is exact on Markov states; use key='state'.")
        from lever_gym.mdp.solve import value_iteration  # the env stack: only for the expert

        t0 = time.perf_counter()
        q, _ = value_iteration(model, objective, config.gamma)
        seconds = time.perf_counter() - t0
        ret, comps = _evaluate(model, objective, q, key)
        return TrainResult(config, [Snapshot(0, q, seconds, ret, comps)], 0)
    q = np.zeros((model.space.n_rows(config.key), N_ACTIONS))
    eps = epsilons(config)
    starts = start_states(model, config.random_start)
    rng = np.random.default_rng(config.seed)
    every = config.snapshot_every or config.episodes
    from lever_gym.train.kernels import learn

    args = (model.next_state, reward, model.terminated)
    # zero episodes: loads (or compiles) the kernel for these array types, outside the timing
    learn(q, key, *args, starts[:0], np.zeros((0, 1)), eps[:0], 0.1, 0.9, False, 0)
    snapshots: list[Snapshot] = []
    spent, steps, done = 0.0, 0, 0
    while done < config.episodes:
        n = min(CHUNK, config.episodes - done, every - done % every)
        idx, uniforms = chunk_draws(rng, n, horizon, len(starts), config.random_start)
        t0 = time.perf_counter()
        steps += learn(
            q, key, *args, starts[idx], uniforms, eps[done : done + n],
            config.alpha, config.gamma, config.algorithm == "sarsa", horizon,
        )  # fmt: skip
        spent += time.perf_counter() - t0
        done += n
        if done % every == 0 or done == config.episodes:
            ret, comps = _evaluate(model, objective, q, key)
            snapshots.append(Snapshot(done, q.copy(), spent, ret, comps))
    return TrainResult(config, snapshots, steps)
