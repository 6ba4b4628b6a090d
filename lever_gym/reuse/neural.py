"""Composition over neural members, on observations: no table of any layout's states.

A ``NeuralMember`` answers the ``Member`` protocol for a target layout it may never have
seen: it observes the states asked in the library's observation mode (``observe``) and runs
its networks in numpy. Its support comes from its data, by one of ``SUPPORT_ESTIMATES``:

* ``behaviour``: discrete BCQ's rule on its behaviour model, ``μ(a|o) / max μ ≥ threshold``;
* ``neighbour``: the Euclidean distance from ``(o, a)`` to the nearest recorded pair of its
  dataset, through an Annoy forest over the recorded observations of each action, at most
  ``radius`` (observations are 0/1 vectors: the squared distance counts the entries that
  differ).

``NeuralComposedPolicy`` composes them for a weight vector with the tabular path's
operators (``composition.compose_states``): GPI over ``ψ · w`` (``gpi``) or a Q-value
operator over the members of one exact split (``sum``, the paper's rule). It acts on the
observations of any env in the library's mode; ``save``/``load`` write named arrays and
JSON only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.policy import SB3_UNSET, sb3_answer
from lever_gym.reuse.composition import ComposeConfig, compose_states
from lever_gym.reuse.operators import family
from lever_gym.train.heads import Head, successor_outputs, supported_by_behaviour
from lever_gym.train.network import NetworkSchema, check_arrays

SUPPORT_ESTIMATES = ("behaviour", "neighbour")


@dataclass(frozen=True, kw_only=True)
class NeuralReuseConfig:
    """Every setting of a neural composition."""

    k: int = 8
    """Members retrieved for ``gpi`` (the Annoy forest over their embeddings)."""
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    support: str = "behaviour"
    """How a member's support is estimated (``SUPPORT_ESTIMATES``)."""
    threshold: float = 0.3
    """``behaviour``: the BCQ threshold τ on ``μ(a|o) / max μ``."""
    radius: float = 1.5
    """``neighbour``: the largest distance to a recorded pair that counts as supported."""
    n_trees: int = 10
    """``neighbour``: trees of each action's Annoy forest."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate, naming the valid choices."""
        checks.int_in(self.k, "k", 1, 1024)
        checks.one_of(self.support, SUPPORT_ESTIMATES, "support")
        checks.real(self.threshold, "threshold", 0.0, 1.0, closed="right")
        checks.real(self.radius, "radius", 0.0, 1e6)
        checks.int_in(self.n_trees, "n_trees", 1, 256)
        checks.seed(self.seed)
        if not isinstance(self.compose, ComposeConfig):
            raise ConfigError(
                f"compose must be a ComposeConfig; got {type(self.compose).__name__}."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {**asdict(self), "compose": self.compose.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuralReuseConfig:
        """Inverse of ``to_dict``."""
        return cls(**{**data, "compose": ComposeConfig(**data["compose"])})


class NeighbourSupport:
    """Nearest recorded observation per action (one Annoy forest per action, seeded)."""

    def __init__(self, obs: np.ndarray, actions: np.ndarray, n_trees: int, seed: int) -> None:
        from annoy import AnnoyIndex

        obs = np.asarray(obs, np.float32)
        self.recorded = (np.ascontiguousarray(obs), np.asarray(actions, np.int64))
        self.forests: list[Any] = []
        for a in range(N_ACTIONS):
            forest = AnnoyIndex(obs.shape[1], "euclidean")
            forest.set_seed(seed)
            for i, row in enumerate(obs[self.recorded[1] == a]):
                forest.add_item(i, row)
            forest.build(n_trees, n_jobs=1)
            self.forests.append(forest)

    def distances(self, obs: np.ndarray) -> np.ndarray:
        """(n, A) distance to the nearest recorded observation of each action (inf: none)."""
        out = np.full((len(obs), N_ACTIONS), np.inf)
        for a, forest in enumerate(self.forests):
            if forest.get_n_items():
                for i, row in enumerate(np.asarray(obs, np.float32)):
                    _, d = forest.get_nns_by_vector(row.tolist(), 1, include_distances=True)
                    out[i, a] = d[0]
        return out


@dataclass(frozen=True, eq=False)
class NeuralMember:
    """A neural library member on one target layout, as a ``Member``: ``observe`` maps the
    layout's state indices to observations in the library's mode."""

    id: str
    heads: dict[str, Head]
    n_components: int
    observe: Callable[[np.ndarray], np.ndarray]
    config: NeuralReuseConfig
    neighbours: NeighbourSupport | None = None

    def answer(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(q (n, A), ψ (n, A, C), support (n, A) as 0/1 counts)`` of observations."""
        o = np.asarray(obs, np.float32)
        q = self.heads["q"](o).astype(np.float64)
        psi = successor_outputs(self.heads["psi"], o, self.n_components)
        if self.config.support == "behaviour":
            ok = supported_by_behaviour(self.heads["behaviour"], o, self.config.threshold)
        else:
            if self.neighbours is None:
                raise ConfigError(f"member {self.id} has no recorded pairs for neighbour support.")
            ok = self.neighbours.distances(o) <= self.config.radius
        return q, psi.astype(np.float64), ok.astype(np.int64)

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.q_values``."""
        return self.answer(self.observe(states))[0]

    def successor_features(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.successor_features``."""
        return self.answer(self.observe(states))[1]

    def support(self, states: np.ndarray) -> np.ndarray:
        """See ``Member.support``."""
        return self.answer(self.observe(states))[2]


@dataclass(frozen=True, eq=False)
class NeuralComposedPolicy:
    """Neural members composed for ``target`` weights, acting on observations (a ``Policy``).

    ``factors``: each member's factor on its Q-values (``sum``; 1 for ``gpi``)."""

    members: tuple[NeuralMember, ...]
    factors: np.ndarray
    target: tuple[float, ...]
    config: NeuralReuseConfig
    facts: dict[str, Any] = field(default_factory=dict)

    def composed(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, values, allowed)`` of a batch of observations."""
        o = np.asarray(obs, np.float32).reshape(-1, np.shape(obs)[-1])
        answers = [m.answer(o) for m in self.members]
        q = np.stack([a[0] for a in answers])
        counts = np.stack([a[2] for a in answers])
        successor = np.stack([a[1] @ np.asarray(self.target) for a in answers])
        cfg = self.config.compose
        return compose_states(
            q,
            counts,
            self.factors,
            np.zeros(len(self.members)),
            cfg,
            np.zeros((len(o), 1)),
            successor if family(cfg.operator) == "successor" else None,
        )

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Composed values of one observation or a batch, shape ``(..., A)``."""
        shape = np.shape(obs)[:-1]
        return self.composed(obs)[1].reshape((*shape, N_ACTIONS))

    def predict(
        self,
        obs: np.ndarray,
        state: Any = SB3_UNSET,
        episode_start: Any = SB3_UNSET,
        deterministic: Any = SB3_UNSET,
    ) -> Any:
        """Actions of a batch of observations (SB3's ``(actions, state)`` when called with
        its arguments)."""
        actions = self.composed(obs)[0].reshape(np.shape(obs)[:-1])
        return sb3_answer(actions, state, episode_start, deterministic)

    def __call__(self, obs: np.ndarray) -> int:
        """The action of one observation."""
        return int(self.composed(np.asarray(obs)[None])[0][0])

    def explain(self) -> dict[str, Any]:
        """What was composed: members, factors, target, settings and the build facts."""
        return {
            "members": [m.id for m in self.members],
            "factors": self.factors.tolist(),
            "target": list(self.target),
            "config": self.config.to_dict(),
            **self.facts,
        }

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the policy as an ``.npz`` of named arrays and a JSON header (no pickle),
        atomically; ``LibraryError`` if ``path`` exists and ``overwrite`` is not set."""
        from lever_gym.library.format.files import atomic_path

        path = Path(path)
        if path.exists() and not overwrite:
            raise LibraryError(
                f"{path} exists; pass overwrite=True to replace it, or choose another path "
                "(nothing was written)."
            )
        header = {
            "explain": self.explain(),
            "n_components": self.members[0].n_components,
            "schemas": {h: s.schema.to_dict() for h, s in self.members[0].heads.items()},
        }
        arrays = {
            f"m{i}/{h}/{k}": v
            for i, m in enumerate(self.members)
            for h, head in m.heads.items()
            for k, v in head.arrays.items()
        }
        if self.config.support == "neighbour":
            for i, m in enumerate(self.members):
                assert m.neighbours is not None
                arrays[f"m{i}/recorded/obs"], arrays[f"m{i}/recorded/actions"] = (
                    m.neighbours.recorded
                )
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(
        cls, path: str | Path, observe: Callable[[np.ndarray], np.ndarray]
    ) -> NeuralComposedPolicy:
        """Read a saved policy (arrays checked against the schemas it records); ``observe``:
        the target layout's observation of state indices, for the ``Member`` protocol."""
        with np.load(Path(path), allow_pickle=False) as npz:
            header = json.loads(bytes(npz["header"]).decode())
            arrays = {k: npz[k] for k in npz.files if k != "header"}
        info = header["explain"]
        config = NeuralReuseConfig.from_dict(info["config"])
        schemas = {h: NetworkSchema.from_dict(s) for h, s in header["schemas"].items()}
        members = []
        for i, mid in enumerate(info["members"]):
            heads = {}
            for h, schema in schemas.items():
                own = {
                    k.split("/", 2)[2]: v for k, v in arrays.items() if k.startswith(f"m{i}/{h}/")
                }
                heads[h] = Head(schema, check_arrays(schema, own, f"{path} m{i}/{h}"), float("nan"))
            nb = None
            if config.support == "neighbour":
                nb = NeighbourSupport(
                    arrays[f"m{i}/recorded/obs"],
                    arrays[f"m{i}/recorded/actions"],
                    config.n_trees,
                    config.seed,
                )
            members.append(
                NeuralMember(mid, heads, int(header["n_components"]), observe, config, nb)
            )
        facts = {
            k: v for k, v in info.items() if k not in ("members", "factors", "target", "config")
        }
        return cls(
            tuple(members),
            np.asarray(info["factors"], np.float64),
            tuple(info["target"]),
            config,
            facts,
        )
