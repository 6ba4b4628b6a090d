"""Behaviour episodes: ε-greedy rollouts of a tabular policy on the exact model (numba,
``lever_gym.data.kernels``, imported on first use)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium.utils.seeding import np_random

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError
from lever_gym.mdp.empirical import EmpiricalModel, visit_counts
from lever_gym.mdp.horizon import start_states


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """How a policy's behaviour dataset is collected; episodes and ε set its coverage."""

    episodes: int = 20
    epsilon: float = 0.1
    """Probability of a uniformly random action at each step."""
    random_start: bool = True
    """Start each episode from a floor cell drawn from its reset seed (else the layout's start)."""
    compression: int = 4
    """Deflate level (0-9) of the dataset's larger arrays (0: uncompressed, written fastest)."""

    def __post_init__(self) -> None:
        """Validate the fields."""
        checks.positive_int(self.episodes, "dataset episodes")
        checks.real(self.epsilon, "dataset epsilon", 0.0, 1.0)
        checks.boolean(self.random_start, "dataset random_start")
        if not 0 <= checks.non_negative_int(self.compression, "dataset compression") <= 9:
            raise ConfigError(f"dataset compression must be 0 to 9; got {self.compression!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Episodes:
    """Episodes as state/action sequences: ``states[i]`` has one more entry than ``actions[i]``."""

    states: list[np.ndarray]
    actions: list[np.ndarray]
    terminated: list[bool]
    seeds: list[int]

    @property
    def n_transitions(self) -> int:
        """Total number of steps."""
        return sum(len(a) for a in self.actions)

    def empirical(self, model: TabularModel) -> EmpiricalModel:
        """The transitions of these episodes as an empirical model of ``model``."""
        states = np.concatenate([s[:-1] for s in self.states])
        actions = np.concatenate(self.actions)
        ended = [
            np.arange(len(a)) == len(a) - 1 if done else np.zeros(len(a), dtype=bool)
            for a, done in zip(self.actions, self.terminated, strict=True)
        ]
        return EmpiricalModel.from_arrays(
            states,
            actions,
            np.concatenate([s[1:] for s in self.states]),
            model.components[states, actions],
            np.concatenate(ended),
            np.array([s[0] for s in self.states], dtype=np.int64),
        )

    def support(self, n_states: int) -> np.ndarray:
        """(n_states, N_ACTIONS) int32 visit counts of each state-action pair."""
        states = np.concatenate([s[:-1] for s in self.states])
        return visit_counts(states, np.concatenate(self.actions), n_states)


def collect(
    model: TabularModel, q: np.ndarray, key: np.ndarray, config: DataConfig, seed: int
) -> Episodes:
    """Run ``config.episodes`` ε-greedy episodes of the Q-table ``q`` (rows ``key[state]``).

    Episode ``i`` resets with seed ``seeds[i]``; with ``random_start`` its start cell is the
    one ``LeverGridEnv.reset(seed=seeds[i])`` draws, so the env replays it exactly.
    """
    rng = np.random.default_rng(seed)
    n, horizon = config.episodes, model.layout.n_cells
    seeds = rng.integers(0, 2**31 - 1, size=n).tolist()
    options = start_states(model, config.random_start)
    picks = [
        int(np_random(s)[0].integers(len(options))) if config.random_start else 0 for s in seeds
    ]
    uniforms = rng.random((n, horizon))
    states = np.zeros((n, horizon + 1), dtype=np.int64)
    actions = np.zeros((n, horizon), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    ended = np.zeros(n, dtype=np.bool_)
    from lever_gym.data.kernels import behave

    behave(
        q, key, model.next_state, model.terminated, options[picks], uniforms, config.epsilon,
        horizon, states, actions, lengths, ended,
    )  # fmt: skip
    return Episodes(
        [states[i, : lengths[i] + 1].copy() for i in range(n)],
        [actions[i, : lengths[i]].copy() for i in range(n)],
        ended.tolist(),
        seeds,
    )
