"""``compose_neural``: a neural library's members composed for any weights on any layout.

The target layout is an argument (``(size, layout_seed)``, an ASCII map, a ``Layout`` or a
LeverGrid env); nothing of it is read but its map, to observe its states in the library's
mode: its true model is never built. ``gpi`` retrieves the ``k`` members whose embedding
scores best under the weights (the library's Annoy forest); a Q-value operator (``sum``)
takes the first exact split of the objective over the library's objectives and, per part,
the member of that objective whose embedding scores best. ``best_single`` is the baseline
of one member chosen from data the same way.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import Layout
from lever_gym.envs.views import observer
from lever_gym.errors import ConfigError
from lever_gym.library.format.neural import NeuralRecord
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.objective import Objective
from lever_gym.reuse.decompose import splits
from lever_gym.reuse.neural import (
    NeighbourSupport,
    NeuralComposedPolicy,
    NeuralMember,
    NeuralReuseConfig,
)
from lever_gym.reuse.operators import family
from lever_gym.train.dqn import QNetworkPolicy


def target_layout(layout: Any) -> Layout:
    """``layout`` as a ``Layout``: ``(size, layout_seed)`` (generated), an ASCII map, a
    ``Layout`` or a LeverGrid env; ``None`` is refused with what to pass."""
    if layout is None:
        raise ConfigError(
            "a neural composition needs the target layout: pass layout=(size, layout_seed), "
            "an ASCII map, a Layout or a LeverGrid env (a Random id names no layout)."
        )
    if isinstance(layout, gym.Env):
        layout = layout.unwrapped.layout  # type: ignore[attr-defined]
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        return Layout.from_ascii(layout)
    if isinstance(layout, tuple | list) and len(layout) == 2:
        return Layout.generate(
            checks.positive_int(layout[0], "size"), checks.seed(layout[1], "layout_seed")
        )
    raise ConfigError(
        f"layout must be (size, layout_seed), an ASCII map, a Layout or a LeverGrid env; got "
        f"{checks.shown(layout)}."
    )


def compose_neural(
    library: NeuralLibrary,
    objective: Any,
    *,
    layout: Any,
    config: NeuralReuseConfig | None = None,
    objectives: Sequence[str] | None = None,
) -> NeuralComposedPolicy:
    """The composed policy of ``library`` for ``objective`` on ``layout`` (module docstring);
    ``objectives``: compose only members of these objectives (a setup's parts)."""
    start = time.perf_counter()
    config = NeuralReuseConfig() if config is None else config
    target = Objective.parse(objective)
    lay = target_layout(layout)
    worlds = library.worlds
    if lay.size != worlds.size:
        raise ConfigError(
            f"the library's members see {worlds.size}x{worlds.size} layouts; got a "
            f"{lay.size}x{lay.size} one. Build a neural library of that size."
        )
    seen = observer(lay, worlds.obs_mode, worlds.view_size).observe
    w = np.asarray(target.weights, dtype=np.float64)
    pool = _pool(library, objectives)
    if family(config.compose.operator) != "successor":
        ids, factors = _split_members(pool, target)
    elif objectives is None:
        ids, factors = library.retrieve(w, config.k), np.ones(config.k)
    else:
        ranked = sorted(pool, key=lambda m: (-float(np.dot(m.embedding, w)), m.id))
        ids, factors = [m.id for m in ranked[: config.k]], np.ones(config.k)
    members = tuple(_member(library, i, seen, config) for i in ids)
    facts = {
        "layout": {"size": lay.size, "map": lay.to_ascii()},
        "library": str(library.root),
        "seconds": round(time.perf_counter() - start, 4),
    }
    return NeuralComposedPolicy(
        members,
        np.asarray(factors[: len(ids)], np.float64),
        tuple(float(x) for x in w),
        config,
        facts,
    )


def best_single(
    library: NeuralLibrary, objective: Any, objectives: Sequence[str] | None = None
) -> tuple[str, QNetworkPolicy]:
    """The baseline of one member chosen from data: the member (of ``objectives``, default
    all) whose embedding (its ψ head's values from its own episode starts) scores best under
    the weights, acting greedily on its own Q-network."""
    w = np.asarray(Objective.parse(objective).weights, dtype=np.float64)
    best = max(_pool(library, objectives), key=lambda m: (float(np.dot(m.embedding, w)), m.id))
    q = library.networks(best.id)["q"]
    return best.id, QNetworkPolicy(q.schema, q.arrays)


def _pool(library: NeuralLibrary, objectives: Sequence[str] | None) -> list[NeuralRecord]:
    """The members of ``objectives`` (all for ``None``); ``ConfigError`` naming any objective
    the library has no member of."""
    if objectives is None:
        return list(library.members)
    if isinstance(objectives, str) or not all(isinstance(o, str) for o in objectives):
        raise ConfigError(
            f"objectives must be a list of objective names; got {checks.shown(objectives)}."
        )
    have = sorted({m.objective for m in library.members})
    missing = [o for o in objectives if o not in have]
    if missing:
        raise ConfigError(
            f"the library has no member of {', '.join(missing)}; it has {', '.join(have)}."
        )
    return [m for m in library.members if m.objective in set(objectives)]


def _split_members(pool: Sequence[NeuralRecord], target: Objective) -> tuple[list[str], np.ndarray]:
    """The first exact split of ``target`` over the pool's objectives: per part, its best
    member by embedding, and the part's weights as factors."""
    objectives = sorted({m.objective for m in pool})
    parts = splits(target, objectives)[0]
    w = np.asarray(target.weights, dtype=np.float64)
    ids = []
    for part in parts:
        own = [m for m in pool if m.objective == part.objective]
        ids.append(max(own, key=lambda m: float(np.dot(m.embedding, w))).id)
    return ids, np.array([p.weight for p in parts])


def _member(
    library: NeuralLibrary, member: str, seen: Any, config: NeuralReuseConfig
) -> NeuralMember:
    heads = library.networks(member)
    n_comp = len(library.members[0].embedding)
    neighbours = None
    if config.support == "neighbour":
        neighbours = recorded_pairs(library, member, config)
    return NeuralMember(member, heads, n_comp, seen, config, neighbours)


_NEIGHBOURS: weakref.WeakKeyDictionary[NeuralLibrary, dict[tuple[str, int, int], Any]] = (
    weakref.WeakKeyDictionary()
)
"""Each open library's neighbour indexes, built once per (member, trees, seed) and dropped
with the library."""


def recorded_pairs(
    library: NeuralLibrary, member: str, config: NeuralReuseConfig
) -> NeighbourSupport:
    """The member's recorded (observation, action) pairs, indexed for ``neighbour`` support
    (built on first use per open library; a seeded build, so rebuilding gives the same
    forest)."""
    from lever_gym.data.storage import read_episodes

    kept = _NEIGHBOURS.setdefault(library, {})
    key = (member, config.n_trees, config.seed)
    if key not in kept:
        obs, actions = [], []
        for ep in read_episodes(library.dataset(member), ("observations", "actions")):
            obs.append(ep["observations"][:-1])
            actions.append(ep["actions"])
        kept[key] = NeighbourSupport(
            np.concatenate(obs), np.concatenate(actions), config.n_trees, config.seed
        )
    return kept[key]
