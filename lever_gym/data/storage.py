"""Minari storage of behaviour episodes, and reading them back.

A library policy's dataset holds ε-greedy episodes of that policy, a Minari hdf5 dataset
written in one pass by ``lever_gym.data.minari_hdf5`` (the layout and metadata
``minari.create_dataset_from_buffers`` writes). Per-step infos keep ``state``, ``cell``,
``reward_components`` and ``is_success``, so any objective can be relabelled exactly from
stored data.
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
from lever_gym.data.minari_hdf5 import (
    MAIN_FILE,
    EpisodeColumns,
    MissingFieldsError,
    create_dataset,
    iter_episodes,
)
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.model import TabularModel
from lever_gym.errors import LibraryError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.horizon import reference_values, start_states
from lever_gym.objective import N_COMPONENTS, Objective, weighted
from lever_gym.version import __version__


def episode_buffers(model: TabularModel, objective: Objective, episodes: Episodes) -> list[Any]:
    """Minari ``EpisodeBuffer``s of ``episodes``, rewards under ``objective``: for Minari's
    own writers (``create_dataset_from_buffers``, any storage); one buffer per episode of
    the arrays of ``episode_columns``."""
    from minari.data_collector import EpisodeBuffer

    columns = episode_columns(model, objective, episodes)
    steps = np.concatenate([[0], np.cumsum(columns.lengths)])
    rows = np.concatenate([[0], np.cumsum(columns.lengths + 1)])
    return [
        EpisodeBuffer(
            id=i,
            seed=int(columns.seeds[i]),
            observations=columns.observations[rows[i] : rows[i + 1]],
            actions=columns.actions[steps[i] : steps[i + 1]],
            rewards=columns.rewards[steps[i] : steps[i + 1]],
            terminations=columns.terminations[steps[i] : steps[i + 1]],
            truncations=columns.truncations[steps[i] : steps[i + 1]],
            infos={k: v[rows[i] : rows[i + 1]] for k, v in columns.infos.items()},
        )
        for i in range(len(columns.lengths))
    ]


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


def episode_columns(
    model: TabularModel, objective: Objective, episodes: Episodes
) -> EpisodeColumns:
    """The arrays of ``episode_buffers``, every episode end to end, computed in one pass."""
    lengths = np.array([len(a) for a in episodes.actions], dtype=np.int64)
    states = np.concatenate(episodes.states)
    actions = np.concatenate(episodes.actions)
    last_row = np.cumsum(lengths + 1) - 1
    last_step = np.cumsum(lengths) - 1
    before = np.delete(states, last_row)  # the state each step starts from
    ended = np.array(episodes.terminated, dtype=np.bool_)
    c = model.components[before, actions]
    comps = np.zeros((len(states), N_COMPONENTS))
    after_reset = np.ones(len(states), dtype=np.bool_)
    after_reset[last_row - lengths] = False
    comps[after_reset] = c
    success = np.zeros(len(states), dtype=np.bool_)
    success[last_row[ended]] = model.success(states[last_row[ended]], objective)
    term = np.zeros(len(actions), dtype=np.bool_)
    term[last_step[ended]] = True
    trunc = np.zeros(len(actions), dtype=np.bool_)
    trunc[last_step[~ended]] = True
    return EpisodeColumns(
        lengths=lengths,
        seeds=np.array(episodes.seeds, dtype=np.int64),
        observations=model.observe(states),
        actions=actions,
        rewards=weighted(c, objective.weights),
        terminations=term,
        truncations=trunc,
        infos={
            "state": states,
            "cell": model.decode(states)[0],
            "reward_components": comps,
            "is_success": success,
        },
    )


def write_dataset(
    root: str | os.PathLike[str],
    dataset_id: str,
    env: gym.Env,
    episodes: Episodes,
    *,
    algorithm: str,
    description: str,
    compression: int = 0,
) -> Path:
    """Write ``episodes`` of ``env`` as Minari dataset ``dataset_id`` under ``root``.

    Rewards are under the env's own objective; the env spec is stored, so
    ``recover_environment()`` rebuilds the same layout. ``ref_min_score`` and
    ``ref_max_score`` are the exact expected returns of uniformly random actions and of the
    finite-horizon optimum from the env's start distribution, so
    ``minari.get_normalized_score`` puts a return between them. ``compression``: the
    deflate level of the larger arrays (0: none). Returns the dataset directory.
    """
    base = env.unwrapped
    return create_dataset(
        root,
        dataset_id,
        episode_columns(base.model, base.objective, episodes),
        env=env,
        eval_env=env.spec,
        algorithm_name=algorithm,
        author="lever_gym",
        description=description,
        requirements=[f"lever-gym=={__version__}"],
        ref_scores=reference_scores(base),
        compression=compression,
    )


def reference_scores(env: LeverGridEnv) -> tuple[float, float]:
    """``(random, optimum)``: exact mean returns within the horizon from ``env``'s starts."""
    model, horizon = env.model, env.layout.n_cells
    v_rand, v_opt = reference_values(model, env.objective, horizon)
    starts = start_states(model, env.random_start)
    return round(float(v_rand[starts].mean()), 6), round(float(v_opt[starts].mean()), 6)


def read_episodes(ds: Any, fields: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """Yield, per episode of a Minari dataset, the requested arrays.

    Fields are ``observations``, ``actions``, ``rewards``, ``terminations``,
    ``truncations`` or ``infos/<key>``. An hdf5-backed dataset is read straight from its file
    (``minari_hdf5.iter_episodes``: two calls per array instead of Minari's generic
    decoding); other storages go through ``iterate_episodes``.
    """
    path = Path(ds.storage.data_path) / MAIN_FILE
    if ds.storage.metadata.get("data_format") == "hdf5" and path.is_file():
        try:
            yield from iter_episodes(path, fields, ds.episode_indices)
        except MissingFieldsError as exc:
            raise _missing_fields(ds, exc.fields) from None
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
