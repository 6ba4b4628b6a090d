"""Seeded evaluation of any policy in a LeverGrid env, normalised by exact references.

``evaluate`` runs the standard loop (``reset(seed=seed + i)``, act, step until terminated or
truncated) for ``n_episodes`` in an env id, an env or a vector env, and reports per-episode
returns, per-component returns, success and length, and a summary: mean return with a 95%
bootstrap interval over episodes, success rate, mean length, coverage (for a policy with
``covers``), and the normalised score: 0 is the expected return of uniformly random actions
and 1 the exact finite-horizon optimum (the best undiscounted return within the horizon),
both computed exactly from each episode's start state. No policy can score above 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
import lever_gym.components as reward_components
from lever_gym.envs.grid import LeverGridEnv, lever_env
from lever_gym.envs.layout import Layout
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.errors import ConfigError, LayoutError
from lever_gym.mdp.horizon import reference_values
from lever_gym.policy import Policy

CONFIDENCE = 0.95


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Per-episode outcomes, the exact references of their starts, and their summary."""

    returns: np.ndarray
    components: np.ndarray
    """(n, n_components) return per reward component."""
    success: np.ndarray
    lengths: np.ndarray
    coverage: np.ndarray | None
    """Per episode, the fraction of its state-action pairs in the policy's data."""
    ci: tuple[float, float]
    random_return: float
    """Expected return of uniformly random actions from the episodes' starts (nan: skipped)."""
    optimal_return: float
    """The exact finite-horizon optimum from the episodes' starts (nan: skipped)."""

    @property
    def mean_return(self) -> float:
        """Mean undiscounted return."""
        return float(self.returns.mean())

    @property
    def normalised_score(self) -> float:
        """``(mean - random) / (optimum - random)`` over the same starts."""
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
            if self.coverage is not None and np.isfinite(self.coverage).any()
            else float("nan"),
        }

    def __str__(self) -> str:
        s = self.summary()
        return (
            f"return {s['mean_return']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}], "
            f"success {s['success_rate']:.2f}, normalised {s['normalised_score']:.3f}, "
            f"length {s['mean_length']:.1f}, coverage {s['coverage']:.2f}"
        )


@dataclass(frozen=True, eq=False)
class _Episodes:
    returns: np.ndarray
    components: np.ndarray
    success: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    pairs: list[list[tuple[int, int]]]


def bootstrap_ci(values: np.ndarray, seed: int, resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(resamples, len(values)))
    means = values[idx].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def batch_actions(policy: Any, obs: np.ndarray) -> np.ndarray:
    """``policy.predict(obs)`` as int64 actions; a Stable-Baselines3 model's ``(actions,
    state)`` answer is taken as it comes (its ``predict`` is deterministic only when asked,
    so SB3 models are asked for their deterministic action)."""
    sb3 = type(policy).__module__.startswith("stable_baselines3")
    answer = policy.predict(obs, deterministic=True) if sb3 else policy.predict(obs)
    if isinstance(answer, tuple):
        answer = answer[0]
    return np.asarray(answer, dtype=np.int64)


def as_action_fn(policy: Policy | Callable[[np.ndarray], int]) -> Callable[[np.ndarray], int]:
    """A callable ``obs -> action`` for a callable policy or an object with ``predict``."""
    if callable(policy):
        return lambda obs: int(policy(obs))
    if hasattr(policy, "predict"):
        return lambda obs: int(batch_actions(policy, np.asarray(obs)[None])[0])
    raise ConfigError(
        f"policy must be callable (obs -> action) or have predict(obs_batch); got "
        f"{type(policy).__name__}."
    )


def _run_single(act: Callable, env: gym.Env, n: int, seed: int, horizon: int, record: bool):
    out = _Episodes(
        np.zeros(n), np.zeros((n, reward_components.count())), np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), [],
    )  # fmt: skip
    for i in range(n):
        obs, info = env.reset(seed=seed + i)
        out.starts[i] = info["state"]
        visited, done = [], False
        while not done:
            action = act(obs)
            if record:
                visited.append((info["state"], action))
            obs, reward, terminated, truncated, info = env.step(action)
            out.returns[i] += reward
            out.components[i] += info["reward_components"]
            out.lengths[i] += 1
            done = terminated or truncated or out.lengths[i] >= horizon
        out.success[i] = info["is_success"]
        out.pairs.append(visited)
    return out


def _run_vector(policy: Any, envs: gym.vector.VectorEnv, n: int, seed: int, horizon: int):
    k = envs.num_envs
    out = _Episodes(
        np.zeros(n), np.zeros((n, reward_components.count())), np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), [[] for _ in range(n)],
    )  # fmt: skip
    for first in range(0, n, k):
        ids = np.arange(first, min(first + k, n))
        seeds: Any = [seed + int(i) for i in ids] + [seed] * (k - len(ids))  # one per env
        obs, info = envs.reset(seed=seeds)
        out.starts[ids] = info["state"][: len(ids)]
        live = np.arange(k) < len(ids)
        while live.any():
            actions = batch_actions(policy, obs)
            for j in np.flatnonzero(live):
                out.pairs[ids[j]].append((int(info["state"][j]), int(actions[j])))
            obs, reward, terminated, truncated, info = envs.step(actions)
            for j in np.flatnonzero(live):
                out.returns[ids[j]] += reward[j]
                out.components[ids[j]] += info["reward_components"][j]
                out.lengths[ids[j]] += 1
                if terminated[j] or truncated[j] or out.lengths[ids[j]] >= horizon:
                    out.success[ids[j]] = info["is_success"][j]
                    live[j] = False
    return out


