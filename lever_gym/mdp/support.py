"""Planning on the support: finite-horizon values, successor features and policy iteration
over the transitions an empirical model records, and nothing else.

A ``SupportGraph`` groups an empirical model's rows (recorded state-action pairs) by state.
A deterministic policy on the support is a *choice*: for each recorded state, the row it
takes (or -1). Following a choice from a row walks recorded transitions only; the walk ends
at a terminal transition, at a state with no recorded action (the data ends there), or
after the horizon. LeverGrid is deterministic, so these sums are exact on the support.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.mdp.empirical import EmpiricalModel

TOLERANCE = 1e-9


def greedy_rows(scores: np.ndarray, first_row: np.ndarray) -> np.ndarray:
    """Per group of rows (groups start at ``first_row``, contiguous), the row with the
    largest score; ties go to the earliest row (the lowest action)."""
    n = len(scores)
    if not n:
        return np.zeros(0, dtype=np.int64)
    group = np.cumsum(np.isin(np.arange(n), first_row)) - 1
    best = np.maximum.reduceat(scores, first_row)
    rows = np.where(scores >= best[group], np.arange(n), n)
    return np.minimum.reduceat(rows, first_row)


"""Policy iteration changes a state's action only for a gain above this."""


@dataclass(frozen=True, eq=False)
class SupportGraph:
    """The rows of ``empirical`` grouped by state, with each row's successor state."""

    empirical: EmpiricalModel
    states: np.ndarray
    """Sorted distinct recorded states."""
    state_of_row: np.ndarray
    """Per row, its state's index in ``states``."""
    next_index: np.ndarray
    """Per row, the index in ``states`` of its next state; -1 when terminal or unrecorded."""
    first_row: np.ndarray
    """Per state index, its first row (rows of a state are contiguous, in action order)."""

    @classmethod
    def of(cls, empirical: EmpiricalModel) -> SupportGraph:
        """Index ``empirical`` by state."""
        own = empirical.state_of_rows()
        states, first_row, state_of_row = np.unique(own, return_index=True, return_inverse=True)
        if len(states):
            nxt = np.minimum(np.searchsorted(states, empirical.next_state), len(states) - 1)
            known = (states[nxt] == empirical.next_state) & ~empirical.terminated
        else:
            nxt, known = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return cls(empirical, states, state_of_row, np.where(known, nxt, -1), first_row)

    @property
    def n_rows(self) -> int:
        """Recorded state-action pairs."""
        return len(self.state_of_row)

    def greedy_choice(self, scores: np.ndarray) -> np.ndarray:
        """Per state, the row with the largest ``scores`` (ties: the lowest action)."""
        return greedy_rows(scores, self.first_row)

    def successor(self, choice: np.ndarray) -> np.ndarray:
        """Per row, the row the choice takes after it (-1 where the walk ends)."""
        nxt = self.next_index
        return np.where(nxt >= 0, choice[np.maximum(nxt, 0)], -1)

    def chain_sums(self, choice: np.ndarray, per_row: np.ndarray, horizon: int) -> np.ndarray:
        """Per row: ``per_row`` summed along the walk that takes the row, then ``choice``,
        for at most ``horizon`` rows (shape of ``per_row``)."""
        succ = self.successor(choice)
        alive = succ >= 0
        x = np.asarray(per_row, dtype=np.float64)
        mask = alive.reshape((-1,) + (1,) * (x.ndim - 1))
        total = np.zeros_like(x)
        for _ in range(checks.positive_int(horizon, "horizon")):
            total = x + np.where(mask, total[np.maximum(succ, 0)], 0.0)
        return total

    def backward_induction(self, rewards: np.ndarray, horizon: int) -> np.ndarray:
        """``Q_H`` per row: the best return within ``horizon`` steps over recorded actions
        only (batch-constrained value iteration on the empirical MDP)."""
        nxt = self.next_index
        v = np.zeros(len(self.states))
        q = np.asarray(rewards, dtype=np.float64)
        for _ in range(checks.positive_int(horizon, "horizon")):
            q = rewards + np.where(nxt >= 0, v[np.maximum(nxt, 0)], 0.0)
            v = np.maximum.reduceat(q, self.first_row) if self.n_rows else v
        return q

    def improve(
        self, choice: np.ndarray, rewards: np.ndarray, horizon: int, steps: int
    ) -> np.ndarray:
        """``steps`` rounds of policy iteration on the support from ``choice``: evaluate it
        within ``horizon``, switch each state to the row with the best one-step lookahead
        when it beats the current row by more than ``TOLERANCE``, then undo switches until no
        state loses value (a switched state that loses is undone; if only unswitched states
        lose, the half of the switches with the smallest gains is undone). With a finite
        horizon and stationary policies a plain greedy switch can lower values; the undo
        makes every round's values at least the previous round's, at every recorded state."""
        choice = np.asarray(choice, dtype=np.int64).copy()
        nxt = self.next_index
        for _ in range(checks.non_negative_int(steps, "improvement steps")):
            q = self.chain_sums(choice, rewards, horizon)
            before = q[choice]
            lookahead = rewards + np.where(nxt >= 0, before[np.maximum(nxt, 0)], 0.0)
            best = self.greedy_choice(lookahead)
            gain = lookahead[best] - lookahead[choice]
            switch = gain > TOLERANCE
            while switch.any():
                trial = np.where(switch, best, choice)
                worse = self.values(trial, rewards, horizon) < before - TOLERANCE
                if not worse.any():
                    break
                if (worse & switch).any():
                    switch &= ~worse
                else:  # a state lost value through others' switches: keep the larger half
                    kept = np.flatnonzero(switch)
                    switch[kept[np.argsort(gain[kept], kind="stable")[: (len(kept) + 1) // 2]]] = (
                        False
                    )
            if not switch.any():
                break
            choice = np.where(switch, best, choice)
        return choice

    def values(self, choice: np.ndarray, rewards: np.ndarray, horizon: int) -> np.ndarray:
        """Per state, the return within ``horizon`` steps of following ``choice``."""
        return self.chain_sums(choice, rewards, horizon)[choice]


def policy_successor_features(
    empirical: EmpiricalModel, q_of_rows: np.ndarray, horizon: int
) -> np.ndarray:
    """ψ per row (shape ``(rows, N_COMPONENTS)``) of the policy that is greedy in its
    Q-values among the actions its own data records: the reward components summed along the
    recorded walk from each row within ``horizon`` steps. Then ``ψ @ w`` is that policy's
    undiscounted value under any objective ``w``, on its support."""
    graph = SupportGraph.of(empirical)
    choice = graph.greedy_choice(np.asarray(q_of_rows, dtype=np.float64))
    return graph.chain_sums(choice, empirical.components, horizon)
