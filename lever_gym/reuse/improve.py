"""Support-constrained improvement after composition, planned for the time-limit contract:
stationary (finite-horizon and discounted policy iteration on the members' data) or
time-aware (time-indexed policy iteration to its fixed point). Both read the members' own
recorded transitions only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lever_gym.envs.model import N_ACTIONS
from lever_gym.library.format.config import PolicyRecord
from lever_gym.mdp.batch import (
    backward_actions,
    discounted_policy_iteration,
    time_indexed_values,
)
from lever_gym.mdp.support import SupportGraph
from lever_gym.objective import weighted
from lever_gym.reuse.composition import ComposedQ
from lever_gym.reuse.scoring import ScoringContext


@dataclass(frozen=True, eq=False)
class Improvement:
    """The plan support-constrained improvement chose, its actions and what it changed."""

    states: np.ndarray
    actions: np.ndarray
    start_before: float
    """Value of the layout's start on the members' data, before and after (within the horizon)."""
    start_after: float
    changed: int
    plan: str
    """Which plan won: ``finite-horizon`` or ``discounted <γ>``."""
    returns: dict[str, float]
    """Each plan's return on the recorded data from the scoring starts."""


def improve_on_support(
    context: ScoringContext,
    members: list[PolicyRecord],
    composed: ComposedQ,
    rounds: int,
    gammas: tuple[float, ...],
) -> Improvement:
    """``rounds`` rounds of policy iteration from ``composed`` on the union of the members'
    own data (recorded actions only), planned for the stationary contract: finite-horizon
    stationary policy iteration (which never lowers a recorded state's value within the
    horizon) and discounted policy iteration at each of ``gammas`` (where every step pays,
    the finite-horizon plan can settle in a loop that discounting avoids). Each plan is
    rolled through the recorded data from the scoring starts, as the guard rolls the
    members, and the one with the largest return within the horizon is kept (ties: the
    finite-horizon plan)."""
    model, target = context.model, context.target
    graph = _members_graph(context, members)
    emp = graph.empirical
    rewards = weighted(emp.components, target.weights)
    choice = _recorded_choice(graph, composed, rewards)
    horizon = model.layout.n_cells
    better, before, after = graph.policy_iteration(choice, rewards, horizon, rounds)
    plans = {"finite-horizon": emp.actions_of_rows()[better]}
    support = graph.tables
    reward = support.rewards(target)
    start = emp.actions_of_rows()[choice]  # recorded in every state of the graph
    for g in gammas:
        plans[f"discounted {g:g}"] = discounted_policy_iteration(
            reward, support.onward, g, start, rounds
        )[0]
    base = composed.actions_of(context.states)
    where = np.searchsorted(context.states, graph.states)
    returns = {}
    for name, actions in plans.items():
        trial = base.copy()
        trial[where] = actions
        returns[name] = float(context.walk(trial).returns.mean())
    plan = max(plans, key=lambda k: (returns[k], k == "finite-horizon"))
    j = np.searchsorted(graph.states, model.start_state)
    at_start = j < len(graph.states) and graph.states[j] == model.start_state
    return Improvement(
        graph.states, plans[plan],
        float(before[j]) if at_start else float("nan"),
        float(after[j]) if at_start else float("nan"),
        int(np.sum(plans[plan] != start)), plan, returns,
    )  # fmt: skip


def _members_graph(context: ScoringContext, members: list[PolicyRecord]) -> SupportGraph:
    """The support graph of the union of ``members``' own data."""
    tables = context.tables
    return tables.support_graph(tables.positions([r.id for r in members]))


def _recorded_choice(graph: SupportGraph, composed: ComposedQ, rewards: np.ndarray) -> np.ndarray:
    """Per state of ``graph``, the row of the composed action, or of the greedy recorded
    action where the data does not record the composed one."""
    emp = graph.empirical
    keys = graph.states * N_ACTIONS + composed.actions_of(graph.states)
    at = np.minimum(np.searchsorted(emp.keys, keys), max(graph.n_rows - 1, 0))
    return np.where(emp.keys[at] == keys, at, graph.greedy_choice(rewards))


@dataclass(frozen=True, eq=False)
class TimedPlan:
    """A time-aware plan on the members' data: an action per steps left and state."""

    states: np.ndarray
    actions: np.ndarray
    """(horizon, len(states)) int8; row ``h - 1`` with ``h`` steps left."""
    start_before: float
    """Value of the layout's start with the whole horizon left, before and after."""
    start_after: float


def plan_time_aware(
    context: ScoringContext, members: list[PolicyRecord], composed: ComposedQ
) -> TimedPlan:
    """Time-indexed policy iteration on the union of the members' own data, run to its fixed
    point: backward induction over steps left (``mdp.batch.backward_actions``), keeping the
    composed action wherever it is as good (else the best recorded one). No value drops at any
    state and steps left, so the plan earns at least what the stationary composed policy earns
    on the data, and it is the time-indexed optimum of that data."""
    graph = _members_graph(context, members)
    emp = graph.empirical
    support = graph.tables
    reward = support.rewards(context.target)
    rewards = weighted(emp.components, context.target.weights)
    start = emp.actions_of_rows()[_recorded_choice(graph, composed, rewards)]
    horizon = context.model.layout.n_cells
    actions, after = backward_actions(reward, support.onward, horizon, prefer=start)
    before = time_indexed_values(reward, support.onward, np.tile(start, (horizon, 1)))[-1]
    j = int(np.searchsorted(graph.states, context.model.start_state))
    at_start = j < len(graph.states) and graph.states[j] == context.model.start_state
    return TimedPlan(
        graph.states, actions,
        float(before[j]) if at_start else float("nan"),
        float(after[j]) if at_start else float("nan"),
    )  # fmt: skip
