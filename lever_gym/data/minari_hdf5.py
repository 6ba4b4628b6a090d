"""Minari hdf5 datasets written and read directly with h5py, many episodes per call.

``create_dataset`` writes what ``minari.create_dataset_from_buffers`` (minari 0.5, hdf5
storage) writes: ``<root>/<dataset_id>/data/main_data.hdf5`` with one group
``episode_<i>`` per episode (attributes ``id``, ``seed``, ``total_steps``; arrays
``observations``, ``actions``, ``rewards``, ``terminations``, ``truncations``; a group
``infos`` of per-step arrays), ``data/metadata.json`` with the keys, key order and values
Minari writes, and the namespaces' ``namespace_metadata.json``. ``minari.load_dataset``,
``MinariDataset``, ``recover_environment()`` and the ``minari`` command read it unchanged.

What differs from Minari's own writer is physical only: arrays below ``COMPACT_LIMIT``
bytes live inside their object header, larger ones are contiguous (Minari: chunked and
resizable), objects carry no timestamps and the file format is pinned to HDF5 1.8, so the
same episodes give the same bytes. The file is written in one pass from arrays that hold
every episode end to end, and the dataset directory appears at once (``os.replace``).

``iter_episodes`` reads chosen arrays of any Minari hdf5 file with two calls per array.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from h5py import h5a, h5d, h5f, h5g, h5p, h5s, h5t
from minari.dataset.minari_dataset import parse_dataset_id
from minari.serialization import serialize_space

from lever_gym.data import MAIN_FILE, METADATA_FILE, NAMESPACE_FILE
from lever_gym.data.metadata import dataset_metadata
from lever_gym.errors import ConfigError, LibraryError

COMPACT_LIMIT = 60_000
"""Arrays below this many bytes are stored inside their object header (limit: 64 KiB)."""
COMPRESS_FROM = 256
"""With compression, arrays of at least this many bytes are stored as one deflated chunk."""
STEP_FIELDS = ("actions", "rewards", "terminations", "truncations")
"""Arrays with one row per step; ``observations`` and ``infos`` have one more per episode."""


@dataclass(frozen=True, eq=False)
class EpisodeColumns:
    """Every episode of a dataset, each array holding all episodes end to end.

    Episode ``i`` has ``lengths[i]`` steps: that many rows of ``actions``, ``rewards``,
    ``terminations`` and ``truncations``, and one more of ``observations`` and of each
    ``infos`` array (the observation and info after reset, then one per step), in episode
    order. ``seeds[i]`` is the episode's reset seed (``None``: no seeds stored). Arrays are
    stored with their own dtypes; only numeric and bool arrays are accepted.
    """

    lengths: np.ndarray
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: Mapping[str, np.ndarray] = field(default_factory=dict)
    seeds: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Check row counts, dtypes and lengths; make arrays C-contiguous."""
        lengths = np.asarray(self.lengths)
        if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or not lengths.size:
            raise ConfigError(
                f"lengths must be a non-empty 1-d integer array; got {lengths.dtype} of shape "
                f"{lengths.shape}. Pass one step count per episode."
            )
        if lengths.min() < 1:
            raise ConfigError(
                f"every episode needs at least one step (Minari cannot store an empty one); "
                f"episode {int(np.argmin(lengths))} has {int(lengths.min())}. Drop it."
            )
        object.__setattr__(self, "lengths", lengths.astype(np.int64))
        steps = int(lengths.sum())
        rows = {name: steps for name in STEP_FIELDS}
        rows["observations"] = steps + len(lengths)
        rows |= {f"infos/{key}": steps + len(lengths) for key in self.infos}
        for name, want in rows.items():
            array = np.ascontiguousarray(self.array(name))
            if array.ndim == 0 or len(array) != want or array.dtype.kind not in "biuf":
                raise ConfigError(
                    f"{name} must be a numeric array of {want} rows for these lengths; got "
                    f"{array.dtype} of shape {array.shape}. Stack the episodes' arrays end to "
                    "end (observations and infos have one more row per episode than steps)."
                )
            self._set(name, array)
        if self.seeds is not None:
            seeds = np.asarray(self.seeds)
            if seeds.shape != lengths.shape or seeds.dtype.kind not in "iu":
                raise ConfigError(
                    f"seeds must hold one integer per episode ({len(lengths)}); got "
                    f"{seeds.dtype} of shape {seeds.shape}. Pass None to store no seeds."
                )
            object.__setattr__(self, "seeds", seeds.astype(np.int64))

    def array(self, name: str) -> np.ndarray:
        """The array called ``name`` (``observations``, ..., or ``infos/<key>``)."""
        if name.startswith("infos/"):
            return self.infos[name[6:]]
        return getattr(self, name)

    def _set(self, name: str, array: np.ndarray) -> None:
        if name.startswith("infos/"):
            object.__setattr__(self, "infos", {**self.infos, name[6:]: array})
        else:
            object.__setattr__(self, name, array)

    @property
    def total_steps(self) -> int:
        """Number of steps over all episodes."""
        return int(self.lengths.sum())


