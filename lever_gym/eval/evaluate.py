"""Seeded evaluation of any policy in a LeverGrid env, with the statistics results need.

``evaluate`` runs the standard loop (``reset(seed=seed + i)``, act, step until terminated or
truncated) for ``n_episodes`` and reports per-episode returns, per-component returns,
success and length, and a summary: mean return with a 95% bootstrap confidence interval,
success rate, normalised score (0 = a uniform random policy, 1 = the exact optimum, both
run on the same seeded episodes), mean length, and, for a policy with ``covers`` (a
``LeverComposedPolicy``), the fraction of its visited state-action pairs in its datasets.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError
from lever_gym.mdp.solve import solve
from lever_gym.objective import N_COMPONENTS
from lever_gym.policy import Policy

CONFIDENCE = 0.95


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Per-episode outcomes and their summary."""

    returns: np.ndarray
    components: np.ndarray
    """(n, N_COMPONENTS) return per reward component."""
    success: np.ndarray
    lengths: np.ndarray
    coverage: np.ndarray | None
    """Per episode, the fraction of its state-action pairs in the policy's data."""
    ci: tuple[float, float]
    random_return: float
    optimal_return: float

    @property
    def mean_return(self) -> float:
        """Mean undiscounted return."""
        return float(self.returns.mean())

    @property
    def normalised_score(self) -> float:
        """``(mean - random) / (optimum - random)`` on the same episodes."""
        span = self.optimal_return - self.random_return
        return float((self.mean_return - self.random_return) / span) if span else float("nan")

    def summary(self) -> dict[str, float]:
        """The headline numbers, JSON-plain."""
        return {
            "episodes": len(self.returns),
            "mean_return": self.mean_return,
            "ci_low": self.ci[0],
            "ci_high": self.ci[1],
            "success_rate": float(self.success.mean()),
            "normalised_score": self.normalised_score,
            "mean_length": float(self.lengths.mean()),
            "coverage": float(np.nanmean(self.coverage))
            if self.coverage is not None
            else float("nan"),
        }

    def __str__(self) -> str:
        s = self.summary()
        return (
            f"return {s['mean_return']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}], "
            f"success {s['success_rate']:.2f}, normalised {s['normalised_score']:.3f}, "
            f"length {s['mean_length']:.1f}, coverage {s['coverage']:.2f}"
        )


def bootstrap_ci(values: np.ndarray, seed: int, resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[idx].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def as_action_fn(policy: Policy | Callable[[np.ndarray], int]) -> Callable[[np.ndarray], int]:
    """A callable ``obs -> action`` for a callable policy or an object with ``predict``."""
    if callable(policy):
        return lambda obs: int(policy(obs))
    if hasattr(policy, "predict"):
        return lambda obs: int(np.asarray(policy.predict(np.asarray(obs)[None]))[0])
    raise ConfigError(
        f"policy must be callable (obs -> action) or have predict(obs_batch); got "
        f"{type(policy).__name__}."
    )


def run_episodes(
    act: Callable[[np.ndarray], int],
    env_id: str,
    n_episodes: int,
    seed: int,
    env_kwargs: dict[str, Any],
    record_pairs: bool = False,
) -> tuple[np.ndarray, ...]:
    """Returns, components, success, lengths (and visited pairs) of seeded episodes."""
    env = gym.make(env_id, **env_kwargs)
    returns = np.zeros(n_episodes)
    comps = np.zeros((n_episodes, N_COMPONENTS))
    success = np.zeros(n_episodes, dtype=bool)
    lengths = np.zeros(n_episodes, dtype=np.int64)
    pairs: list[list[tuple[int, int]]] = []
    for i in range(n_episodes):
        obs, info = env.reset(seed=seed + i)
        visited = []
        done = False
        while not done:
            action = act(obs)
            if record_pairs:
                visited.append((info["state"], action))
            obs, reward, terminated, truncated, info = env.step(action)
            returns[i] += reward
            comps[i] += info["reward_components"]
            lengths[i] += 1
            done = terminated or truncated
        success[i] = info["is_success"]
        pairs.append(visited)
    env.close()
    return returns, comps, success, lengths, pairs


def run_vector_episodes(
    policy: Any, env_id: str, n_episodes: int, seed: int, num_envs: int, env_kwargs: dict[str, Any]
) -> tuple[np.ndarray, ...]:
    """The same episodes as ``run_episodes``, stepped ``num_envs`` at a time in a
    ``gym.make_vec`` env with ``policy.predict`` on observation batches."""
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)
    returns = np.zeros(n_episodes)
    comps = np.zeros((n_episodes, N_COMPONENTS))
    success = np.zeros(n_episodes, dtype=bool)
    lengths = np.zeros(n_episodes, dtype=np.int64)
    pairs: list[list[tuple[int, int]]] = [[] for _ in range(n_episodes)]
    for first in range(0, n_episodes, num_envs):
        ids = np.arange(first, min(first + num_envs, n_episodes))
        seeds = [seed + int(i) for i in ids] + [seed] * (num_envs - len(ids))
        obs, info = envs.reset(seed=seeds)
        live = np.zeros(num_envs, dtype=bool)
        live[: len(ids)] = True
        while live.any():
            actions = np.asarray(policy.predict(obs), dtype=np.int64)
            for j in np.flatnonzero(live):
                pairs[ids[j]].append((int(info["state"][j]), int(actions[j])))
            obs, reward, terminated, truncated, info = envs.step(actions)
            for j in np.flatnonzero(live):
                returns[ids[j]] += reward[j]
                comps[ids[j]] += info["reward_components"][j]
                lengths[ids[j]] += 1
                if terminated[j] or truncated[j]:
                    success[ids[j]] = info["is_success"][j]
                    live[j] = False
    envs.close()
    return returns, comps, success, lengths, pairs