def evaluate(
    policy: Policy | Callable[[np.ndarray], int],
    env: str | gym.Env | gym.vector.VectorEnv,
    n_episodes: int = 100,
    seed: int = 0,
    *,
    num_envs: int = 1,
    reference: bool = True,
    **env_kwargs: Any,
) -> EvalResult:
    """Evaluate ``policy`` (callable or with ``predict``) on ``n_episodes`` seeded episodes.

    ``env``: a LeverGrid id (made with ``env_kwargs``, as a vector env of ``num_envs`` when
    ``num_envs > 1``, in ``TimeAwareObservation`` for a policy whose ``time_aware`` is true),
    an env (wrapped or not) or a vector env (stepped with
    ``policy.predict``); the same seeds give the same episodes in every form. Episodes end
    at the env's time limit (or the layout's ``N**2`` steps). ``reference=False`` skips the
    exact references (normalised score ``nan``).
    """
    n_episodes = checks.positive_int(n_episodes, "n_episodes")
    num_envs = checks.positive_int(num_envs, "num_envs")
    seed = checks.seed(seed)
    checks.boolean(reference, "reference")
    made = isinstance(env, str)
    time_aware = bool(getattr(policy, "time_aware", False))
    if isinstance(env, str):
        if time_aware and num_envs > 1:
            raise ConfigError(
                "a time-aware policy reads the elapsed steps, which a vector env made from an "
                "id does not carry; evaluate it with num_envs=1 (the env is then wrapped in "
                "TimeAwareObservation) or pass an env that carries them."
            )
        if num_envs > 1:
            env = gym.make_vec(env, num_envs=num_envs, **env_kwargs)
        else:
            single = gym.make(env, **env_kwargs)
            env = gym.wrappers.TimeAwareObservation(single) if time_aware else single
    elif env_kwargs:
        raise ConfigError("env_kwargs are only accepted with an env id, not an env instance.")
    record = hasattr(policy, "covers")
    try:
        check_layout(policy, env)
        if isinstance(env, gym.vector.VectorEnv):
            if not hasattr(policy, "predict"):
                raise ConfigError("a vector env needs a policy with predict(obs_batch).")
            base = _vector_base(env)
            horizon = _horizon(env, base)
            runs = _run_vector(policy, env, n_episodes, seed, horizon)
        else:
            base = lever_env(env)
            horizon = _horizon(env, base)
            runs = _run_single(as_action_fn(policy), env, n_episodes, seed, horizon, record)
    finally:
        if made:
            env.close()
    coverage = None
    covers = getattr(policy, "covers", None)
    if record and covers is not None:
        coverage = np.array([covers(*np.array(p).T).mean() if p else np.nan for p in runs.pairs])
    rand = opt = float("nan")
    if reference and isinstance(base, RandomLeverGridEnv):
        raise ConfigError(
            "exact references need one layout; randomised worlds change it every episode. "
            "Pass reference=False."
        )
    if reference:
        v_rand, v_opt = reference_values(base.model, base.objective, horizon)
        rand, opt = float(v_rand[runs.starts].mean()), float(v_opt[runs.starts].mean())
    return EvalResult(
        runs.returns, runs.components, runs.success, runs.lengths, coverage,
        bootstrap_ci(runs.returns, seed), rand, opt,
    )  # fmt: skip


def check_layout(policy: object, env: gym.Env | gym.vector.VectorEnv) -> None:
    """Raise ``LayoutError`` if ``policy`` was built for another layout than ``env`` plays.

    A tabular or composed policy holds the model of its layout (``policy.model``); it acts
    on observations of any layout of the same size without complaint, so call this once
    before a loop of your own (``evaluate`` does). Policies without a model (random, d3rlpy)
    pass. A randomised world (a new layout every reset) refuses every tabular policy.
    """
    layout = getattr(getattr(policy, "model", None), "layout", None)
    if not isinstance(layout, Layout):
        return
    base = _vector_base(env) if isinstance(env, gym.vector.VectorEnv) else lever_env(env)
    if isinstance(base, RandomLeverGridEnv):
        raise LayoutError(
            f"{type(policy).__name__} was built for one {layout.size}x{layout.size} layout; "
            "this env draws a new layout every reset (a randomised world). Evaluate it in an "
            "env of its own layout."
        )
    if base.layout != layout:
        raise LayoutError(
            f"{type(policy).__name__} was built for another layout than the env plays "
            f"({_describe(layout)} against {_describe(base.layout)}); its actions would be "
            "meaningless there. Use a policy built for the env's layout (e.g. from_library("
            "..., layout_seed=<the env's>)) or make the env on the policy's layout "
            "(layout=policy.model.layout.to_ascii())."
        )


def _describe(layout: Layout) -> str:
    n = layout.size
    return f"{n}x{n}, start {divmod(layout.start, n)}, exit {divmod(layout.exit, n)}"


def _horizon(env: Any, base: LeverGridEnv) -> int:
    steps = getattr(env, "max_episode_steps", None)
    if not steps:
        spec = getattr(env, "spec", None) or getattr(base, "spec", None)
        steps = getattr(spec, "max_episode_steps", None)
    return int(steps) if steps else base.layout.n_cells


def _vector_base(envs: gym.vector.VectorEnv) -> LeverGridEnv:
    """A LeverGrid env with the vector env's layout and objective (for the references)."""
    template = getattr(envs, "template", None)
    if isinstance(template, LeverGridEnv):
        return template
    sub = getattr(envs, "envs", None)
    if sub:
        return lever_env(sub[0])
    raise ConfigError(
        f"expected a LeverGrid vector env (gym.make_vec of a LeverGrid id); got "
        f"{type(envs).__name__}."
    )
