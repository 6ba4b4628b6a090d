"""``LeverComposedPolicy``: retrieve, score offline and compose library policies for an objective.

``from_library`` runs the stages of ``lever_gym.reuse.pipeline`` in order: resolve the
target, retrieve candidates per part, score every combination offline on the library's
recorded transitions, compose the best one's Q-values on the support of its datasets. It
never steps an environment.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.reuse.saved as saved
from lever_gym.checks import json_file
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import ConfigError, LibraryError, ObservationError
from lever_gym.library.format.files import atomic_path, make_folder, write_json_atomic
from lever_gym.library.shards import ShardedLibrary, open_library
from lever_gym.library.store import Library, PolicyLibrary
from lever_gym.mdp.contract import step_reward_bounds, value_bounds
from lever_gym.objective import Objective
from lever_gym.policy import SB3_UNSET, sb3_answer
from lever_gym.reuse.composition import ComposedQ
from lever_gym.reuse.config import ReuseConfig
from lever_gym.reuse.decompose import Part, splits
from lever_gym.reuse.explain import Combination, Coverage, Explanation, Timings
from lever_gym.reuse.improve import improve_on_support, plan_time_aware
from lever_gym.reuse.members import TabularMember
from lever_gym.reuse.pipeline import (
    Candidate,
    Candidates,
    Target,
    combinations,
    guard,
    members_of,
    pool_combination,
    resolve_target,
    retrieve,
    score_combinations,
    scoring_context,
)
from lever_gym.reuse.scoring import ScoringContext
from lever_gym.reuse.tables import layout_tables
from lever_gym.train.policy import TimeIndexedPolicy


class LeverComposedPolicy:
    """A composed policy: an action and composed Q-values for every state of one layout.

    Use it like any policy: ``policy(obs) -> int``, ``policy.predict(obs_batch)``,
    ``policy.q_values(obs)``; ``policy.explain()`` says what was chosen and why. It pickles
    and copies as its saved form (the composed arrays, compressed; no members).

    Built with ``improve.contract="time-aware"`` it is time-aware (``time_aware`` is true):
    its observations carry the elapsed steps as their last entry
    (``gymnasium.wrappers.TimeAwareObservation``), it acts by its time-indexed plan on the
    members' data and by the composed action elsewhere, and ``q_values`` is the one-hot of
    the action it takes.
    """

    def __init__(
        self,
        model: TabularModel,
        objective: Objective,
        composed: ComposedQ,
        explanation: Explanation,
        covered_keys: np.ndarray | None = None,
        timed: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Prefer ``from_library`` or ``load``. ``covered_keys``: sorted ``state * A +
        action`` of the members' datasets (computed from the members when omitted).
        ``timed``: ``(states, actions)`` of a time-aware plan (``actions`` of shape
        ``(horizon, len(states))``, row ``h - 1`` with ``h`` steps left)."""
        self.model = model
        self.objective = objective
        self.composed = composed
        self.explanation = explanation
        self._covered = covered_keys
        self.timed = (
            None
            if timed is None
            else TimeIndexedPolicy(model.space, timed[0], timed[1], model.layout.n_cells)
        )

    @property
    def time_aware(self) -> bool:
        """Whether observations carry the elapsed steps (``exact_returns`` reads this)."""
        return self.timed is not None

    @property
    def weights(self) -> np.ndarray:
        """The objective's weights."""
        return self.objective.vector

    @property
    def info(self) -> dict[str, Any]:
        """The explanation as JSON-plain data (as ``explain()``)."""
        return self.explanation.to_dict()

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_library(
        cls,
        library: PolicyLibrary | str | Path | None,
        objective: Any,
        *,
        layout: Any = None,
        config: ReuseConfig | None = None,
    ) -> LeverComposedPolicy:
        """Build the composed policy for ``objective`` (see the module docstring).

        ``library``: a ``Library``, a ``ShardedLibrary`` (the layout's shard is used), a
        folder of either, or ``None`` for the default library. ``objective``: a name,
        ``"path+gold+hazard"``, a sentence, a weight vector, an env id or an env.
        ``layout``: ``(size, layout_seed)``, a ``Layout`` or an env (default: the layout an
        env or env id names, else the library's only layout). ``config``: every setting
        (``ReuseConfig``; its defaults were tuned on the benchmark's tuning layouts,
        docs/results.md).
        """
        t0 = time.perf_counter()
        config = ReuseConfig() if config is None else config
        if not isinstance(config, ReuseConfig):
            raise ConfigError(f"config must be a ReuseConfig; got {type(config).__name__}.")
        lib = _opened(library)
        target = resolve_target(lib, objective, layout)
        flat = lib.layout_library(target.size, target.layout_seed)
        split_list, ranked, combos = _candidates(flat, target, config)
        t1 = time.perf_counter()
        pool = list({r.id: r for c in combos for r in c.records}.values())
        factors = {p.objective: p.weight for split in split_list for p in split}
        context = scoring_context(flat, target, pool, factors, config)
        position = {r.id: i for i, r in enumerate(pool)}
        scored = score_combinations(context, combos, position, config.scoring.scoring)
        best = _best(scored, config.scoring.scoring)
        t2 = time.perf_counter()
        chosen = list(combos[best].records)
        members = np.array([position[r.id] for r in chosen])
        successor = target.objective if config.family == "successor" else None
        composed = ComposedQ(members_of(flat, chosen, factors, successor), config.compose,
                             config.seed)  # fmt: skip
        composed.fill(context.states, *context.composed(members))
        improvement = checked = None
        if config.improve.rounds:
            improvement = improve_on_support(
                context, chosen, composed, config.improve.rounds, config.improve.gammas
            )
            composed.override(improvement.states, improvement.actions)
        if config.improve.guard:
            checked = guard(context, chosen, composed)
            if checked["best_member"] is not None:
                alone = checked["best_member"]
                tables = layout_tables(flat, target.size, target.layout_seed)
                composed.act_as(
                    TabularMember(alone.id, tables.stacked, int(tables.positions([alone.id])[0]))
                )
        timed = None
        if config.improve.contract == "time-aware":
            timed = plan_time_aware(context, chosen, composed)
        start = context.rollouts(members, context.starts[:1])  # the layout's start
        bounds = _bounds(context, composed, timed)
        explanation = Explanation(
            objective=target.objective.name, weights=target.objective.weights,
            size=target.size, layout_seed=target.layout_seed, parts=combos[best].split,
            splits_considered=tuple("+".join(p.objective for p in s) for s in split_list),
            config=config.to_dict(),
            candidates={
                f"{b} gamma {g:g}": [(r.id, s) for r, s in c] for (b, g), c in ranked.items()
            },
            combinations=tuple(scored), chosen=scored[best],
            coverage=Coverage(int(start.steps[0]), bool(start.inside[0])),
            seconds=Timings(
                retrieval=t1 - t0, scoring=t2 - t1, composition=time.perf_counter() - t2
            ),
            guard=None if checked is None else {
                "composed_score": checked["composed_score"],
                "best_member": getattr(checked["best_member"], "id", None),
                "best_member_score": checked["best_member_score"],
            },
            improvement=None if improvement is None else {
                "steps": config.improve.rounds, "changed_states": improvement.changed,
                "start_value_before": improvement.start_before,
                "start_value_after": improvement.start_after, "plan": improvement.plan,
                "plan_returns": improvement.returns,
            },
            bounds=bounds,
            time_aware=None if timed is None else {
                "start_value_before": timed.start_before, "start_value_after": timed.start_after,
            },
        )  # fmt: skip
        plan = None if timed is None else (timed.states, timed.actions)
        return cls(context.model, target.objective, composed, explanation, timed=plan)

    # -- acting -----------------------------------------------------------------------------

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """The composed action for one observation (shape ``(obs_dim,)``).

        Observations are checked (``GridSpace.check_obs``: ``ObservationError`` on anything
        ``env.step`` could not return) unless ``validate=False``, the fast path for trusted
        input (``benchmarks/bench_observations.py`` measures both); ``predict`` and
        ``q_values`` take the same flag, and all three agree on every input.
        """
        if self.timed is not None:
            if np.ndim(obs) != 1:
                raise ObservationError(
                    "policy(obs) takes one observation with the elapsed steps; got shape "
                    f"{np.shape(obs)}. Use predict for a batch."
                )
            return int(self._timed_actions(np.asarray(obs)[None], validate)[0])
        return self.composed.action(self.model.space.state_from_obs_one(obs, validate=validate))

    def predict(
        self,
        obs: np.ndarray,
        state: Any = SB3_UNSET,
        episode_start: Any = SB3_UNSET,
        deterministic: Any = SB3_UNSET,
        *,
        validate: bool = True,
    ) -> Any:
        """Actions (int64) for a batch of observations, e.g. from ``gym.make_vec`` (SB3's
        ``(actions, state)`` when called with its arguments, as ``evaluate_policy`` does)."""
        if self.timed is not None:
            actions = self._timed_actions(obs, validate)
        else:
            states = self.model.space.states_from_obs(obs, validate=validate)
            actions = self.composed.actions_of(states)
        return sb3_answer(actions, state, episode_start, deterministic)

    def q_values(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Composed Q-values (``-inf`` where excluded) of one observation or a batch (a
        time-aware policy: the one-hot of its action)."""
        if self.timed is not None:
            actions = self._timed_actions(np.atleast_2d(obs), validate)
            return np.eye(N_ACTIONS)[actions].reshape((*np.shape(obs)[:-1], N_ACTIONS))
        states = self.model.space.states_from_obs(obs, validate=validate)
        return self.composed.values_of(states)

    def _timed_actions(self, obs: np.ndarray, validate: bool) -> np.ndarray:
        """A time-aware policy's actions for a batch: its plan, else the composed action."""
        assert self.timed is not None
        states, taken, ok = self.timed.planned(obs, validate=validate)
        return np.where(ok, taken, self.composed.actions_of(states)).astype(np.int64)

    @property
    def covered_keys(self) -> np.ndarray:
        """Sorted ``state * N_ACTIONS + action`` of every pair in the members' datasets."""
        if self._covered is None:
            members = self.composed.members
            keys = None if members is None else members.covered_keys()
            self._covered = np.zeros(0, dtype=np.int64) if keys is None else keys
        return self._covered

    def covers(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Whether each state-action pair is in the members' datasets (their union)."""
        keys = np.asarray(states, dtype=np.int64) * N_ACTIONS + np.asarray(actions, np.int64)
        covered = self.covered_keys
        if not len(covered):
            return np.zeros(keys.shape, dtype=bool)
        idx = np.minimum(np.searchsorted(covered, keys), len(covered) - 1)
        return covered[idx] == keys

    def explain(self) -> dict[str, Any]:
        """What was chosen and why: parts, candidates, scores, operator, coverage, timings."""
        return json.loads(json.dumps(self.explanation.to_dict()))

    def summary(self) -> str:
        """A few lines for people: the chosen policies, their score, coverage and timings."""
        return self.explanation.summary()

    # -- saving -----------------------------------------------------------------------------

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``policy.json`` and ``policy.npz`` into the folder ``path`` (atomically);
        ``LibraryError`` if the folder cannot be made, or already holds a saved policy and
        ``overwrite`` is not set."""
        existing = [n for n in ("policy.json", "policy.npz") if (Path(path) / n).exists()]
        if existing and not overwrite:
            raise LibraryError(
                f"{path} already holds a saved policy ({', '.join(existing)}); pass "
                "overwrite=True to replace it, or choose another folder (nothing was written)."
            )
        folder = make_folder(Path(path), "save the policy in")
        meta, raw = self._saved_form()
        with atomic_path(folder / "policy.npz") as tmp:
            tmp.write_bytes(raw)
        write_json_atomic(folder / "policy.json", meta)
        return folder

    def _saved_form(self) -> tuple[dict[str, Any], bytes]:
        """What ``save`` writes: ``policy.json``'s content and ``policy.npz``'s bytes."""
        timed = None if self.timed is None else (self.timed.states, self.timed.actions)
        return saved.pack(self.model, self.composed, self.covered_keys, self.explanation, timed)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (and copy) as the saved form: the composed arrays compressed, no members."""
        meta, raw = self._saved_form()
        return (_restore, (json.dumps(meta), raw))

    @classmethod
    def load(cls, path: str | Path) -> LeverComposedPolicy:
        """Read a policy written by ``save`` (no library needed); ``LibraryError`` if the folder
        holds no such policy or its files disagree with each other."""
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(f"path must be a folder path; got {type(path).__name__}.")
        folder = Path(path)
        try:
            meta = json_file((folder / "policy.json").read_bytes(), str(folder / "policy.json"))
            raw = (folder / "policy.npz").read_bytes()
        except Exception as e:  # a missing folder or file, undecodable JSON
            raise LibraryError(f"no readable composed policy in {folder} ({e}).") from e
        return cls.from_saved_form(meta, raw, str(folder))

    @classmethod
    def from_saved_form(cls, meta: Any, raw: bytes, where: str) -> LeverComposedPolicy:
        """The policy of ``policy.json``'s parsed content and ``policy.npz``'s bytes (``where``
        names them in errors)."""
        return cls(*saved.unpack(meta, raw, where))

    def __repr__(self) -> str:
        return (
            f"LeverComposedPolicy(objective={self.explanation.objective!r}, "
            f"policies={list(self.explanation.chosen.policies)})"
        )


def _restore(meta: str, raw: bytes) -> LeverComposedPolicy:
    """Unpickle a policy from its saved form."""
    return LeverComposedPolicy.from_saved_form(json.loads(meta), raw, "a pickled policy")


def _opened(library: PolicyLibrary | str | Path | None) -> PolicyLibrary:
    """``library`` itself, or the library in the folder it names (the default if ``None``)."""
    if isinstance(library, Library | ShardedLibrary):
        lib: PolicyLibrary = library
    elif library is None or isinstance(library, str | os.PathLike):
        lib = open_library(library)
    else:
        raise ConfigError(
            f"library must be a Library, a ShardedLibrary, a folder or None; got "
            f"{type(library).__name__}."
        )
    if not len(lib):
        raise LibraryError(f"the library at {lib.root} is empty.")
    return lib


def _candidates(
    lib: Library, target: Target, config: ReuseConfig
) -> tuple[list[tuple[Part, ...]], Candidates, list[Candidate]]:
    """The splits of the target, the candidates retrieved per block and γ, and the
    combinations to score (``gpi``'s family: one, the whole pool)."""
    records = lib.layout_records(target.size, target.layout_seed)
    r = config.retrieval
    split_list = splits(target.objective, {x.objective for x in records}, parts=r.parts)
    gammas = sorted({x.gamma for x in records}) if r.gamma is None else [r.gamma]
    if not any(x.gamma in gammas for x in records):
        raise LibraryError(
            f"no policies with gamma {r.gamma} for this layout; the library has gammas "
            f"{sorted({x.gamma for x in records})}."
        )
    ranked = retrieve(
        lib, target, split_list, gammas, r.strategy, r.k, r.backend, config.pool == "layout"
    )
    if config.family == "successor":
        return split_list, ranked, pool_combination(split_list, ranked)
    return split_list, ranked, combinations(split_list, gammas, ranked)


def _best(scored: list[Combination], scoring: str) -> int:
    """The index of the best-scored combination (the first among equals)."""
    key = (lambda c: c.rollout_return) if scoring == "rollout" else (lambda c: c.predicted_return)
    return max(range(len(scored)), key=lambda i: (key(scored[i]), -i))


def _bounds(context: ScoringContext, composed: ComposedQ, timed: Any = None) -> dict[str, Any]:
    """Bounds on the composed policy's true return from the layout's start (with its
    time-aware plan ``timed``, if any), from the layout's recorded data and the reward ranges
    of the components (``mdp.contract.value_bounds``)."""
    model, emp = context.model, context.empirical
    weights, horizon, states = context.target.weights, model.layout.n_cells, emp.states()
    actions = composed.actions_of(states)
    if timed is not None:  # per steps left: the plan on its states, the composed action elsewhere
        actions = np.tile(actions.astype(np.int8), (horizon, 1))
        at = np.minimum(np.searchsorted(timed.states, states), len(timed.states) - 1)
        planned = timed.states[at] == states
        actions[:, planned] = timed.actions[:, at[planned]]
    found = value_bounds(
        emp, actions, weights, model.start_state, horizon,
        step_reward_bounds(weights, model.shaping, model.layout.size),
    )  # fmt: skip
    return {"lower": found.lower, "upper": found.upper, "steps_in_data": found.steps_in_data,
            "left_data": found.left_data}  # fmt: skip
