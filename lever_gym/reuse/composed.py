"""``LeverComposedPolicy``: retrieve, score offline and compose library policies for an objective.

``from_library`` runs the stages of ``lever_gym.reuse.pipeline`` in order: resolve the
target, retrieve candidates per part, score every combination offline on the library's
recorded transitions, compose the best one's Q-values on the support of its datasets. It
never steps an environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.checks import json_file
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import N_ACTIONS, TabularModel, model_for
from lever_gym.errors import ConfigError, LeverGymError, LibraryError
from lever_gym.library.format.contents import array_limit, read_npz
from lever_gym.library.format.files import atomic_path, make_folder, write_json_atomic
from lever_gym.library.shards import ShardedLibrary, open_library
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composition import ComposeConfig, ComposedQ
from lever_gym.reuse.decompose import splits
from lever_gym.reuse.explain import Coverage, Explanation, Timings
from lever_gym.reuse.operators import SUCCESSOR_OPERATORS
from lever_gym.reuse.pipeline import (
    combinations,
    guard,
    improve_on_support,
    members_of,
    pool_combination,
    resolve_target,
    retrieve,
    score_combinations,
    scoring_context,
)
from lever_gym.reuse.retrieval import STRATEGIES
from lever_gym.reuse.scoring import SCORINGS
from lever_gym.train.tabular import key_index
from lever_gym.version import __version__

FORMAT_VERSION = 2
POOLS = ("parts", "layout")
"""Of a saved composed policy (``policy.json`` + ``policy.npz``)."""


class LeverComposedPolicy:
    """A composed policy: an action and composed Q-values for every state of one layout.

    Use it like any policy: ``policy(obs) -> int``, ``policy.predict(obs_batch)``,
    ``policy.q_values(obs)``; ``policy.explain()`` says what was chosen and why. It holds
    plain numpy arrays only, so it pickles and deep-copies.
    """

    def __init__(
        self,
        model: TabularModel,
        objective: Objective,
        composed: ComposedQ,
        explanation: Explanation,
        covered_keys: np.ndarray | None = None,
    ) -> None:
        """Prefer ``from_library`` or ``load``. ``covered_keys``: sorted ``state * A +
        action`` of the members' datasets (computed from the members when omitted)."""
        self.model = model
        self.objective = objective
        self.composed = composed
        self.explanation = explanation
        self._covered = covered_keys

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
        library: Library | ShardedLibrary | str | Path | None,
        objective: Any,
        *,
        size: int | None = None,
        layout_seed: int | None = None,
        gamma: float | None = None,
        parts: str | list[str] | None = None,
        operator: str = "gpi",
        strategy: str = "exhaustive",
        k: int = 3,
        pool: str | None = None,
        improve: int = 10,
        guarded: bool = True,
        scoring: str = "rollout",
        backend: str = "annoy",
        n_starts: int = 1,
        seed: int = 0,
        **compose_options: Any,
    ) -> LeverComposedPolicy:
        """Build the composed policy for ``objective`` (see the module docstring).

        ``library``: a ``Library``, a ``ShardedLibrary`` (the target layout's shard is used),
        a folder of either, or ``None`` for the default library.
        ``objective``: a name, ``"path+gold+hazard"``, a sentence, a weight vector, an env
        id or an env. ``gamma``: the library's γ to draw from (``None``: every γ, each its
        own pool). ``parts``: the split (``"PG+HL"``), every exact split if ``None``.
        ``n_starts``: scoring starts, the layout's start first, then recorded episode starts
        (1 suits the fixed-start protocol; more, random starts). ``improve``: rounds of
        support-constrained policy iteration on the members' data after composing.
        ``guarded``: if a member acting alone scores higher than the composition on the
        recorded data, act as that member (``explain()["guard"]`` says which).
        ``pool``: ``parts`` (the candidates of the split's blocks) or, with ``gpi``,
        ``layout`` (also the layout's best policies of any block but the target's); ``None``:
        ``layout`` with ``gpi``, else ``parts``.
        ``operator``: ``gpi`` composes every retrieved candidate at once by ``ψ · w``; the
        others (``sum``, the paper's rule, ``max``, ...) score each combination of one
        candidate per part. ``compose_options``: the other fields of ``ComposeConfig``.
        The defaults were tuned on the benchmark's tuning layouts (docs/results.md).
        """
        t0 = time.perf_counter()
        checks.one_of(strategy, STRATEGIES, "strategy")
        checks.one_of(scoring, SCORINGS, "scoring")
        k = checks.positive_int(k, "k")
        n_starts = checks.positive_int(n_starts, "n_starts")
        improve = checks.non_negative_int(improve, "improve")
        checks.boolean(guarded, "guarded")
        gamma = None if gamma is None else checks.gamma(gamma)
        fields = [f.name for f in dataclasses.fields(ComposeConfig)]
        if set(compose_options) - set(fields):
            raise ConfigError(
                f"unknown option(s) {sorted(set(compose_options) - set(fields))}; from_library "
                f"takes its own arguments and the fields of ComposeConfig ({', '.join(fields)})."
            )
        config = ComposeConfig(operator=operator, seed=checks.seed(seed), **compose_options)
        if pool is None:
            pool = "layout" if config.operator in SUCCESSOR_OPERATORS else "parts"
        checks.one_of(pool, POOLS, "pool")
        lib = library if isinstance(library, Library | ShardedLibrary) else open_library(library)
        if not len(lib):
            raise LibraryError(f"the library at {lib.root} is empty.")
        target = resolve_target(lib, objective, size, layout_seed)
        if isinstance(lib, ShardedLibrary):
            lib = lib.shard(target.size, target.layout_seed)
        records = lib.layout_records(target.size, target.layout_seed)
        split_list = splits(target.objective, {r.objective for r in records}, parts=parts)
        gammas = sorted({r.gamma for r in records}) if gamma is None else [float(gamma)]
        if not any(r.gamma in gammas for r in records):
            raise LibraryError(
                f"no policies with gamma {gamma} for this layout; the library has gammas "
                f"{sorted({r.gamma for r in records})}."
            )
        gpi = config.operator in SUCCESSOR_OPERATORS
        if pool == "layout" and not gpi:
            raise ConfigError(
                f"pool='layout' composes by successor features; use operator='gpi', not "
                f"{config.operator!r}."
            )
        ranked = retrieve(lib, target, split_list, gammas, strategy, k, backend, pool == "layout")
        t1 = time.perf_counter()

        gpi = config.operator in SUCCESSOR_OPERATORS
        combos = (
            pool_combination(split_list, ranked)
            if gpi
            else combinations(split_list, gammas, ranked)
        )
        pool = list({r.id: r for c in combos for r in c.records}.values())
        position = {r.id: i for i, r in enumerate(pool)}
        factors = {p.objective: p.weight for split in split_list for p in split}
        context = scoring_context(lib, target, pool, factors, config, n_starts, scoring, backend)
        model = context.model
        scored = score_combinations(context, combos, position, scoring)
        key = (
            (lambda c: c.rollout_return) if scoring == "rollout" else (lambda c: c.predicted_return)
        )
        best = max(range(len(scored)), key=lambda i: (key(scored[i]), -i))
        t2 = time.perf_counter()

        chosen = combos[best]
        members = np.array([position[r.id] for r in chosen.records])
        successor = target.objective if gpi else None
        records_chosen = list(chosen.records)
        composed = ComposedQ(members_of(lib, records_chosen, factors, successor), config)
        composed.fill(context.states, *context.composed(members))
        improvement = None
        if improve:
            improvement = improve_on_support(
                lib, records_chosen, composed, target.objective, model, improve
            )
            composed.override(improvement.states, improvement.actions)
        checked = guard(context, records_chosen, composed) if guarded else None
        if checked is not None and checked["best_member"] is not None:
            alone = checked["best_member"]
            q = lib.arrays(alone)[0][key_index(model, alone.key)]
            composed.act_as(np.argmax(q, axis=1))
        t3 = time.perf_counter()

        start = context.rollouts(members, context.starts[:1])  # the layout's start
        explanation = Explanation(
            objective=target.objective.name, weights=target.objective.weights,
            size=target.size, layout_seed=target.layout_seed, parts=chosen.split,
            splits_considered=tuple("+".join(p.objective for p in s) for s in split_list),
            strategy=strategy, k=k, scoring=scoring, backend=backend, compose=config.to_dict(),
            candidates={
                f"{b} gamma {g:g}": [(r.id, s) for r, s in c] for (b, g), c in ranked.items()
            },
            combinations=tuple(scored), chosen=scored[best],
            coverage=Coverage(int(start.steps[0]), bool(start.inside[0])),
            seconds=Timings(retrieval=t1 - t0, scoring=t2 - t1, composition=t3 - t2),
            guard=None if checked is None else {
                "composed_score": checked["composed_score"],
                "best_member": getattr(checked["best_member"], "id", None),
                "best_member_score": checked["best_member_score"],
            },
            improvement=None if improvement is None else {
                "steps": improve, "changed_states": improvement.changed,
                "start_value_before": improvement.start_before,
                "start_value_after": improvement.start_after,
            },
        )  # fmt: skip
        return cls(model, target.objective, composed, explanation)

    # -- acting -----------------------------------------------------------------------------

    def __call__(self, obs: np.ndarray, *, validate: bool = True) -> int:
        """The composed action for one observation (shape ``(obs_dim,)``).

        Observations are checked (``GridSpace.check_obs``: ``ObservationError`` on anything
        ``env.step`` could not return) unless ``validate=False``, the fast path for trusted
        input (``benchmarks/bench_observations.py`` measures both); ``predict`` and
        ``q_values`` take the same flag, and all three agree on every input.
        """
        return self.composed.action(self.model.space.state_from_obs_one(obs, validate=validate))

    def predict(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Actions (int64) for a batch of observations, e.g. from ``gym.make_vec``."""
        states = self.model.space.states_from_obs(obs, validate=validate)
        self.composed.ensure(states)
        return self.composed.actions[states].astype(np.int64)

    def q_values(self, obs: np.ndarray, *, validate: bool = True) -> np.ndarray:
        """Composed Q-values (``-inf`` where excluded) of one observation or a batch."""
        states = self.model.space.states_from_obs(obs, validate=validate)
        self.composed.ensure(np.atleast_1d(states))
        return self.composed.values[states]

    @property
    def covered_keys(self) -> np.ndarray:
        """Sorted ``state * N_ACTIONS + action`` of every pair in the members' datasets."""
        if self._covered is None:
            self._covered = self.composed.members.covered_keys()
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

    def save(self, path: str | Path) -> Path:
        """Write ``policy.json`` and ``policy.npz`` into the folder ``path`` (atomically);
        ``LibraryError`` if the folder cannot be made."""
        folder = make_folder(Path(path), "save the policy in")
        with atomic_path(folder / "policy.npz") as tmp, open(tmp, "wb") as fh:
            actions, values, allowed = self.composed.all()
            np.savez_compressed(
                fh, actions=actions, values=values, allowed=allowed, support_keys=self.covered_keys
            )
        meta = {
            "format_version": FORMAT_VERSION,
            "lever_gym_version": __version__,
            "layout": self.model.layout.to_ascii(),
            "shaping": self.model.shaping,
            "info": self.explanation.to_dict(),
        }
        write_json_atomic(folder / "policy.json", meta)
        return folder

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
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if version != FORMAT_VERSION:
            raise LibraryError(
                f"{folder} holds composed-policy format {version!r}; this lever_gym reads "
                f"format {FORMAT_VERSION}. Save the policy again with it."
            )
        try:
            model = model_for(
                Layout.from_ascii(meta["layout"]), checks.boolean(meta["shaping"], "shaping")
            )
            explanation = Explanation.from_dict(meta["info"])
            objective = Objective(explanation.weights)
        except (LeverGymError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise LibraryError(
                f"{folder}/policy.json is not a saved composed policy ({e!r})."
            ) from e
        names = ("actions", "values", "allowed", "support_keys")
        read = read_npz(raw, str(folder / "policy.npz"), names, array_limit(model.n_states))
        arrays = [read[k] for k in names]
        actions, values, allowed, covered = arrays
        n = model.n_states
        ok = (
            actions.shape == (n,) and actions.dtype.kind in "iu"
            and (n == 0 or 0 <= actions.min() <= actions.max() < N_ACTIONS)
            and values.shape == (n, N_ACTIONS) and values.dtype.kind == "f"
            and allowed.shape == (n, N_ACTIONS) and allowed.dtype == bool
            and covered.ndim == 1 and covered.dtype.kind in "iu"
        )  # fmt: skip
        if not ok:
            raise LibraryError(f"{folder}/policy.npz does not match its layout; save it again.")
        composed = ComposedQ.from_arrays(np.array(actions), np.array(values), np.array(allowed))
        return cls(model, objective, composed, explanation, covered)

    def __repr__(self) -> str:
        return (
            f"LeverComposedPolicy(objective={self.explanation.objective!r}, "
            f"policies={list(self.explanation.chosen.policies)})"
        )