def create_dataset(
    root: str | os.PathLike[str],
    dataset_id: str,
    episodes: EpisodeColumns,
    *,
    env: gym.Env,
    eval_env: str | gym.Env | EnvSpec | None = None,
    algorithm_name: str | None = None,
    author: str | set[str] | None = None,
    author_email: str | set[str] | None = None,
    code_permalink: str | None = None,
    description: str | None = None,
    requirements: Sequence[str] | None = None,
    ref_scores: tuple[float, float] | None = None,
    compression: int = 0,
) -> Path:
    """Write ``episodes`` as Minari dataset ``dataset_id`` under ``root``; return its directory.

    Arguments mean what they mean to ``minari.create_dataset_from_buffers`` (with
    ``MINARI_DATASETS_PATH=root``), and the metadata holds the keys it writes, in its order
    (``dataset_metadata``; Minari's public API has no function that builds them); ``env`` must
    have a JSON-serialisable spec, so ``recover_environment()`` works. Sets of authors are
    stored sorted (Minari: in set order). The dataset must not exist yet. Namespace
    metadata is created as Minari creates it; the dataset directory itself appears whole
    or not at all. ``ref_scores``: ``(ref_min_score, ref_max_score)``, which
    ``minari.get_normalized_score`` maps to 0 and 1 (Minari then runs no rollouts).
    ``compression`` (0-9): the deflate level of arrays of ``COMPRESS_FROM`` bytes or more
    (0: none; Minari and h5py read either transparently).
    """
    try:
        namespace = parse_dataset_id(dataset_id)[0]
    except ValueError as exc:
        raise ConfigError(f"{exc} Got {dataset_id!r}.") from None
    target = Path(root, dataset_id)
    if target.exists():
        raise LibraryError(
            f"a dataset already exists at {target}; a Minari dataset cannot be overwritten. "
            "Choose another dataset id (or version), or delete the old one first."
        )
    env_spec = _spec_json(env)
    metadata: dict[str, Any] = {
        "total_episodes": len(episodes.lengths),
        "total_steps": episodes.total_steps,
        "data_format": "hdf5",
        "jpeg_encoding": True,
        "observation_space": serialize_space(env.observation_space),
        "action_space": serialize_space(env.action_space),
        "env_spec": env_spec,
    }
    metadata |= dataset_metadata(
        dataset_id, eval_env if eval_env is not None else _spec(env),
        algorithm_name=algorithm_name, author=author, author_email=author_email,
        code_permalink=code_permalink, description=description, requirements=requirements,
        ref_scores=ref_scores,
    )  # fmt: skip

    _create_namespaces(Path(root), namespace)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        data = staging / "data"
        data.mkdir()
        write_hdf5(data / MAIN_FILE, episodes, compression)
        text = json.dumps(metadata)
        # Minari measures the folder after writing the file, before adding dataset_size.
        size = (data / MAIN_FILE).stat().st_size + len(text.encode())
        metadata["dataset_size"] = float(np.round(size / 1e6, 1))
        (data / METADATA_FILE).write_text(json.dumps(metadata))
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _spec(env: gym.Env) -> EnvSpec:
    """The env's spec, or ``ConfigError`` if it has none."""
    if env.spec is None:
        raise ConfigError(
            "the env has no spec; make it with gym.make so that the dataset can store it and "
            "recover_environment() can rebuild it."
        )
    return env.spec


