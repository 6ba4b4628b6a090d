"""Stored data in any observation mode: re-expressing a dataset's observations exactly.

Every lever_gym dataset stores the state index of each row (``infos["state"]``) and, for
randomised worlds, the layout of each row (``infos["layout_seed"]``). The observation of a
row in any ``obs_mode`` is a function of those two and the layout, so a dataset recorded in
one mode converts exactly into another: ``observations_in`` gives the arrays,
``convert_dataset`` writes them as a new Minari dataset beside the original (actions,
rewards, flags and infos unchanged; the env spec names the new mode).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.data.minari_hdf5 import EpisodeColumns, create_dataset
from lever_gym.envs.grid import lever_env
from lever_gym.envs.layout import Layout
from lever_gym.envs.views import DEFAULT_VIEW_SIZE, check_obs_mode, observer
from lever_gym.errors import LibraryError


def observations_in(
    ds: Any, obs_mode: str, view_size: int = DEFAULT_VIEW_SIZE
) -> Iterator[np.ndarray]:
    """Per episode of Minari dataset ``ds`` (a lever_gym dataset), its observations in
    ``obs_mode`` (float32, one row per stored row), computed from ``infos["state"]``."""
    obs_mode, view_size = check_obs_mode(obs_mode, view_size)
    size, fixed = _layout_of(ds)
    for ep in ds.iterate_episodes():
        infos = ep.infos or {}
        if "state" not in infos:
            raise LibraryError(
                f"dataset {ds.spec.dataset_id!r} stores no infos['state']; only data recorded "
                "with the state index (every lever_gym dataset) can change observation mode."
            )
        yield _observe(np.asarray(infos["state"]), infos.get("layout_seed"), size, fixed,
                       obs_mode, view_size)  # fmt: skip


def convert_dataset(
    ds: Any,
    root: str | os.PathLike[str],
    dataset_id: str,
    obs_mode: str,
    view_size: int = DEFAULT_VIEW_SIZE,
) -> Path:
    """Write ``ds`` with observations in ``obs_mode`` as Minari dataset ``dataset_id`` under
    ``root`` (which must not exist yet); everything but the observations and the env spec's
    mode is copied. Returns the new dataset's directory."""
    obs_mode, view_size = check_obs_mode(obs_mode, view_size)
    episodes = list(ds.iterate_episodes())
    if not episodes:
        raise LibraryError(f"dataset {ds.spec.dataset_id!r} has no episodes to convert.")
    observations = list(observations_in(ds, obs_mode, view_size))
    info_keys = sorted(episodes[0].infos or {})
    columns = EpisodeColumns(
        lengths=np.array([len(ep.actions) for ep in episodes], dtype=np.int64),
        observations=np.concatenate(observations),
        actions=np.concatenate([ep.actions for ep in episodes]),
        rewards=np.concatenate([ep.rewards for ep in episodes]),
        terminations=np.concatenate([ep.terminations for ep in episodes]),
        truncations=np.concatenate([ep.truncations for ep in episodes]),
        infos={k: np.concatenate([np.asarray(ep.infos[k]) for ep in episodes]) for k in info_keys},
    )
    spec = ds.env_spec
    kwargs = {**spec.kwargs, "obs_mode": obs_mode, "view_size": view_size}
    env = gym.make(dataclasses.replace(spec, kwargs=kwargs))
    meta = ds.storage.metadata
    ref = meta.get("ref_min_score"), meta.get("ref_max_score")
    try:
        return create_dataset(
            root, dataset_id, columns, env=env, eval_env=env.spec,
            algorithm_name=meta.get("algorithm_name"), author=meta.get("author"),
            description=f"{ds.spec.dataset_id} in obs_mode={obs_mode!r}",
            requirements=meta.get("requirements"),
            ref_scores=None if None in ref else (float(ref[0]), float(ref[1])),
        )  # fmt: skip
    finally:
        env.close()


def _layout_of(ds: Any) -> tuple[int, Layout]:
    """The grid size of ``ds``'s env and its (first) layout."""
    env = gym.make(ds.env_spec)
    try:
        layout = lever_env(env).layout
    finally:
        env.close()
    return layout.size, layout


def _observe(
    states: np.ndarray,
    layout_seeds: Any,
    size: int,
    fixed: Layout,
    obs_mode: str,
    view_size: int,
) -> np.ndarray:
    """Observations of ``states``, each on its row's layout (``layout_seeds``, or ``fixed``)."""
    if layout_seeds is None:
        return observer(fixed, obs_mode, view_size).observe(states)
    seeds = np.asarray(layout_seeds, dtype=np.int64)
    out = np.empty((len(states), observer(fixed, obs_mode, view_size).obs_dim), np.float32)
    for seed in np.unique(seeds).tolist():
        rows = seeds == seed
        out[rows] = observer(Layout.generate(size, seed), obs_mode, view_size).observe(states[rows])
    return out
