"""Behaviour episodes of a network over randomised worlds, recorded from the native vector env.

``collect_worlds`` runs an ε-greedy ``Policy`` (any object with ``predict``) in
``LeverGridVectorEnv`` over ``Worlds`` and returns the episodes as ``EpisodeColumns``, ready
for ``minari_hdf5.create_dataset``: observations in the worlds' mode, and per row the infos
``state``, ``cell``, ``layout_seed``, ``reward_components`` and ``is_success`` (so any other
observation mode can be recomputed from ``state`` and ``layout_seed``). Episodes are kept in
the order they end (by step, then env), so the same seed gives the same bytes.
``transitions`` turns episodes into the steps the offline heads fit on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.data.minari_hdf5 import EpisodeColumns
from lever_gym.envs.model import N_ACTIONS
from lever_gym.objective import Objective
from lever_gym.train.dqn import Worlds
from lever_gym.train.heads import Transitions

INFO_KEYS = ("state", "cell", "layout_seed", "reward_components", "is_success")


class _Episode:
    """One env's episode in progress: rows of observations and infos, steps of the rest."""

    def __init__(self, obs: np.ndarray, info: dict[str, np.ndarray], i: int) -> None:
        self.obs = [obs[i]]
        self.infos = {k: [info[k][i]] for k in INFO_KEYS}
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.terms: list[bool] = []
        self.truncs: list[bool] = []

    def step(
        self, obs: np.ndarray, info: dict, i: int, a: int, r: float, te: bool, tr: bool
    ) -> None:
        self.obs.append(obs[i])
        for k in INFO_KEYS:
            self.infos[k].append(info[k][i])
        self.actions.append(a)
        self.rewards.append(r)
        self.terms.append(te)
        self.truncs.append(tr)


def collect_worlds(
    policy: Any,
    objective: Objective | str,
    worlds: Worlds,
    *,
    episodes: int,
    epsilon: float,
    seed: int,
    n_envs: int = 16,
) -> EpisodeColumns:
    """``episodes`` ε-greedy episodes of ``policy`` (module docstring)."""
    from lever_gym.envs.vector import LeverGridVectorEnv

    checks.positive_int(episodes, "episodes")
    checks.real(epsilon, "epsilon", 0.0, 1.0)
    objective = Objective.parse(objective)
    env = LeverGridVectorEnv(n_envs, weights=list(objective.weights), **worlds.env_kwargs())
    rng = np.random.default_rng(checks.seed(seed))
    obs, info = env.reset(seed=seed)
    running: list[_Episode | None] = [_Episode(obs, info, i) for i in range(n_envs)]
    done: list[_Episode] = []
    max_iters = episodes * env.max_episode_steps + 1
    for _ in range(max_iters):
        if len(done) >= episodes:
            break
        actions = np.asarray(policy.predict(obs), dtype=np.int64)
        wild = rng.random(n_envs) < epsilon
        actions = np.where(wild, rng.integers(0, N_ACTIONS, n_envs), actions)
        obs, reward, term, trunc, info = env.step(actions)
        for i in range(n_envs):
            ep = running[i]
            if ep is None:  # the step after an episode's end: a reset row
                running[i] = _Episode(obs, info, i)
                continue
            ep.step(obs, info, i, int(actions[i]), float(reward[i]), bool(term[i]), bool(trunc[i]))
            if term[i] or trunc[i]:
                done.append(ep)
                running[i] = None
    env.close()
    return _columns(done[:episodes])


def _columns(episodes: list[_Episode]) -> EpisodeColumns:
    return EpisodeColumns(
        lengths=np.array([len(e.actions) for e in episodes], dtype=np.int64),
        observations=np.concatenate([np.stack(e.obs) for e in episodes]).astype(np.float32),
        actions=np.concatenate([e.actions for e in episodes]).astype(np.int64),
        rewards=np.concatenate([e.rewards for e in episodes]).astype(np.float64),
        terminations=np.concatenate([e.terms for e in episodes]).astype(np.bool_),
        truncations=np.concatenate([e.truncs for e in episodes]).astype(np.bool_),
        infos={k: np.concatenate([np.asarray(e.infos[k]) for e in episodes]) for k in INFO_KEYS},
    )


def transitions(columns: EpisodeColumns) -> Transitions:
    """The steps of ``columns``: each row's observation, action, reward components (the
    info of the row after it), next observation and termination."""
    rows = np.concatenate([[0], np.cumsum(columns.lengths + 1)])
    first, last = rows[:-1], rows[1:] - 1
    before = np.delete(np.arange(rows[-1]), last)
    after = np.delete(np.arange(rows[-1]), first)
    obs = columns.observations
    return Transitions(
        obs=obs[before],
        actions=columns.actions,
        components=np.asarray(columns.infos["reward_components"])[after],
        next_obs=obs[after],
        terminal=columns.terminations,
    )
