"""Behaviour episodes of a tabular policy, their Minari datasets, and the d3rlpy conversion.

A library policy's dataset holds ε-greedy episodes of that policy, stored with
``minari.create_dataset_from_buffers`` (hdf5, no jax). Per-step infos keep ``state``,
``cell``, ``reward_components`` and ``is_success``, so any objective can be relabelled
exactly from stored data. ``to_d3rlpy`` builds a d3rlpy ``MDPDataset`` from them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numba
import numpy as np
from gymnasium.utils.seeding import np_random

from lever_gym.envs.model import TabularModel
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.objectives import parse_objective
from lever_gym.train import _choose, start_states


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """How a policy's behaviour dataset is collected; episodes and ε set its coverage."""

    episodes: int = 20
    epsilon: float = 0.1
    """Probability of a uniformly random action at each step."""
    random_start: bool = True
    """Start each episode from a floor cell drawn from its reset seed (else the layout's start)."""

    def __post_init__(self) -> None:
        """Validate the fields."""
        n = self.episodes
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"dataset episodes must be a positive integer; got {n!r}.")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ConfigError(f"dataset epsilon must be in [0, 1]; got {self.epsilon!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Episodes:
    """Episodes as state/action sequences: ``states[i]`` has one more entry than ``actions[i]``."""

    states: list[np.ndarray]
    actions: list[np.ndarray]
    terminated: list[bool]
    seeds: list[int]

    @property
    def n_transitions(self) -> int:
        """Total number of steps."""
        return sum(len(a) for a in self.actions)

    def support(self, n_states: int) -> np.ndarray:
        """(n_states, 4) int32 visit counts of each state-action pair."""
        pairs = np.concatenate(
            [s[:-1] * 4 + a for s, a in zip(self.states, self.actions, strict=True)]
        )
        return np.bincount(pairs, minlength=n_states * 4).astype(np.int32).reshape(n_states, 4)


@numba.njit(cache=True)
def _behave(q, key, nxt, term, starts, uniforms, eps, horizon, states, actions, lengths, ended):
    for e in range(starts.shape[0]):
        s = starts[e]
        states[e, 0] = s
        lengths[e] = horizon
        for t in range(horizon):
            a = _choose(q, key[s], uniforms[e, t], eps)
            actions[e, t] = a
            states[e, t + 1] = nxt[s, a]
            if term[s, a]:
                lengths[e] = t + 1
                ended[e] = True
                break
            s = nxt[s, a]


def collect(
    model: TabularModel, q: np.ndarray, key: np.ndarray, config: DataConfig, seed: int
) -> Episodes:
    """Run ``config.episodes`` ε-greedy episodes of the Q-table ``q`` (rows ``key[state]``).

    Episode ``i`` resets with seed ``seeds[i]``; with ``random_start`` its start cell is the
    one ``LeverGridEnv.reset(seed=seeds[i])`` draws, so the env replays it exactly.
    """
    rng = np.random.default_rng(seed)
    n, horizon = config.episodes, model.layout.n_cells
    seeds = rng.integers(0, 2**31 - 1, size=n).tolist()
    options = start_states(model, config.random_start)
    picks = [
        int(np_random(s)[0].integers(len(options))) if config.random_start else 0 for s in seeds
    ]
    uniforms = rng.random((n, horizon))
    states = np.zeros((n, horizon + 1), dtype=np.int64)
    actions = np.zeros((n, horizon), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    ended = np.zeros(n, dtype=np.bool_)
    _behave(
        q, key, model.next_state, model.terminated, options[picks], uniforms, config.epsilon,
        horizon, states, actions, lengths, ended,
    )  # fmt: skip
    return Episodes(
        [states[i, : lengths[i] + 1].copy() for i in range(n)],
        [actions[i, : lengths[i]].copy() for i in range(n)],
        ended.tolist(),
        seeds,
    )


def episode_buffers(model: TabularModel, weights: np.ndarray, episodes: Episodes) -> list[Any]:
    """Minari ``EpisodeBuffer``s of ``episodes``, rewards under ``weights``."""
    from minari.data_collector import EpisodeBuffer

    reward = model.reward(weights)
    buffers = []
    for i, (s, a) in enumerate(zip(episodes.states, episodes.actions, strict=True)):
        t = len(a)
        comps = np.zeros((t + 1, 4))
        comps[1:] = model.components[s[:-1], a]
        success = np.zeros(t + 1, dtype=np.bool_)
        term = np.zeros(t, dtype=np.bool_)
        trunc = np.zeros(t, dtype=np.bool_)
        if episodes.terminated[i]:
            term[-1] = True
            success[-1] = bool(model.success(s[-1], weights))
        else:
            trunc[-1] = True
        buffers.append(
            EpisodeBuffer(
                id=i,
                seed=episodes.seeds[i],
                observations=model.observe(s),
                actions=a,
                rewards=reward[s[:-1], a],
                terminations=term,
                truncations=trunc,
                infos={
                    "state": s,
                    "cell": model.decode(s)[0],
                    "reward_components": comps,
                    "is_success": success,
                },
            )
        )
    return buffers


@contextlib.contextmanager
def minari_root(path: str | os.PathLike[str]) -> Iterator[None]:
    """Point ``MINARI_DATASETS_PATH`` at ``path`` for the duration of the block."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def write_dataset(
    root: str | os.PathLike[str],
    dataset_id: str,
    env: gym.Env,
    episodes: Episodes,
    *,
    algorithm: str,
    description: str,
) -> Path:
    """Write ``episodes`` of ``env`` as Minari dataset ``dataset_id`` under ``root``.

    Rewards are under the env's own weights; the env spec is stored, so
    ``recover_environment()`` rebuilds the same layout. Returns the dataset directory.
    """
    import minari

    from lever_gym import __version__

    base = env.unwrapped
    buffers = episode_buffers(base.model, base.weights, episodes)
    with minari_root(root):
        minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=env,
            eval_env=env.spec,
            algorithm_name=algorithm,
            author="lever_gym",
            author_email="lever_gym@users.noreply.invalid",
            code_permalink=f"lever_gym {__version__}",
            description=description,
            requirements=[f"lever-gym=={__version__}"],
        )
    folder = Path(root, dataset_id)
    compact_hdf5(folder / "data" / "main_data.hdf5")
    return folder


COMPACT_LIMIT = 60_000
"""Arrays below this many bytes are stored inside their HDF5 object header."""


def compact_hdf5(path: Path) -> None:
    """Rewrite an HDF5 file with the same groups, arrays and attributes, unchunked.

    Minari writes one chunked, resizable array per field and episode, about 26 kB per
    episode whatever its length; stored compact (small arrays inside their object header)
    or contiguous, the same file is 5-6 times smaller and Minari reads it unchanged.
    """
    import h5py

    tmp = path.with_name(path.name + ".compact")

    def copy(src: h5py.Group, dst: h5py.Group) -> None:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name, track_order=True))
                continue
            data = np.ascontiguousarray(item[()])
            if 0 < data.nbytes < COMPACT_LIMIT and data.dtype.kind in "biuf":
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_layout(h5py.h5d.COMPACT)
                dcpl.set_obj_track_times(False)  # no timestamps: same data, same bytes
                space = h5py.h5s.create_simple(data.shape)
                dtype = h5py.h5t.py_create(data.dtype, logical=True)
                h5py.h5d.create(dst.id, name.encode(), dtype, space, dcpl=dcpl).write(
                    h5py.h5s.ALL, h5py.h5s.ALL, data
                )
            else:
                dst.create_dataset(name, data=data)

    with h5py.File(path, "r") as src, h5py.File(tmp, "w", track_order=True) as dst:
        copy(src, dst)
    os.replace(tmp, path)


def read_episodes(ds: Any, fields: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """Yield, per episode of a Minari dataset, the requested arrays.

    Fields are ``observations``, ``actions``, ``rewards``, ``terminations``,
    ``truncations`` or ``infos/<key>``. An hdf5-backed dataset is read straight from its file
    (one read per field and episode instead of Minari's generic decoding); other storages go
    through ``iterate_episodes``.
    """
    import h5py

    path = Path(ds.storage.data_path) / "main_data.hdf5"
    if ds.storage.metadata.get("data_format") == "hdf5" and path.is_file():
        with h5py.File(path, "r") as f:
            for i in ds.episode_indices:
                group = f[f"episode_{i}"]
                missing = [k for k in fields if k not in group]
                if missing:
                    raise _missing_fields(ds, missing)
                yield {k: group[k][()] for k in fields}
        return
    for ep in ds.iterate_episodes():
        out = {}
        for k in fields:
            if k.startswith("infos/"):
                infos = ep.infos or {}
                if k[6:] not in infos:
                    raise _missing_fields(ds, [k])
                out[k] = infos[k[6:]]
            else:
                out[k] = getattr(ep, k)
        yield out


def _missing_fields(ds: Any, missing: list[str]) -> LibraryError:
    return LibraryError(
        f"dataset {ds.spec.dataset_id!r} has no {', '.join(missing)}; lever_gym reads per-step "
        "infos['state'] and infos['reward_components'] (lever_gym library datasets have them)."
    )


D3RLPY_FIELDS = (
    "observations",
    "actions",
    "infos/reward_components",
    "terminations",
    "truncations",
)


def to_d3rlpy(datasets: Iterable[Any] | Any, objective: str | Sequence[float] | np.ndarray) -> Any:
    """A d3rlpy ``MDPDataset`` of one or many library datasets, rewards relabelled.

    ``datasets``: ``MinariDataset`` objects or dataset ids (loaded with
    ``minari.load_dataset``). Rewards are ``weights @ reward_components`` for
    ``objective`` (any form ``parse_objective`` accepts). Observation ``t`` pairs with action
    ``t`` (the final observation of each episode is dropped); ``terminated`` maps to
    d3rlpy's terminals and ``truncated and not terminated`` to its timeouts.
    """
    import d3rlpy
    import minari
    from d3rlpy.dataset import MDPDataset

    w = parse_objective(objective)
    items = [datasets] if isinstance(datasets, str | minari.MinariDataset) else list(datasets)
    if not items:
        raise ConfigError("to_d3rlpy needs at least one dataset; got none.")
    obs, act, rew, term, tout = [], [], [], [], []
    dims = set()
    for item in items:
        ds = minari.load_dataset(item) if isinstance(item, str) else item
        for ep in read_episodes(ds, D3RLPY_FIELDS):
            o, a, comps = ep["observations"], ep["actions"], ep["infos/reward_components"]
            te, tr = ep["terminations"], ep["truncations"]
            obs.append(o[:-1])
            act.append(a)
            c = comps[1:]
            rew.append(c[:, 0] * w[0] + c[:, 1] * w[1] + c[:, 2] * w[2] + c[:, 3] * w[3])
            term.append(te)
            tout.append(tr & ~te)
            dims.add(o.shape[1])
    if len(dims) > 1:
        raise ConfigError(
            f"datasets mix observation sizes {sorted(dims)}: combine datasets of one grid size."
        )
    return MDPDataset(
        observations=np.concatenate(obs).astype(np.float32),
        actions=np.concatenate(act).astype(np.int64),
        rewards=np.concatenate(rew).astype(np.float32),
        terminals=np.concatenate(term).astype(np.float32),
        timeouts=np.concatenate(tout).astype(np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=4,
    )
