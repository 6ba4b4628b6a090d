"""Minari storage of behaviour episodes, and reading them back.

A library policy's dataset holds ε-greedy episodes of that policy, a Minari hdf5 dataset
written in one pass by ``lever_gym.data.minari_hdf5`` (the layout and metadata
``minari.create_dataset_from_buffers`` writes). Per-step infos keep ``state``, ``cell``,
``reward_components`` and ``is_success``, so any objective can be relabelled exactly from
stored data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.checks import json_file
from lever_gym.data.collect import Episodes
from lever_gym.data.minari_hdf5 import (
    MAIN_FILE,
    EpisodeColumns,
    MissingFieldsError,
    create_dataset,
    iter_episodes,
)
from lever_gym.envs.grid import LeverGridEnv, lever_env
from lever_gym.envs.layout import MIN_SIZE
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.envs.registration import ENTRY_POINT, RANDOM_ENTRY_POINT, VECTOR_ENTRY_POINT
from lever_gym.envs.views import MAX_OBS_DIM
from lever_gym.errors import LibraryError
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.horizon import reference_values, start_states
from lever_gym.objective import Objective, weighted
from lever_gym.version import __version__


def episode_buffers(model: TabularModel, objective: Objective, episodes: Episodes) -> list[Any]:
    """Minari ``EpisodeBuffer``s of ``episodes``, rewards under ``objective``: for Minari's
    own writers (``create_dataset_from_buffers``, any storage); one buffer per episode of
    the arrays of ``episode_columns``."""
    from minari.data_collector import EpisodeBuffer

    columns = episode_columns(model, objective, episodes)
    seeds = np.zeros(len(columns.lengths), np.int64) if columns.seeds is None else columns.seeds
    steps = np.concatenate([[0], np.cumsum(columns.lengths)])
    rows = np.concatenate([[0], np.cumsum(columns.lengths + 1)])
    return [
        EpisodeBuffer(
            id=i,
            seed=int(seeds[i]),
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
    comps = np.zeros((len(states), c.shape[1]))
    after_reset = np.ones(len(states), dtype=np.bool_)
    after_reset[last_row - lengths] = False
    comps[after_reset] = c
    success = np.zeros(len(states), dtype=np.bool_)
    success[last_row[ended]] = model.success(states[last_row[ended]], objective)
    term = np.zeros(len(actions), dtype=np.bool_)
    term[last_step[ended]] = True
    trunc = np.zeros(len(actions), dtype=np.bool_)
    # TimeLimit truncates at the horizon even when that last step also terminates
    trunc[last_step[~ended | (lengths == model.layout.n_cells)]] = True
    return EpisodeColumns(
        lengths=lengths,
        seeds=np.array(episodes.seeds, dtype=np.int64),
        observations=model.space.observe(states),
        actions=actions,
        rewards=weighted(c, objective.weights),
        terminations=term,
        truncations=trunc,
        infos={
            "state": states,
            "cell": model.space.cell_of(states),
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
    base = lever_env(env)
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


ENV_ENTRY_POINTS = (ENTRY_POINT, RANDOM_ENTRY_POINT)
"""The only env entry points a dataset lever_gym opens may name."""
_EXPECTED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
"""sha256 of the HDF5 file of each dataset opened by ``open_dataset`` with a digest."""


def _refuse(where: str, problem: str) -> LibraryError:
    return LibraryError(
        f"{where} {problem}; lever_gym opens only the Minari datasets of its own envs, as it "
        "writes them. Restore the file or rebuild the library."
    )


def check_metadata(raw: bytes, where: str) -> tuple[dict[str, Any], gym.Space, gym.Space]:
    """The metadata of a lever_gym Minari dataset and its two spaces, checked before Minari
    reads it: hdf5 data, the spaces lever_gym writes (so opening never makes an env), and
    env specs naming only lever_gym's entry points, with no extra wrappers."""
    meta = json_file(raw, where)
    kinds = {"data_format": str, "dataset_id": str, "minari_version": str, "env_spec": str,
             "observation_space": str, "action_space": str, "total_episodes": int,
             "total_steps": int}  # fmt: skip
    if not isinstance(meta, dict) or not all(
        type(meta.get(k)) is kind and (kind is str or meta[k] >= 0) for k, kind in kinds.items()
    ):
        raise _refuse(where, f"lacks one of {sorted(kinds)} or has it of the wrong type")
    if meta["data_format"] != "hdf5":
        raise _refuse(where, f"stores {meta['data_format']!r} data, not 'hdf5'")
    for key in ("env_spec", "eval_env_spec"):
        if key in meta and not _our_spec(meta[key], f"{where} {key}"):
            raise _refuse(where, f"has an {key} that does not make a LeverGrid env as written")
    box = json_file(meta["observation_space"], f"{where} observation_space")
    dim = box.get("shape") if isinstance(box, dict) else None
    ok = (
        isinstance(dim, list) and len(dim) == 1 and type(dim[0]) is int
        and 2 * MIN_SIZE + 1 <= dim[0] <= MAX_OBS_DIM
        and box == {"type": "Box", "dtype": "float32", "shape": dim, "low": [0.0] * dim[0],
                    "high": [1.0] * dim[0]}
    )  # fmt: skip
    actions = {"type": "Discrete", "dtype": "int64", "start": 0, "n": N_ACTIONS}
    if not ok or json_file(meta["action_space"], f"{where} action_space") != actions:
        raise _refuse(where, "has spaces other than LeverGrid's Box and Discrete(4)")
    n_obs = dim[0] if isinstance(dim, list) else 0
    box_space = gym.spaces.Box(0.0, 1.0, shape=(n_obs,), dtype=np.float32)
    return meta, box_space, gym.spaces.Discrete(N_ACTIONS)


