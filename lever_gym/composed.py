"""``LeverComposedPolicy``: retrieve, score offline and compose library policies for an objective.

``from_library`` decomposes the objective into building blocks, retrieves candidates for
each block from the layout's index, forms combinations by a strategy (``targeted``: top-1
per part; ``hybrid``: top-k per part; ``exhaustive``: every candidate), scores each
combination offline, composes the best one's Q-values on the support of its datasets and
tabulates the action of every state. It never steps an environment: scoring rolls the
composed policy through the transitions recorded in the library (``scoring="rollout"``) or
predicts its return from its behavioural embedding (``scoring="predictor"``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.compose import (
    Components,
    ComposeConfig,
    ComposedQ,
    sample_uniforms,
    score_rollouts,
)
from lever_gym.decompose import decompositions
from lever_gym.embed import EmbedConfig, Predictor, embed
from lever_gym.empirical import EmpiricalModel
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import TabularModel, model_for
from lever_gym.errors import ConfigError, LibraryError, RetrievalError
from lever_gym.library import Library, PolicyRecord, write_json_atomic
from lever_gym.objectives import objective_name, parse_objective
from lever_gym.train import key_index

STRATEGIES = ("targeted", "hybrid", "exhaustive")
SCORINGS = ("rollout", "predictor")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Target:
    """The objective and layout a composed policy is built for."""

    weights: np.ndarray
    size: int
    layout_seed: int


def resolve_target(
    library: Library,
    objective: str | Sequence[float] | np.ndarray | gym.Env,
    size: int | None,
    layout_seed: int | None,
) -> Target:
    """Weights, size and layout from an objective in any accepted form (env ids and envs
    also give the layout); a lone layout in the library is the default."""
    if isinstance(objective, gym.Env):
        base = objective.unwrapped
        weights = np.asarray(base.weights, dtype=np.float64)
        for n, seed in library.layouts():
            if n == base.layout.size and Layout.generate(n, seed) == base.layout:
                size, layout_seed = n, seed
                break
        else:
            raise LibraryError(
                "the env's layout is not one of the library's generated layouts "
                f"({library.layouts()}); build a library for it first."
            )
    else:
        weights = parse_objective(objective)
        if isinstance(objective, str) and "LeverGrid-" in objective:
            kwargs = gym.spec(objective.removeprefix("lever_gym:")).kwargs
            size = kwargs["size"] if size is None else size
            layout_seed = kwargs.get("layout_seed", 0) if layout_seed is None else layout_seed
    layouts = library.layouts()
    if size is None or layout_seed is None:
        matching = [(n, s) for n, s in layouts if size in (None, n) and layout_seed in (None, s)]
        if len(matching) != 1:
            raise ConfigError(
                "say which layout: pass size= and layout_seed= (or an env id); the library has "
                f"{', '.join(f'{n}x{n} layout {s}' for n, s in layouts)}."
            )
        size, layout_seed = matching[0]
    if (size, layout_seed) not in layouts:
        raise LibraryError(
            f"the library has no {size}x{size} layout {layout_seed} (it has "
            f"{', '.join(f'{n}x{n} layout {s}' for n, s in layouts)}); build one for it first."
        )
    return Target(weights, int(size), int(layout_seed))


class LeverComposedPolicy:
    """A composed policy: an action and composed Q-values for every state of one layout.

    Use it like any policy: ``policy(obs) -> int``, ``policy.predict(obs_batch)``,
    ``policy.q_values(obs)``; ``policy.explain()`` says what was chosen and why.
    """

    def __init__(
        self,
        model: TabularModel,
        weights: np.ndarray,
        composed: ComposedQ,
        support: list[np.ndarray] | np.ndarray,
        info: dict[str, Any],
    ) -> None:
        """Prefer ``from_library`` or ``load``. ``support``: the members' count tables, or
        the sorted ``state * 4 + action`` keys of their union."""
        self.model = model
        self.weights = weights
        self.composed = composed
        self._support = support
        self.info = info

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_library(
        cls,
        library: Library | str | Path,
        objective: str | Sequence[float] | np.ndarray | gym.Env,
        *,
        size: int | None = None,
        layout_seed: int | None = None,
        gamma: float | None = None,
        parts: str | Sequence[str] | None = None,
        strategy: str = "hybrid",
        k: int = 3,
        scoring: str = "rollout",
        backend: str = "annoy",
        n_starts: int = 1,
        seed: int = 0,
        **compose_options: Any,
    ) -> LeverComposedPolicy:
        """Build the composed policy for ``objective`` (see the module docstring).

        ``objective``: a name, ``"path+gold+hazard"``, a sentence, a weight vector, an env
        id or an env. ``gamma``: the library's γ to draw from (``None``: every γ, each its
        own pool). ``parts``: the decomposition (``"PG+HL"``), automatic if ``None``.
        ``n_starts``: scoring starts, the layout's start first, then recorded episode starts
        (1 suits the fixed-start protocol; more, random starts). ``compose_options``: fields
        of ``ComposeConfig`` (``operator``, ``support``, ...).
        """
        t0 = time.perf_counter()
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
        if scoring not in SCORINGS:
            raise ConfigError(f"scoring must be one of {SCORINGS}; got {scoring!r}.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer; got {k!r}.")
        config = ComposeConfig(seed=seed, **compose_options)
        lib = library if isinstance(library, Library) else Library.load(library)
        if not len(lib):
            raise LibraryError(f"the library at {lib.root} is empty.")
        target = resolve_target(lib, objective, size, layout_seed)
        records = lib.filter(size=target.size, layout_seed=target.layout_seed)
        target_name = objective_name(target.weights)
        splits = decompositions(target.weights, {r.objective for r in records}, parts=parts)
        gammas = sorted({r.gamma for r in records}) if gamma is None else [float(gamma)]
        if not any(r.gamma in gammas for r in records):
            raise LibraryError(
                f"no policies with gamma {gamma} for this layout; the library has gammas "
                f"{sorted({r.gamma for r in records})}."
            )
        index = lib.layout_index(target.size, target.layout_seed, backend)
        ranked: dict[tuple[str, float], list[tuple[PolicyRecord, float]]] = {}
        for split in splits:
            for part in split:
                for g in gammas:
                    if (part.objective, g) not in ranked:
                        ranked[part.objective, g] = _candidates(
                            lib, index, part.objective, g, target_name, strategy, k
                        )
        t1 = time.perf_counter()

        model = lib.model(records[0])
        emp = lib.empirical(target.size, target.layout_seed)
        combos = [
            (split, g, combo)
            for split in splits
            for g in gammas
            if all(ranked[p.objective, g] for p in split)
            for combo in itertools.product(*[[r for r, _ in ranked[p.objective, g]] for p in split])
        ]
        if not combos:
            raise RetrievalError(
                f"no gamma has candidates for every part of any split of {target_name}: "
                + "; ".join(
                    f"{obj} (gamma {g:g}): {len(c)} candidate(s)" for (obj, g), c in ranked.items()
                )
            )
        unique = {r.id: r for _, _, combo in combos for r in combo}
        pool_records = list(unique.values())
        position = {r.id: i for i, r in enumerate(pool_records)}
        factor = {p.objective: p.weight for split in splits for p in split}
        comp = _components(lib, model, pool_records, factor)
        uniforms = sample_uniforms(model.n_states, config)
        starts = _scoring_starts(emp, model, n_starts, seed)
        horizon = model.layout.n_cells
        penalty = 100.0 * float(np.abs(target.weights).sum())
        predictor = lib.predictor() if scoring == "predictor" else None
        scored = []
        for split, g, combo in combos:
            members = np.array([position[r.id] for r in combo])
            returns, steps, inside = score_rollouts(
                comp, members, config, emp, target.weights, starts, horizon, penalty, uniforms
            )
            entry = {
                "parts": "+".join(p.objective for p in split),
                "gamma": g,
                "policies": [r.id for r in combo],
                "rollout_return": float(returns.mean()),
                "rollout_inside": float(inside.mean()),
            }
            if predictor is not None:
                entry["predicted_return"] = _predicted(
                    comp, members, config, emp, model, index.canonical, lib.config.embed,
                    predictor, target.weights,
                )  # fmt: skip
            scored.append(entry)
        key = "rollout_return" if scoring == "rollout" else "predicted_return"
        best = max(range(len(scored)), key=lambda i: (scored[i][key], -i))
        t2 = time.perf_counter()

        members = np.array([position[i] for i in scored[best]["policies"]])
        composed = ComposedQ(comp, config, members)
        t3 = time.perf_counter()

        start = np.array([model.start_state])
        _, steps, inside = score_rollouts(
            comp, members, config, emp, target.weights, start, horizon, penalty, uniforms
        )
        info = {
            "objective": target_name,
            "weights": target.weights.tolist(),
            "size": target.size,
            "layout_seed": target.layout_seed,
            "parts": [
                {"objective": p.objective, "weight": p.weight}
                for p in splits[
                    ["+".join(q.objective for q in s) for s in splits].index(scored[best]["parts"])
                ]
            ],
            "splits_considered": ["+".join(p.objective for p in s) for s in splits],
            "strategy": strategy,
            "k": k,
            "scoring": scoring,
            "backend": backend,
            "compose": config.to_dict(),
            "candidates": {
                f"{obj} gamma {g:g}": [[r.id, s] for r, s in cands]
                for (obj, g), cands in ranked.items()
            },
            "combinations": scored,
            "chosen": scored[best],
            "coverage": {
                "start_rollout_steps": int(steps[0]),
                "start_rollout_inside_data": bool(inside[0]),
                "start_rollout_coverage": float(steps[0] / (steps[0] + (0 if inside[0] else 1)))
                if steps[0] or not inside[0]
                else 1.0,
            },
            "seconds": {"retrieval": t1 - t0, "scoring": t2 - t1, "composition": t3 - t2},
        }
        return cls(model, target.weights, composed, [comp.counts[m] for m in members], info)

    # -- acting -----------------------------------------------------------------------------

    def __call__(self, obs: np.ndarray) -> int:
        """The composed action for one observation."""
        s = self.model.state_from_obs_one(np.asarray(obs))
        c = self.composed
        if not c._done[s]:
            c.ensure(np.array([s]))
        return int(c.actions[s])

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Actions (int64) for a batch of observations, e.g. from ``gym.make_vec``."""
        states = self.model.states_from_obs(obs)
        self.composed.ensure(states.ravel())
        return self.composed.actions[states].astype(np.int64)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Composed Q-values (``-inf`` where excluded) of one observation or a batch."""
        states = self.model.states_from_obs(obs)
        self.composed.ensure(np.atleast_1d(states).ravel())
        return self.composed.values[states]

    @property
    def support_keys(self) -> np.ndarray:
        """Sorted ``state * 4 + action`` of every pair in the selected datasets."""
        if not isinstance(self._support, np.ndarray):
            total = sum(np.asarray(c, dtype=np.int64) for c in self._support)
            self._support = np.flatnonzero(np.asarray(total).ravel() > 0).astype(np.int64)
        return self._support

    def covers(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Whether each state-action pair is in the selected datasets' union support."""
        keys = np.asarray(states, dtype=np.int64) * 4 + np.asarray(actions, dtype=np.int64)
        support = self.support_keys
        if not len(support):
            return np.zeros(keys.shape, dtype=bool)
        idx = np.minimum(np.searchsorted(support, keys), len(support) - 1)
        return support[idx] == keys

    def explain(self) -> dict[str, Any]:
        """What was chosen and why: parts, candidates, scores, operator, coverage, timings."""
        return json.loads(json.dumps(self.info))

    def summary(self) -> str:
        """A few lines for people: the chosen policies, their score, coverage and timings."""
        info = self.info
        chosen = info["chosen"]
        sec = info["seconds"]
        lines = [
            f"objective {info['objective']} on {info['size']}x{info['size']} layout "
            f"{info['layout_seed']}: parts {' + '.join(p['objective'] for p in info['parts'])}, "
            f"strategy {info['strategy']} (k={info['k']}), scoring {info['scoring']}, "
            f"operator {info['compose']['operator']} (support: {info['compose']['support']})",
            f"scored {len(info['combinations'])} combination(s); "
            f"chosen (gamma {chosen['gamma']:g}):",
            *[f"  {pid}" for pid in chosen["policies"]],
            f"offline rollout return {chosen['rollout_return']:.2f} over the scoring starts, "
            f"{100 * chosen['rollout_inside']:.0f}% of them stayed inside the data",
            f"coverage of its greedy rollout from the start: "
            f"{100 * info['coverage']['start_rollout_coverage']:.0f}% "
            f"({info['coverage']['start_rollout_steps']} recorded steps)",
            f"time: retrieval {1e3 * sec['retrieval']:.1f} ms, "
            f"scoring {1e3 * sec['scoring']:.1f} ms, "
            f"composition {1e3 * sec['composition']:.1f} ms",
        ]
        if "predicted_return" in chosen:
            lines.insert(
                -2, f"predicted return (embedding predictor): {chosen['predicted_return']:.2f}"
            )
        return "\n".join(lines)

    # -- saving -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``policy.json`` and ``policy.npz`` into the folder ``path`` (atomically)."""
        from lever_gym import __version__
        from lever_gym.library import atomic_path

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "policy.npz") as tmp, open(tmp, "wb") as fh:
            actions, values, allowed = self.composed.all()
            np.savez_compressed(
                fh, actions=actions, values=values, allowed=allowed, support_keys=self.support_keys
            )
        meta = {
            "format_version": FORMAT_VERSION,
            "lever_gym_version": __version__,
            "layout": self.model.layout.to_ascii(),
            "shaping": self.model.shaping,
            "info": self.info,
        }
        write_json_atomic(folder / "policy.json", meta)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> LeverComposedPolicy:
        """Read a policy written by ``save`` (no library needed)."""
        folder = Path(path)
        try:
            meta = json.loads((folder / "policy.json").read_text())
            with np.load(folder / "policy.npz", allow_pickle=False) as npz:
                arrays = [npz[k] for k in ("actions", "values", "allowed", "support_keys")]
        except (OSError, ValueError, KeyError) as e:
            raise LibraryError(f"no readable composed policy in {folder} ({e}).") from e
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise LibraryError(
                f"{folder} holds format {meta['format_version']}; this lever_gym reads up to "
                f"{FORMAT_VERSION}. Upgrade lever_gym."
            )
        model = model_for(Layout.from_ascii(meta["layout"]), meta["shaping"])
        if arrays[0].shape != (model.n_states,):
            raise LibraryError(f"{folder}/policy.npz does not match its layout; save it again.")
        info = meta["info"]
        composed = ComposedQ.from_arrays(*arrays[:3])
        return cls(model, np.array(info["weights"]), composed, arrays[3], info)

    def __repr__(self) -> str:
        return (
            f"LeverComposedPolicy(objective={self.info['objective']!r}, "
            f"policies={self.info['chosen']['policies']})"
        )


