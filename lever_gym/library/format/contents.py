"""What a library's files hold, checked once their bytes match the manifest.

A checksum proves a file is the one the manifest lists, not that lever_gym wrote it: an
edited manifest can list any bytes. Before use, every array is checked for its shape,
type and range against the layout it belongs to, and every index file against the
manifest's config, so out-of-range content raises ``LibraryError`` here rather than an
``IndexError`` (or worse) deep inside retrieval or scoring. Arrays are parsed from the
checked bytes (``allow_pickle=False``: no code runs from a library file).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from typing import Any

import numpy as np

import lever_gym.components as reward_components
from lever_gym.checks import json_file
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import LibraryError
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.manifest import embedding_dim, widen
from lever_gym.mdp.empirical import EmpiricalModel


def _refuse(where: str, problem: str) -> LibraryError:
    return LibraryError(
        f"{where} {problem}; lever_gym did not write it. Restore the file or rebuild the library."
    )


def read_npz(raw: bytes, where: str, names: tuple[str, ...], limit: int) -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` bytes ``raw``, read-only; ``LibraryError`` if
    one is missing, damaged, not plain numbers or over ``limit`` bytes unpacked (a small
    file can unpack to gigabytes: reading stops there)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as npz:
            arrays = {}
            for k in names:
                with npz.open(f"{k}.npy") as member:
                    data = member.read(limit + 1)
                if len(data) > limit:
                    raise ValueError(f"{k} unpacks to more than {limit:,} bytes")
                arrays[k] = _npy(data)
    except Exception as e:  # zipfile, zlib and numpy raise a dozen types on damaged input
        raise _refuse(where, f"is not a readable array file ({type(e).__name__}: {e})") from e
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def array_limit(n_states: int) -> int:
    """The most bytes one array of a layout with ``n_states`` states may hold: a value per
    component for every state-action pair (what ``psi`` and an empirical model's
    components reach), and a header."""
    n = max(reward_components.count(), len(reward_components.BUILT_IN))
    return n_states * N_ACTIONS * n * 8 + 4096


def _index(a: np.ndarray) -> np.ndarray:
    """Checked integer indices as read-only int64 (unsigned ones would turn float64 in
    arithmetic with int64)."""
    out = a.astype(np.int64, copy=False)
    out.setflags(write=False)
    return out


_NPY_HEADER = re.compile(
    rb"\x93NUMPY\x01\x00(..)\{'descr': '(<[fiu][248]|\|[biu]1)', 'fortran_order': False, "
    rb"'shape': \((|[0-9]+,|[0-9]+(?:, [0-9]+)+)\), \} *\n",
    re.DOTALL,
)
"""The header numpy writes for a C-ordered array of plain numbers (format 1.0): its length
field, the dtype, the shape."""


def _npy(data: bytes) -> np.ndarray:
    """The array of one ``.npy`` file: the header numpy writes for plain numbers is read
    directly (numpy's reader parses it as Python source, a third of the time of reading a
    library's arrays); any other file goes through ``numpy.lib.format`` (no pickles)."""
    header = _NPY_HEADER.match(data)
    if header is None or header.end() != 10 + int.from_bytes(header[1], "little"):
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    dtype = np.dtype(header[2].decode())
    shape = tuple(int(n) for n in re.findall(rb"[0-9]+", header[3]))
    count = math.prod(shape)
    if len(data) != header.end() + count * dtype.itemsize:
        raise ValueError(f"{len(data) - header.end()} data bytes for shape {shape} of {dtype}")
    return np.frombuffer(data, dtype, count, header.end()).reshape(shape)


def _is(a: np.ndarray, kinds: str, shape: tuple[int | None, ...]) -> bool:
    """``a`` has a dtype kind among ``kinds`` and ``shape`` (``None``: any length)."""
    return (
        a.dtype.kind in kinds
        and a.ndim == len(shape)
        and all(s is None or s == n for s, n in zip(shape, a.shape, strict=True))
        and (a.dtype.kind != "f" or bool(np.isfinite(a).all()))
    )


def _in(a: np.ndarray, high: int) -> bool:
    """Integers in ``[0, high)``."""
    return a.size == 0 or (int(a.min()) >= 0 and int(a.max()) < high)


POLICY_ARRAY_NAMES = ("q_rows", "q_values", "support_keys", "support_counts", "psi_keys", "psi")
"""What a ``policy.npz`` holds. Tables are stored on their nonzero rows only (a Q-table is
zero on the states its training never reached, most of a 16x16 layout's): ``q_rows``
(sorted) and ``q_values``, the nonzero entries of the visit counts as ``support_keys``
(sorted ``state * N_ACTIONS + action``) and ``support_counts``."""


def policy_npz_arrays(
    q: np.ndarray, support: np.ndarray, psi_keys: np.ndarray, psi: np.ndarray
) -> dict[str, np.ndarray]:
    """The arrays of a ``policy.npz`` (``POLICY_ARRAY_NAMES``) for a dense Q-table ``q``
    and dense visit counts ``support``; ``policy_arrays`` gives them back exactly."""
    q = np.ascontiguousarray(q, dtype=np.float64)
    rows = np.flatnonzero((q.view(np.uint64) != 0).any(axis=1))  # -0.0 is kept, bit for bit
    flat = np.ravel(support)
    keys = np.flatnonzero(flat)
    return {
        "q_rows": rows, "q_values": q[rows], "support_keys": keys,
        "support_counts": flat[keys], "psi_keys": psi_keys, "psi": psi,
    }  # fmt: skip


def policy_arrays(
    raw: bytes, where: str, model: TabularModel, key: str, columns: np.ndarray
) -> dict[str, np.ndarray]:
    """The ``POLICY_ARRAY_NAMES`` arrays of a ``policy.npz`` for ``model``, checked: sorted
    rows and keys inside the layout, shapes, types and finite values; ``psi`` (a column per
    recorded component, ``columns``) widened to the registry (``manifest.widen``)."""
    a = read_npz(raw, where, POLICY_ARRAY_NAMES, array_limit(model.n_states))
    n_rows = model.n_states if key == "state" else model.layout.n_cells
    rows, keys, psi_keys = a["q_rows"], a["support_keys"], a["psi_keys"]
    ok = (
        _is(rows, "iu", (None,))
        and _in(rows, n_rows)
        and _increasing(rows)
        and _is(a["q_values"], "f", (len(rows), N_ACTIONS))
        and _is(keys, "iu", (None,))
        and _in(keys, model.n_states * N_ACTIONS)
        and _increasing(keys)
        and _is(a["support_counts"], "iu", (len(keys),))
        and _in(a["support_counts"], 2**31)
        and _is(psi_keys, "iu", (None,))
        and _in(psi_keys, model.n_states * N_ACTIONS)
        and _increasing(psi_keys)
        and _is(a["psi"], "f", (len(psi_keys), len(columns)))
    )
    if not ok:
        raise _refuse(where, "holds arrays of the wrong shape, type or range for its layout")
    out = {k: _index(v) if k in ("q_rows", "support_keys", "psi_keys") else v for k, v in a.items()}
    out["psi"] = widen(out["psi"], columns)
    return out


def dense_tables(
    arrays: dict[str, np.ndarray], n_q_rows: int, n_states: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(q, support)`` as dense read-only tables: ``(n_q_rows, A)`` Q-values and
    ``(n_states, A)`` int32 visit counts, zero where nothing is stored."""
    q = np.zeros((n_q_rows, N_ACTIONS))
    q[arrays["q_rows"]] = arrays["q_values"]
    support = np.zeros(n_states * N_ACTIONS, dtype=np.int32)
    support[arrays["support_keys"]] = arrays["support_counts"]
    q.setflags(write=False)
    support.setflags(write=False)
    return q, support.reshape(-1, N_ACTIONS)


def _increasing(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] > a[:-1]))  # not np.diff: it wraps around for unsigned types


def check_empirical(emp: EmpiricalModel, n_states: int, where: str) -> EmpiricalModel:
    """``emp`` if its states and pairs lie in a layout of ``n_states`` states (components:
    one column or more each)."""
    n = len(emp.keys)
    ok = (
        _is(emp.keys, "iu", (n,))
        and _in(emp.keys, n_states * N_ACTIONS)
        and _increasing(emp.keys)
        and _is(emp.next_state, "iu", (n,))
        and _in(emp.next_state, n_states)
        and _is(emp.components, "f", (n, None))
        and emp.components.shape[1] >= 1
        and _is(emp.terminated, "b", (n,))
        and _is(emp.counts, "iu", (n,))
        and _in(emp.counts, 2**62)
        and _is(emp.starts, "iu", (None,))
        and _in(emp.starts, n_states)
        and bool(np.isin(emp.starts, emp.keys // N_ACTIONS).all())  # an episode's first state
    )
    if not ok:
        raise _refuse(where, "records transitions outside its layout")
    return emp


INDEX_ARRAYS = ("embeddings", "canonical")
UNION_ARRAYS = ("keys", "next_state", "components", "terminated", "counts", "starts")


def index_arrays(
    raw: bytes, where: str, n_ids: int, dim: int, n_states: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings, canonical)`` of a layout's ``embeddings.npz`` (``dim``: the embedding
    length the manifest implies)."""
    a = read_npz(raw, where, INDEX_ARRAYS, array_limit(n_states))
    ok = _is(a["embeddings"], "f", (n_ids, dim)) and _is(a["canonical"], "iu", (None,))
    if not ok or not _in(a["canonical"], n_states):
        raise _refuse(where, "holds embeddings of the wrong shape or canonical states out of range")
    return a["embeddings"], _index(a["canonical"])


def union_arrays(raw: bytes, where: str, n_states: int, columns: np.ndarray) -> EmpiricalModel:
    """The union of a layout's datasets (its ``union.npz``), components widened to the
    registry (``manifest.widen``)."""
    a = read_npz(raw, where, UNION_ARRAYS, array_limit(n_states))
    union = check_empirical(EmpiricalModel(*(a[k] for k in UNION_ARRAYS)), n_states, where)
    return EmpiricalModel(
        _index(union.keys), _index(union.next_state), widen(union.components, columns),
        union.terminated, _index(union.counts), _index(union.starts),
    )  # fmt: skip


def index_meta(
    raw: bytes, where: str, ids: list[str], config: BuildConfig, dim: int, metric: str
) -> dict[str, Any]:
    """A layout's ``index.json``: it must name the layout's policies in manifest order, the
    embedding length ``dim``, ``metric`` and the config's embedding, trees and seed;
    ``max_norm`` a positive number."""
    meta = json_file(raw, where)
    expected = {
        "ids": ids, "dim": dim, "metric": metric,
        "n_trees": config.n_trees, "seed": config.seed, "embed": config.embed.to_dict(),
    }  # fmt: skip
    if not isinstance(meta, dict) or set(meta) != {*expected, "max_norm"}:
        raise _refuse(where, f"must hold exactly {sorted({*expected, 'max_norm'})}")
    for name, value in expected.items():
        if meta[name] != value or type(meta[name]) is not type(value):
            raise _refuse(
                where, f"records {name} {meta[name]!r} where the manifest implies {value!r}"
            )
    norm = meta["max_norm"]
    if type(norm) not in (int, float) or not 0 < norm < 1e300:
        raise _refuse(where, f"records max_norm {norm!r}, not a positive number")
    return meta


def predictor_arrays(raw: bytes, where: str, columns: np.ndarray) -> dict[str, Any]:
    """The return predictor of ``index/predictor.json`` (``mean``, ``scale``, ``coef``,
    ``cv_mae``, ``cv_nmae``) for a library recording the components ``columns``, widened to
    the registry: a component it does not record gets mean 0, scale 1 and zero coefficients."""
    data = json_file(raw, where)
    dim = embedding_dim(len(columns))
    shapes = {"mean": (dim,), "scale": (dim,), "coef": (dim + 1, len(columns))}
    try:
        arrays = {k: np.array(data[k], dtype=np.float64) for k in shapes}
        scores = {k: float(data[k]) for k in ("cv_mae", "cv_nmae")}
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise _refuse(where, f"is not a predictor ({type(e).__name__}: {e})") from e
    if (
        not all(_is(arrays[k], "f", s) for k, s in shapes.items())
        or not np.isfinite(list(scores.values())).all()
    ):
        raise _refuse(where, "holds arrays of the wrong shape or non-finite numbers")
    if np.any(arrays["scale"] == 0):
        raise _refuse(where, "has a zero scale")
    return {
        "mean": _widen_embedding(arrays["mean"], columns, 0.0),
        "scale": _widen_embedding(arrays["scale"], columns, 1.0),
        "coef": widen(_widen_embedding(arrays["coef"].T, columns, 0.0).T, columns),
        **scores,
    }


def _widen_embedding(values: np.ndarray, columns: np.ndarray, fill: float) -> np.ndarray:
    """``values`` along an embedding's axis (last axis: the recorded components, then the state
    features, then anything after them) with the components on the registry's columns."""
    k, n = len(columns), reward_components.count()
    if k == n and np.array_equal(columns, np.arange(n)):
        return values
    head = np.full((*values.shape[:-1], n), fill)
    head[..., columns] = values[..., :k]
    return np.concatenate([head, values[..., k:]], axis=-1)