def _our_spec(text: object, where: str) -> bool:
    """Whether ``text`` is an env spec lever_gym writes: one of ``ENV_ENTRY_POINTS``, its vector
    entry point or none, no extra wrappers."""
    spec = json_file(text, where) if isinstance(text, str) else None
    return (
        isinstance(spec, dict)
        and spec.get("entry_point") in ENV_ENTRY_POINTS
        and spec.get("vector_entry_point") in (VECTOR_ENTRY_POINT, None)
        and spec.get("additional_wrappers") == []
        and isinstance(spec.get("kwargs"), dict)
    )


def open_dataset(
    folder: str | os.PathLike[str], metadata: bytes | None = None, sha256: str | None = None
) -> Any:
    """The ``MinariDataset`` in ``folder`` (its ``data`` directory), opened safely.

    ``metadata``: the bytes of its ``metadata.json`` if already read (and checked against a
    manifest), else read here. ``check_metadata`` runs before Minari sees the folder, Minari
    gets the checked spaces (it makes no env), and the specs it parsed are checked again.
    ``sha256``: the digest of ``main_data.hdf5``; ``read_episodes`` then checks the bytes it
    parses against it. Raises ``LibraryError``.
    """
    import minari
    from minari.dataset._storages import get_minari_storage  # minari 0.5's hdf5 reader

    path = Path(folder)
    where = str(path / "metadata.json")
    try:
        raw = (path / "metadata.json").read_bytes() if metadata is None else metadata
        meta, obs_space, act_space = check_metadata(raw, where)
        storage = get_minari_storage("hdf5")(
            path, obs_space, act_space, jpeg_encoding=bool(meta.get("jpeg_encoding", True))
        )
        ds = minari.MinariDataset(storage)
    except LibraryError:
        raise
    except Exception as e:  # Minari and h5py raise many types on a damaged folder
        raise LibraryError(
            f"cannot open the Minari dataset in {path} ({type(e).__name__}: {e})."
        ) from e
    for spec in (ds.env_spec, getattr(ds, "_eval_env_spec", None)):
        if spec is not None and (
            spec.entry_point not in ENV_ENTRY_POINTS or spec.additional_wrappers
        ):
            raise _refuse(where, f"changed while it was read (entry point {spec.entry_point!r})")
    if sha256 is not None:
        _EXPECTED[ds] = sha256
    return ds


def read_episodes(ds: Any, fields: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """Yield, per episode of a Minari dataset, the requested arrays.

    Fields are ``observations``, ``actions``, ``rewards``, ``terminations``,
    ``truncations`` or ``infos/<key>``. An hdf5-backed dataset is read straight from its file
    (``minari_hdf5.iter_episodes``: two calls per array instead of Minari's generic
    decoding), checked first against the digest it was opened with (``open_dataset``) and
    parsed from the checked bytes; other storages go through ``iterate_episodes``.
    Unreadable data raises ``LibraryError``.
    """
    path = Path(ds.storage.data_path) / MAIN_FILE
    if ds.storage.metadata.get("data_format") == "hdf5" and path.is_file():
        image = None
        if ds in _EXPECTED:
            image = path.read_bytes()
            if hashlib.sha256(image).hexdigest() != _EXPECTED[ds]:
                raise LibraryError(
                    f"{path} differs from the manifest's sha256 (edited or truncated); "
                    "rebuild the library or restore the file."
                )
        try:
            yield from iter_episodes(path, fields, ds.episode_indices, image)
        except MissingFieldsError as exc:
            raise _missing_fields(ds, exc.fields) from None
        except LibraryError:
            raise
        except Exception as e:  # h5py raises many types on a damaged file
            raise LibraryError(
                f"cannot read the episodes of {path} ({type(e).__name__}: {e})."
            ) from e
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