@functools.lru_cache(maxsize=256)
def reference_returns(
    env_id: str, n_episodes: int, seed: int, kwargs_json: str
) -> tuple[float, float]:
    """Mean returns of a uniform random policy and of the exact optimum (γ = 0.99) on the
    seeded episodes of ``evaluate``."""
    env_kwargs = json.loads(kwargs_json)
    optimum = solve(env_id, 0.99, **env_kwargs)
    rng = np.random.default_rng(seed)
    random_returns = run_episodes(
        lambda obs: int(rng.integers(N_ACTIONS)), env_id, n_episodes, seed, env_kwargs
    )[0]
    optimal_returns = run_episodes(optimum, env_id, n_episodes, seed, env_kwargs)[0]
    return float(random_returns.mean()), float(optimal_returns.mean())


def evaluate(
    policy: Policy | Callable[[np.ndarray], int],
    env_id: str,
    n_episodes: int = 100,
    seed: int = 0,
    *,
    num_envs: int = 1,
    **env_kwargs: Any,
) -> EvalResult:
    """Evaluate ``policy`` (callable or with ``predict``) on ``n_episodes`` seeded episodes.

    ``num_envs > 1`` steps a ``gym.make_vec`` env with ``policy.predict`` (same episodes,
    same results). ``env_kwargs`` go to ``gym.make`` (``layout_seed``, ``random_start``...).
    """
    n_episodes = checks.positive_int(n_episodes, "n_episodes")
    num_envs = checks.positive_int(num_envs, "num_envs")
    seed = checks.seed(seed)
    record = hasattr(policy, "covers")
    if num_envs > 1:
        if not hasattr(policy, "predict"):
            raise ConfigError("num_envs > 1 needs a policy with predict(obs_batch).")
        returns, comps, success, lengths, pairs = run_vector_episodes(
            policy, env_id, n_episodes, seed, num_envs, env_kwargs
        )
    else:
        returns, comps, success, lengths, pairs = run_episodes(
            as_action_fn(policy), env_id, n_episodes, seed, env_kwargs, record
        )
    coverage = None
    if record:
        coverage = np.array([policy.covers(*np.array(p).T).mean() if p else np.nan for p in pairs])
    rand, opt = reference_returns(env_id, n_episodes, seed, json.dumps(env_kwargs, sort_keys=True))
    return EvalResult(
        returns, comps, success, lengths, coverage, bootstrap_ci(returns, seed), rand, opt
    )
