"""Minari storage of behaviour episodes, and reading them back.

A library policy's dataset holds ε-greedy episodes of that policy, stored with
``minari.create_dataset_from_buffers`` (hdf5, no jax). Per-step infos keep ``state``,
``cell``, ``reward_components`` and ``is_success``, so any objective can be relabelled
exactly from stored data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.data.collect import Episodes
from lever_gym.envs.model import TabularModel
from lever_gym.errors import LibraryError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.objective import N_COMPONENTS, Objective
from lever_gym.version import __version__


def episode_buffers(model: TabularModel, objective: Objective, episodes: Episodes) -> list[Any]:
    """Minari ``EpisodeBuffer``s of ``episodes``, rewards under ``objective``."""
    from minari.data_collector import EpisodeBuffer

    reward = model.reward(objective)
    buffers = []
    for i, (s, a) in enumerate(zip(episodes.states, episodes.actions, strict=True)):
        t = len(a)
        comps = np.zeros((t + 1, N_COMPONENTS))
        comps[1:] = model.components[s[:-1], a]
        success = np.zeros(t + 1, dtype=np.bool_)
        term = np.zeros(t, dtype=np.bool_)
        trunc = np.zeros(t, dtype=np.bool_)
        if episodes.terminated[i]:
            term[-1] = True
            success[-1] = bool(model.success(s[-1], objective))
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

    base = env.unwrapped
    buffers = episode_buffers(base.model, base.objective, episodes)
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


EMPIRICAL_FIELDS = ("actions", "terminations", "infos/state", "infos/reward_components")


def empirical_from_dataset(ds: Any) -> EmpiricalModel:
    """The transitions of one Minari dataset (per-step ``infos`` are required)."""
    s, a, s2, comps, done, starts = [], [], [], [], [], []
    for ep in read_episodes(ds, EMPIRICAL_FIELDS):
        states = ep["infos/state"].astype(np.int64)
        s.append(states[:-1])
        s2.append(states[1:])
        a.append(ep["actions"].astype(np.int64))
        comps.append(ep["infos/reward_components"][1:])
        done.append(ep["terminations"].astype(bool))
        starts.append(states[:1])
    return EmpiricalModel.from_arrays(
        np.concatenate(s),
        np.concatenate(a),
        np.concatenate(s2),
        np.concatenate(comps),
        np.concatenate(done),
        np.concatenate(starts),
    )