def _spec_json(env: gym.Env) -> str:
    """The env's spec as JSON, or ``ConfigError`` if it has none or it is not JSON-plain."""
    spec = _spec(env)
    try:
        return spec.to_json()
    except TypeError as exc:
        raise ConfigError(
            f"the spec of {spec.id!r} is not JSON-serialisable ({exc}); make the env with "
            "JSON-plain keyword arguments so that recover_environment() can rebuild it."
        ) from None


def _create_namespaces(root: Path, namespace: str | None) -> None:
    """Give ``namespace`` and each parent lacking one a ``{}`` namespace file, as Minari does."""
    if namespace is None or (root / namespace / NAMESPACE_FILE).is_file():
        return
    parts = namespace.split("/")
    for depth in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:depth], NAMESPACE_FILE)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{NAMESPACE_FILE}.{os.getpid()}")
            tmp.write_text("{}")
            os.replace(tmp, path)


def write_hdf5(path: Path, episodes: EpisodeColumns, compression: int = 0) -> None:
    """Write the episode groups of ``episodes`` to a new hdf5 file at ``path``; with
    ``compression`` (a deflate level), arrays of ``COMPRESS_FROM`` bytes or more are one
    shuffled, deflated chunk (file format HDF5 1.10, whose single-chunk index is small)."""
    fcpl = h5p.create(h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5p.create(h5p.FILE_ACCESS)
    libver = h5f.LIBVER_V110 if compression else h5f.LIBVER_V18
    fapl.set_libver_bounds(libver, libver)
    fapl.set_fclose_degree(h5f.CLOSE_STRONG)
    gcpl = h5p.create(h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    compact = h5p.create(h5p.DATASET_CREATE)
    compact.set_layout(h5d.COMPACT)
    compact.set_obj_track_times(False)
    contiguous = h5p.create(h5p.DATASET_CREATE)
    contiguous.set_obj_track_times(False)

    step_ends = np.cumsum(episodes.lengths).tolist()
    row_ends = np.cumsum(episodes.lengths + 1).tolist()
    layout = [
        ("observations", True),
        *((name, False) for name in STEP_FIELDS),
        *((f"infos/{key}", True) for key in episodes.infos),
    ]
    columns: list[tuple[bytes, bool, np.ndarray, Any]] = []  # name, a row per step + 1?, ...
    for name, per_row in layout:
        array = episodes.array(name)
        dtype = h5t.py_create(array.dtype, logical=True)
        columns.append((name.rpartition("/")[2].encode(), per_row, array, dtype))
    first_info = 1 + len(STEP_FIELDS)
    int64 = h5t.py_create(np.dtype(np.int64))
    scalar = h5s.create(h5s.SCALAR)
    seeds = None if episodes.seeds is None else episodes.seeds.tolist()

    def put(group: Any, name: bytes, data: np.ndarray, dtype: Any) -> None:
        if compression and data.nbytes >= COMPRESS_FROM:
            dcpl = h5p.create(h5p.DATASET_CREATE)
            dcpl.set_obj_track_times(False)
            dcpl.set_chunk(data.shape)
            dcpl.set_shuffle()
            dcpl.set_deflate(compression)
        else:
            dcpl = compact if data.nbytes < COMPACT_LIMIT else contiguous
        space = h5s.create_simple(data.shape)
        h5d.create(group, name, dtype, space, dcpl=dcpl).write(h5s.ALL, h5s.ALL, data)

    def attr(group: Any, name: bytes, value: int) -> None:
        h5a.create(group, name, int64, scalar).write(np.array(value, dtype=np.int64))

    fid = h5f.create(os.fsencode(path), h5f.ACC_EXCL, fcpl=fcpl, fapl=fapl)
    try:
        s0 = r0 = 0
        for i, (s1, r1) in enumerate(zip(step_ends, row_ends, strict=True)):
            group = h5g.create(fid, b"episode_%d" % i, gcpl=gcpl)
            attr(group, b"id", i)
            if seeds is not None:
                attr(group, b"seed", seeds[i])
            attr(group, b"total_steps", s1 - s0)
            info = None
            for k, (label, per_row, array, dtype) in enumerate(columns):
                if k == first_info:
                    info = h5g.create(group, b"infos", gcpl=gcpl)
                part = array[r0:r1] if per_row else array[s0:s1]
                put(group if info is None else info, label, part, dtype)
            s0, r0 = s1, r1
    finally:
        fid.close()


class MissingFieldsError(LibraryError):
    """An episode of an hdf5 dataset lacks requested arrays (``fields`` names them)."""

    def __init__(self, path: Path, episode: int, fields: Sequence[str]) -> None:
        self.fields = list(fields)
        super().__init__(
            f"episode_{episode} of {path} has no {', '.join(fields)}; ask only for arrays "
            "every episode stores (observations, actions, rewards, terminations, "
            "truncations, infos/<key>)."
        )


def iter_episodes(
    path: str | os.PathLike[str],
    fields: Sequence[str],
    episode_indices: Iterable[int],
    image: bytes | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield, per episode of the Minari hdf5 file ``path``, the arrays ``fields`` as stored.

    ``image``: the file's bytes, already read (and checked); parsed in memory, so what is
    parsed is what was checked. ``path`` then only names the file in errors.

    ``fields`` are paths inside an episode group (``observations``, ``infos/state``, ...)
    of numeric or bool arrays. Every episode's array of a field takes the dtype of the
    first episode's (HDF5 converts, as it does for any Minari file of mixed dtypes).
    Raises ``MissingFieldsError`` at the first episode lacking a field, ``LibraryError``
    for a missing episode or a non-numeric array.
    """
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5f.CLOSE_STRONG)
    name = os.fsencode(path)
    if image is not None:  # in memory, under a name no file can have (below a file)
        fapl.set_fapl_core(backing_store=False)
        fapl.set_file_image(image)
        name += b"/in-memory-image"
    names = [f.encode() for f in fields]
    dtypes: list[np.dtype | None] = [None] * len(names)
    fid = h5f.open(name, h5f.ACC_RDONLY, fapl=fapl)
    try:
        for index in episode_indices:
            i = int(index)
            try:
                group = h5g.open(fid, b"episode_%d" % i)
            except (KeyError, ValueError):
                raise LibraryError(
                    f"{path} has no episode_{i}; its metadata.json counts more episodes than "
                    "the file holds. Rewrite the dataset."
                ) from None
            out, missing = {}, []
            for k, (name, key) in enumerate(zip(names, fields, strict=True)):
                try:
                    dataset = h5d.open(group, name)
                except (KeyError, ValueError, TypeError):
                    missing.append(key)
                    continue
                dtype = dtypes[k]
                if dtype is None:
                    dtype = dtypes[k] = dataset.dtype
                    if dtype.kind not in "biuf":
                        raise LibraryError(
                            f"{key} of {path} holds {dtype} values; this reader reads numeric "
                            "arrays only. Read it with MinariDataset.iterate_episodes()."
                        )
                # Allocate from the stored shape: a low-level read fills the whole buffer.
                out[key] = array = np.empty(dataset.shape, dtype=dtype)
                dataset.read(h5s.ALL, h5s.ALL, array)
            if missing:
                raise MissingFieldsError(Path(path), i, missing)
            yield out
    finally:
        fid.close()
