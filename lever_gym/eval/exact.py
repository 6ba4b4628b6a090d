"""Exact evaluation of deterministic policies: no sampled episodes, no episode noise.

LeverGrid is deterministic, so a deterministic policy's return from a start is one number;
the random-start protocol draws the start uniformly from the layout's floor cells, so its
expected return is the mean over those cells. ``exact_returns`` steps the tabular model
from every start in lockstep with ``policy.predict``; ``score`` sets the result between
the exact references of the same starts: uniform random play (0) and the finite-horizon
optimum (1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import TabularModel
from lever_gym.mdp.horizon import reference_values
from lever_gym.objective import Objective
from lever_gym.policy import Policy

MIN_SPAN = 10.0
"""Smallest optimum-minus-random gap (return units) for which a normalised score means
something; below it, report the regret only."""


@dataclass(frozen=True)
class Score:
    """A policy's exact mean return from a start distribution, and its references."""

    mean_return: float
    optimal_return: float
    random_return: float

    @property
    def span(self) -> float:
        """Optimum minus random: how much room the task leaves."""
        return self.optimal_return - self.random_return

    @property
    def normalised(self) -> float:
        """0 = random, 1 = the finite-horizon optimum; ``nan`` when the span is below
        ``MIN_SPAN``."""
        if self.span < MIN_SPAN:
            return float("nan")
        return (self.mean_return - self.random_return) / self.span

    @property
    def regret(self) -> float:
        """Optimum minus the policy's return, in return units."""
        return self.optimal_return - self.mean_return


def exact_returns(
    policy: Policy, model: TabularModel, objective: Objective, starts: np.ndarray, horizon: int
) -> np.ndarray:
    """Undiscounted return within ``horizon`` steps of ``policy`` from each start state; a
    policy with ``time_aware = True`` sees the elapsed steps as its observations' last entry."""
    reward = model.reward(objective)
    states = np.array(starts, dtype=np.int64)
    total = np.zeros(len(states))
    alive = np.ones(len(states), dtype=bool)
    time_aware = bool(getattr(policy, "time_aware", False))
    for t in range(checks.positive_int(horizon, "horizon")):
        live = np.flatnonzero(alive)
        if not len(live):
            break
        s = states[live]
        obs = model.space.observe(s)
        if time_aware:  # the elapsed steps, as TimeAwareObservation appends them
            obs = np.hstack([obs, np.full((len(s), 1), float(t), dtype=np.float32)])
        a = np.asarray(policy.predict(obs), dtype=np.int64)
        total[live] += reward[s, a]
        alive[live[model.terminated[s, a]]] = False
        states[live] = model.next_state[s, a]
    return total


def score(
    policy: Policy, model: TabularModel, objective: Objective, starts: np.ndarray, horizon: int
) -> Score:
    """The exact ``Score`` of ``policy`` over ``starts`` (uniformly weighted)."""
    v_rand, v_opt = reference_values(model, objective, horizon)
    returns = exact_returns(policy, model, objective, starts, horizon)
    return Score(float(returns.mean()), float(v_opt[starts].mean()), float(v_rand[starts].mean()))
