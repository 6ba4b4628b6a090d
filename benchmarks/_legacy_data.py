"""lever_gym's dataset write and read paths before ``lever_gym.data.minari_hdf5`` (kept to measure).

Writing went through ``minari.create_dataset_from_buffers`` (chunked, resizable arrays)
and then copied the file into an unchunked one; reading opened each array of each episode
with h5py's high-level API, and ``to_d3rlpy`` relabelled rewards episode by episode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import minari
import numpy as np

from lever_gym.data.collect import Episodes
from lever_gym.data.convert import D3RLPY_FIELDS
from lever_gym.data.minari_hdf5 import COMPACT_LIMIT
from lever_gym.data.storage import episode_buffers, minari_root
from lever_gym.objective import Objective
from lever_gym.version import __version__


def write_dataset(root: Path, dataset_id: str, env: gym.Env, episodes: Episodes) -> Path:
    """The old ``lever_gym.data.write_dataset``: Minari's writer, then an unchunked copy."""
    base = env.unwrapped
    with minari_root(root):
        minari.create_dataset_from_buffers(
            dataset_id,
            episode_buffers(base.model, base.objective, episodes),
            env=env,
            eval_env=env.spec,
            algorithm_name="bench",
            author="lever_gym",
            author_email="lever_gym@users.noreply.invalid",
            code_permalink=f"lever_gym {__version__}",
            description="bench",
            requirements=[f"lever-gym=={__version__}"],
        )
    path = Path(root, dataset_id, "data", "main_data.hdf5")
    tmp = path.with_name(path.name + ".compact")
    with h5py.File(path, "r") as src, h5py.File(tmp, "w", track_order=True) as dst:
        _copy(src, dst)
    os.replace(tmp, path)
    return path.parent.parent


def _copy(src: h5py.Group, dst: h5py.Group) -> None:
    for key, value in src.attrs.items():
        dst.attrs[key] = value
    for name, item in src.items():
        if isinstance(item, h5py.Group):
            _copy(item, dst.create_group(name, track_order=True))
            continue
        data = np.ascontiguousarray(item[()])
        if 0 < data.nbytes < COMPACT_LIMIT and data.dtype.kind in "biuf":
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT)
            dcpl.set_obj_track_times(False)
            space = h5py.h5s.create_simple(data.shape)
            dtype = h5py.h5t.py_create(data.dtype, logical=True)
            h5py.h5d.create(dst.id, name.encode(), dtype, space, dcpl=dcpl).write(
                h5py.h5s.ALL, h5py.h5s.ALL, data
            )
        else:
            dst.create_dataset(name, data=data)


def read_episodes(ds: Any, fields: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """The old hdf5 branch of ``lever_gym.data.read_episodes``."""
    with h5py.File(Path(ds.storage.data_path) / "main_data.hdf5", "r") as f:
        for i in ds.episode_indices:
            group = f[f"episode_{i}"]
            assert all(k in group for k in fields)
            yield {k: group[k][()] for k in fields}


def to_d3rlpy(datasets: Sequence[Any], objective: str) -> Any:
    """The old ``lever_gym.to_d3rlpy`` for a list of ``MinariDataset`` objects."""
    import d3rlpy
    from d3rlpy.dataset import MDPDataset

    w = Objective.parse(objective).weights
    obs, act, rew, term, tout = [], [], [], [], []
    for ds in datasets:
        for ep in read_episodes(ds, D3RLPY_FIELDS):
            o, a, comps = ep["observations"], ep["actions"], ep["infos/reward_components"]
            te, tr = ep["terminations"], ep["truncations"]
            obs.append(o[:-1])
            act.append(a)
            c = comps[1:]
            rew.append(c[:, 0] * w[0] + c[:, 1] * w[1] + c[:, 2] * w[2] + c[:, 3] * w[3])
            term.append(te)
            tout.append(tr & ~te)
    return MDPDataset(
        observations=np.concatenate(obs).astype(np.float32),
        actions=np.concatenate(act).astype(np.int64),
        rewards=np.concatenate(rew).astype(np.float32),
        terminals=np.concatenate(term).astype(np.float32),
        timeouts=np.concatenate(tout).astype(np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=4,
    )