def _candidates(
    lib: Library,
    index: Any,
    objective: str,
    gamma: float,
    target_name: str,
    strategy: str,
    k: int,
) -> list[tuple[PolicyRecord, float]]:
    """Retrieved records of one block and γ, best first, cut by the strategy (may be empty)."""
    ranked = [
        (lib[pid], score)
        for pid, score in index.query(parse_objective(objective))
        if lib[pid].objective == objective
        and lib[pid].objective != target_name
        and lib[pid].gamma == gamma
    ]
    limit = {"targeted": 1, "hybrid": k, "exhaustive": len(ranked)}[strategy]
    return ranked[:limit]


def _components(
    lib: Library, model: TabularModel, records: list[PolicyRecord], factor: dict[str, float]
) -> Components:
    """Q per Markov state and counts of ``records``, weighted by their part's factor."""
    qs, counts = [], []
    for r in records:
        q, support = lib.arrays(r)
        qs.append(q if r.key == "state" else q[key_index(model, r.key)])
        counts.append(support)
    return Components(qs, counts, np.array([factor[r.objective] for r in records]))


def _scoring_starts(emp: EmpiricalModel, model: TabularModel, n: int, seed: int) -> np.ndarray:
    """The layout's start plus up to ``n - 1`` seeded episode starts recorded in the data."""
    others = emp.starts[emp.starts != model.start_state]
    rng = np.random.default_rng(seed)
    picked = rng.choice(others, size=min(n - 1, len(others)), replace=False) if n > 1 else []
    return np.concatenate([[model.start_state], np.sort(np.asarray(picked, dtype=np.int64))])


def _predicted(
    comp: Components,
    members: np.ndarray,
    config: ComposeConfig,
    emp: EmpiricalModel,
    model: TabularModel,
    canonical: np.ndarray,
    embed_config: EmbedConfig,
    predictor: Predictor,
    weights: np.ndarray,
) -> float:
    """Predicted return of the composed policy from its embedding on the recorded data
    (the same ``EmbedConfig`` as the library's policies)."""
    states, taken = emp.state_of_rows(), emp.keys & 3
    composed = ComposedQ(comp, config, members)
    composed.ensure(states)  # only the recorded states are needed
    actions = composed.actions
    in_members = np.zeros(len(states), dtype=bool)
    for m in members:
        in_members |= np.asarray(comp.counts[m])[states, taken] > 0
    probs = ((actions[states] == taken) & in_members).astype(np.float64)
    return predictor.predict(embed(emp, model, canonical, embed_config, probs), weights)
