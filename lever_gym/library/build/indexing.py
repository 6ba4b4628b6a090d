"""Writing a library's indexes: each policy's embedding from its own dataset, one Annoy
forest per layout, the union of each layout's datasets, the return predictor, and the Minari
namespace metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lever_gym.data import NAMESPACE_FILE
from lever_gym.data.storage import empirical_from_dataset, open_dataset
from lever_gym.library.embedding import canonical_states, embed, fit_predictor
from lever_gym.library.format.annoy_file import AnnoyFacts
from lever_gym.library.format.config import NAMESPACE, BuildConfig, PolicyRecord, layout_name
from lever_gym.library.format.contents import check_empirical
from lever_gym.library.format.files import (
    atomic_path,
    checked_bytes,
    inside,
    sha256,
    write_json_atomic,
)
from lever_gym.library.format.manifest import (
    INDEX_FILES,
    PREDICTOR,
    embedding_dim,
    index_folder,
    namespaces,
)
from lever_gym.library.index import DEFAULT_METRIC, AnnoyBackend
from lever_gym.library.store import layout_model
from lever_gym.mdp.empirical import EmpiricalModel


def write_namespaces(root: Path, config: BuildConfig) -> dict[str, str]:
    """Minari namespace metadata for ``namespaces(config)``; their sha256 by manifest path."""
    described = {
        NAMESPACE: "lever_gym policy library: one dataset per library policy, grouped by layout "
        "(lever/<N>x<N>-s<layout seed>/). Every dataset records per-step state, cell, reward "
        "components and success, so any objective can be relabelled from it.",
        **{
            f"{NAMESPACE}/{layout_name(n, s)}": f"LeverGrid {n}x{n}, generated layout {s} "
            f"(LeverGrid-{n}x{n}-<Objective>-v0 with layout_seed={s}): the library's "
            f"{', '.join(config.objectives)} policies on it."
            for n in config.sizes
            for s in config.layout_seeds
        },
    }
    out = {}
    for namespace in namespaces(config):
        path = inside(root, f"{namespace}/{NAMESPACE_FILE}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"description": described[namespace]})
        out[path.relative_to(root).as_posix()] = sha256(path)
    return out


def write_indexes(
    root: Path, records: list[PolicyRecord], config: BuildConfig
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Embed every policy from its own dataset (opened through ``open_dataset``, its files
    checked against the records), write one index per layout and the predictor.

    Returns the manifest's ``index_files`` (relative path -> sha256) and ``annoy`` entries.
    """
    files: dict[str, str] = {}
    annoy: dict[str, dict[str, Any]] = {}
    embeddings, labels, owns = [], [], []
    dim = embedding_dim(len(records[0].weights))
    for size, layout_seed in dict.fromkeys(r.layout_key for r in records):
        members = [r for r in records if r.layout_key == (size, layout_seed)]
        model = layout_model(size, layout_seed)
        own = [_own_data(root, r, model.n_states) for r in members]
        union = EmpiricalModel.union(own)
        canonical = canonical_states(union, config.embed)
        matrix = np.array([embed(e, model, canonical, config.embed) for e in own])
        folder = index_folder(size, layout_seed)
        (root / folder).mkdir(parents=True, exist_ok=True)
        inside(root, folder)  # never write into a link out
        with atomic_path(root / folder / "embeddings.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, embeddings=matrix, canonical=canonical)
        with atomic_path(root / folder / "union.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, keys=union.keys, next_state=union.next_state, components=union.components,
                terminated=union.terminated, counts=union.counts, starts=union.starts,
            )  # fmt: skip
        forest = AnnoyBackend.build(
            matrix, n_trees=config.n_trees, seed=config.seed, metric=DEFAULT_METRIC
        )
        with atomic_path(root / folder / "annoy.ann") as tmp:
            forest.save(tmp)
        write_json_atomic(
            root / folder / "index.json",
            {"ids": [r.id for r in members], "dim": dim, "metric": forest.metric,
             "max_norm": forest.max_norm, "n_trees": config.n_trees, "seed": config.seed,
             "embed": config.embed.to_dict()},
        )  # fmt: skip
        files.update({f"{folder}/{n}": sha256(root / folder / n) for n in INDEX_FILES})
        annoy[f"{folder}/annoy.ann"] = AnnoyFacts(
            (root / folder / "annoy.ann").stat().st_size, dim + 1, "angular",
            len(members), config.n_trees,
        ).to_dict()  # fmt: skip
        embeddings.append(matrix)
        labels += [r.greedy_components for r in members]
        owns += [r.weights for r in members]
    predictor = fit_predictor(
        np.vstack(embeddings), np.array(labels), np.array(owns), seed=config.seed
    )
    write_json_atomic(
        root / PREDICTOR,
        {"mean": predictor.mean.tolist(), "scale": predictor.scale.tolist(),
         "coef": predictor.coef.tolist(), "cv_mae": predictor.cv_mae,
         "cv_nmae": predictor.cv_nmae, "n_policies": len(labels)},
    )  # fmt: skip
    files[PREDICTOR] = sha256(root / PREDICTOR)
    return dict(sorted(files.items())), annoy


def _own_data(root: Path, record: PolicyRecord, n_states: int) -> EmpiricalModel:
    """The empirical model of a policy's own dataset, read through the library's checks."""
    data = f"{record.directory}/data"
    meta = checked_bytes(root, f"{data}/metadata.json", record.files[f"{data}/metadata.json"])
    ds = open_dataset(root / data, meta, sha256=record.files[f"{data}/main_data.hdf5"])
    return check_empirical(empirical_from_dataset(ds), n_states, str(root / data))
