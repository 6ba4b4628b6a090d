"""Planning on the support: finite-horizon values, successor features and policy iteration
over the transitions an empirical model records, and nothing else.

A ``SupportGraph`` groups an empirical model's rows (recorded state-action pairs) by state.
A deterministic policy on the support is a *choice*: for each recorded state, the row it
takes (or -1). Following a choice from a row walks recorded transitions only; the walk ends
at a terminal transition, at a state with no recorded action (the data ends there), or
after the horizon. LeverGrid is deterministic, so these sums are exact on the support.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.mdp.batch import SupportTables
from lever_gym.mdp.empirical import EmpiricalModel

TOLERANCE = 1e-9
"""Policy iteration changes a state's action only for a gain above this."""


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
    slots: np.ndarray
    """(n_states, most rows of a state) each state's rows in order, padded with ``n_rows``."""

    @functools.cached_property
    def tables(self) -> SupportTables:
        """``mdp.batch.SupportTables`` of ``empirical``, built once per graph (the graph of a
        layout's whole data is kept with its tables, so composing again for another
        objective reuses them; a graph of part of the data builds its own)."""
        return SupportTables.of(self.empirical)

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
        n_rows = len(own)
        rank = np.arange(n_rows) - first_row[state_of_row]
        slots = np.full((len(states), int(rank.max(initial=-1)) + 1), n_rows, dtype=np.int64)
        slots[state_of_row, rank] = np.arange(n_rows)
        return cls(empirical, states, state_of_row, np.where(known, nxt, -1), first_row, slots)

    @property
    def n_rows(self) -> int:
        """Recorded state-action pairs."""
        return len(self.state_of_row)

    def greedy_choice(self, scores: np.ndarray) -> np.ndarray:
        """Per state, the row with the largest ``scores`` (ties: the lowest action; scores
        not NaN), as ``greedy_rows``."""
        if not self.n_rows:
            return np.zeros(0, dtype=np.int64)
        padded = np.append(np.asarray(scores, dtype=np.float64), -np.inf)[self.slots]
        return self.slots[np.arange(len(self.states)), np.argmax(padded, axis=1)]

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

    def policy_iteration(
        self, choice: np.ndarray, rewards: np.ndarray, horizon: int, steps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(choice, values before, values after)`` of ``steps`` rounds of policy iteration
        on the support from ``choice``: evaluate it within ``horizon``, switch each state to
        the row with the best one-step lookahead when it beats the current row by more than
        ``TOLERANCE``, then undo switches until no state loses value (a switched state that
        loses is undone; if only unswitched states lose, the half of the switches with the
        smallest gains is undone). With a finite horizon and stationary policies a plain
        greedy switch can lower values; the undo makes every round's values at least the
        previous round's, at every recorded state. The values are ``values`` of the given
        and of the returned choice. A round evaluates its likely second trial (without the
        switches undone last round) in the same passes as its first."""
        choice = np.asarray(choice, dtype=np.int64).copy()
        horizon = checks.positive_int(horizon, "horizon")
        rewards = np.asarray(rewards, dtype=np.float64)
        n = len(self.states)
        onward = np.where(self.next_index >= 0, self.next_index, n)  # n: the walk's end
        value = first = self._values([choice], rewards, onward, horizon)[0]
        refused = np.zeros(n, dtype=bool)  # switches undone last round: likely undone again
        for _ in range(checks.non_negative_int(steps, "improvement steps")):
            lookahead = rewards + value[onward]
            best = self.greedy_choice(lookahead)
            gain = lookahead[best] - lookahead[choice]
            switch = gain > TOLERANCE
            tried: dict[bytes, np.ndarray] = {}
            while switch.any():
                trial = np.where(switch, best, choice)
                if switch.tobytes() not in tried:  # with the likely next trial in one pass
                    guess = switch & ~refused
                    both = [switch, guess] if guess.any() and (guess != switch).any() else [switch]
                    found = self._values(
                        [np.where(s, best, choice) for s in both], rewards, onward, horizon
                    )
                    tried.update((s.tobytes(), v) for s, v in zip(both, found, strict=True))
                trial_value = tried[switch.tobytes()]
                worse = trial_value[:n] < value[:n] - TOLERANCE
                if not worse.any():
                    break
                if (worse & switch).any():
                    refused = worse & switch
                    switch &= ~worse
                else:  # a state lost value through others' switches: keep the larger half
                    kept = np.flatnonzero(switch)
                    switch[kept[np.argsort(gain[kept], kind="stable")[: (len(kept) + 1) // 2]]] = (
                        False
                    )
            if not switch.any():
                break
            choice, value = trial, trial_value
        return choice, first[:n], value[:n]

    def values(self, choice: np.ndarray, rewards: np.ndarray, horizon: int) -> np.ndarray:
        """Per state, the return within ``horizon`` steps of following ``choice`` (a row per
        state)."""
        onward = np.where(self.next_index >= 0, self.next_index, len(self.states))
        return self._values(
            [np.asarray(choice, dtype=np.int64)], np.asarray(rewards, dtype=np.float64), onward,
            checks.positive_int(horizon, "horizon"),
        )[0][: len(self.states)]  # fmt: skip

    def _values(
        self, choices: list[np.ndarray], rewards: np.ndarray, onward: np.ndarray, horizon: int
    ) -> list[np.ndarray]:
        """``values`` of each choice and a last entry 0 for the walk's end (``onward``: each
        row's next state, ``len(states)`` at the end), by one ``horizon_sums`` over copies of
        the states (each node's sum is the same as alone)."""
        size = len(self.states) + 1
        taken = np.concatenate(choices)
        nxt = onward[taken].reshape(len(choices), -1)
        x = np.empty((len(choices), size))
        x[:, :-1] = rewards[taken].reshape(len(choices), -1)
        x[:, -1] = 0.0
        jump = np.empty((len(choices), size), dtype=np.int64)
        jump[:, :-1] = nxt
        jump[:, -1] = size - 1
        jump += np.arange(len(choices))[:, None] * size
        return list(horizon_sums(x.ravel(), jump.ravel(), horizon).reshape(len(choices), size))


def horizon_sums(x: np.ndarray, nxt: np.ndarray, horizon: int) -> np.ndarray:
    """Per node ``i``, ``x`` summed over the ``horizon`` nodes ``i, nxt[i], nxt[nxt[i]], ...``
    (a walk ends at a node ``e`` with ``nxt[e] == e`` and ``x[e] == 0``). By doubling: sums
    over ``2**j`` nodes from sums over ``2**(j-1)``, so about ``log2(horizon)`` passes over the
    nodes instead of ``horizon``; the sums are added in that fixed order."""
    block, jump = np.asarray(x, dtype=np.float64), np.asarray(nxt, dtype=np.int64)
    total, at = None, None  # nothing added yet: the walks still start at their own node
    h = horizon
    while True:
        if h & 1:
            if total is None:
                total, at = block, jump
            else:
                total, at = total + block[at], jump[at]
        h >>= 1
        if not h:
            return np.zeros(len(block)) if total is None else total
        block, jump = block + block[jump], jump[jump]


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
