"""Building a library: train every run, write each policy atomically, index every layout.

Every policy directory is written in a staging folder and renamed into place, and the
manifest is replaced atomically at the end, so an interrupted build leaves no partial
policy and can be resumed: finished policies are kept, the rest are built.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.data.collect import Episodes, collect
from lever_gym.data.minari_hdf5 import NAMESPACE_FILE as NAMESPACE_METADATA
from lever_gym.data.storage import empirical_from_dataset, write_dataset
from lever_gym.errors import LibraryError
from lever_gym.library.config import (
    NAMESPACE,
    BuildConfig,
    PolicyRecord,
    Run,
    derive_seed,
    policy_name,
)
from lever_gym.library.embedding import canonical_states, embed, fit_predictor
from lever_gym.library.executor import run_jobs
from lever_gym.library.files import atomic_path, sha256, write_json_atomic
from lever_gym.library.index import AnnoyBackend, index_paths
from lever_gym.library.store import (
    MANIFEST,
    POLICY_ARRAYS,
    SCHEMA_VERSION,
    Library,
    layout_model,
)
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.support import policy_successor_features
from lever_gym.objective import env_id
from lever_gym.train.tabular import Snapshot, TrainConfig, key_index, train
from lever_gym.version import __version__


def build_library(
    out: str | os.PathLike[str],
    config: BuildConfig | None = None,
    *,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Library:
    """Train every run of ``config`` and write the library at ``out``.

    Runs go to ``executor`` (``local``: ``workers`` processes; ``ray``: one task per run on
    the cluster at ``address``, see ``lever_gym.library.executor``); the library is the same,
    byte for byte, on every executor. Resumes an interrupted build of the same config
    (finished policies are kept). A folder holding a library of another config is refused,
    and a failed build leaves the previous manifest in place. ``progress(done, total)`` is
    called per run.
    """
    config = config or BuildConfig()
    root = Path(out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if (root / MANIFEST).exists():
        previous = Library.load(root).manifest["config"]
        if previous != config.to_dict():
            raise LibraryError(
                f"{root} already holds a library built with another config; choose a new "
                "--out folder or delete that one first (nothing was changed)."
            )
    jobs = [(str(root), config.to_dict(), asdict(run)) for run in config.runs()]
    start = time.perf_counter()
    per_run = run_jobs(
        _build_run, jobs, executor=executor, workers=workers, address=address, progress=progress
    )
    records = [r for run in per_run for r in run]
    index_files = _build_indexes(root, [PolicyRecord.from_dict(r) for r in records], config)
    index_files |= _write_namespaces(root, config)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "lever_gym_version": __version__,
        "config": config.to_dict(),
        "policies": records,
        "index_files": index_files,
    }
    write_json_atomic(root / MANIFEST, manifest)
    lib = Library(root, manifest)
    (root / "README.md").write_text(lib.describe())
    write_json_atomic(root / "build_timing.json", {"seconds": time.perf_counter() - start})
    return lib


def _build_run(job: tuple[str, dict[str, Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """Train one run and write its snapshot policies (skipping finished ones); return records."""
    root_s, config_d, run_d = job
    root = Path(root_s)
    config = BuildConfig.from_dict(config_d)
    run = Run(**run_d)
    every = run.budget // config.snapshots
    episodes_kept = [every * (i + 1) for i in range(config.snapshots)]
    names = {e: policy_name(run, config.algorithm, e) for e in episodes_kept}
    layout_dir = f"{NAMESPACE}/{run.size}x{run.size}-s{run.layout_seed}"
    done = {}
    for e, name in names.items():
        existing = root / layout_dir / f"{name}-v0" / "policy.json"
        if existing.is_file():
            done[e] = json.loads(existing.read_text())
    if len(done) == len(names):
        return [done[e] for e in episodes_kept]

    env = gym.make(
        env_id(run.size, run.objective),
        layout_seed=run.layout_seed,
        random_start=config.data.random_start,
    )
    base = env.unwrapped
    train_cfg = TrainConfig(
        algorithm=config.algorithm,
        gamma=run.gamma,
        episodes=run.budget,
        alpha=config.alpha,
        snapshot_every=every,
        key=config.key,
        random_start=config.random_start,
        seed=derive_seed(
            config.seed, layout_dir, run.objective, run.gamma, run.budget, "train", run.replica
        ),
    )
    result = train(base.model, base.objective, train_cfg)
    keys = key_index(base.model, config.key)
    snapshots = result.snapshots if config.algorithm != "expert" else result.snapshots * len(names)
    records = []
    for e, snap in zip(episodes_kept, snapshots, strict=True):
        if e in done:
            records.append(done[e])
            continue
        dataset_id = f"{layout_dir}/{names[e]}-v0"
        data_seed = derive_seed(config.seed, dataset_id, "data")
        episodes = collect(base.model, snap.q, keys, config.data, data_seed)
        record = PolicyRecord(
            id=f"{run.size}x{run.size}-s{run.layout_seed}/{names[e]}",
            dataset_id=dataset_id,
            **asdict(run),
            weights=base.objective.weights,
            algorithm=config.algorithm,
            snapshot=e,
            key=config.key,
            train_seed=train_cfg.seed,
            data_seed=data_seed,
            train_steps=result.steps,
            greedy_return=round(snap.greedy_return, 10),
            greedy_components=tuple(round(float(x), 10) for x in snap.greedy_components),
            n_episodes=len(episodes.actions),
            n_transitions=episodes.n_transitions,
        )
        description = describe_dataset(run, config, e, snap, episodes, base)
        records.append(
            _write_policy(root, env, record, snap, episodes, description, config.data.compression)
        )
    return records


def describe_dataset(
    run: Run, config: BuildConfig, episode: int, snap: Snapshot, episodes: Episodes, env: Any
) -> str:
    """The dataset's Minari description: the policy, its quality, the data, the scores."""
    greedy_ok = bool(env.model.success(_greedy_end(env.model, snap.q, config.key), env.objective))
    ended = [s[-1] for s, done in zip(episodes.states, episodes.terminated, strict=True) if done]
    succeeded = int(np.sum(env.model.success(np.array(ended, dtype=np.int64), env.objective)))
    starts = "random starts" if config.data.random_start else "the layout's start"
    return (
        f"LeverGrid {run.size}x{run.size}, generated layout {run.layout_seed}: a {run.objective} "
        f"policy ({config.algorithm}, gamma {run.gamma:g}, Q-table after {episode} of "
        f"{run.budget} training episodes, replica {run.replica}). Its greedy policy returns "
        f"{snap.greedy_return:.2f} from the layout's start and "
        f"{'succeeds' if greedy_ok else 'does not succeed'} (every goal of {run.objective} "
        f"met at the exit). {len(episodes.actions)} behaviour episodes with epsilon "
        f"{config.data.epsilon:g} from {starts}: {succeeded} succeed. Per-step infos hold the "
        "state, the cell, the reward components (path, gold, hazard, lever) and success; "
        "ref_min_score and ref_max_score are the exact mean returns of random actions and of "
        "the finite-horizon optimum from this start distribution (minari.get_normalized_score)."
    )


def _greedy_end(model: Any, q: np.ndarray, key: str) -> int:
    """The last state of the greedy rollout of ``q`` from the layout's start."""
    policy = np.argmax(q, axis=1)[key_index(model, key)]
    path = greedy_trajectory(model, policy, model.start_state, model.layout.n_cells)
    if not len(path.states):
        return model.start_state
    return int(model.next_state[path.states[-1], path.actions[-1]])


def _write_policy(
    root: Path,
    env: gym.Env,
    record: PolicyRecord,
    snap: Snapshot,
    episodes: Episodes,
    description: str,
    compression: int,
) -> dict[str, Any]:
    """Write one policy folder in a staging area and rename it into place; return its record."""
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        write_dataset(
            staging, record.dataset_id, env, episodes, algorithm=record.algorithm,
            description=description, compression=compression,
        )  # fmt: skip
        folder = staging / record.dataset_id
        model = env.unwrapped.model
        own = episodes.empirical(model)
        q_rows = snap.q[key_index(model, record.key)[own.state_of_rows()], own.actions_of_rows()]
        np.savez_compressed(
            folder / POLICY_ARRAYS,
            q=snap.q,
            support=episodes.support(model.n_states),
            psi_keys=own.keys,
            psi=policy_successor_features(own, q_rows, model.layout.n_cells),
        )
        files = {
            f"{record.dataset_id}/{rel}": sha256(folder / rel)
            for rel in (POLICY_ARRAYS, "data/main_data.hdf5", "data/metadata.json")
        }
        record_d = {**record.to_dict(), "files": files}
        write_json_atomic(folder / "policy.json", record_d)
        write_json_atomic(folder / "timing.json", {"train_seconds": snap.seconds})
        target = root / record.dataset_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return record_d


def _write_namespaces(root: Path, config: BuildConfig) -> dict[str, str]:
    """Minari namespace metadata for ``lever`` and each layout's namespace; their sha256."""
    described = {
        NAMESPACE: "lever_gym policy library: one dataset per library policy, grouped by layout "
        "(lever/<N>x<N>-s<layout seed>/). Every dataset records per-step state, cell, reward "
        "components and success, so any objective can be relabelled from it.",
        **{
            f"{NAMESPACE}/{n}x{n}-s{s}": f"LeverGrid {n}x{n}, generated layout {s} "
            f"(LeverGrid-{n}x{n}-<Objective>-v0 with layout_seed={s}): the library's "
            f"{', '.join(config.objectives)} policies on it."
            for n in config.sizes
            for s in config.layout_seeds
        },
    }
    out = {}
    for namespace, description in described.items():
        path = root / namespace / NAMESPACE_METADATA
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"description": description})
        out[path.relative_to(root).as_posix()] = sha256(path)
    return out


def _build_indexes(root: Path, records: list[PolicyRecord], config: BuildConfig) -> dict[str, str]:
    """Embed every policy from its own dataset, write one index per layout and the predictor.

    Returns the written files (relative path -> sha256) for the manifest.
    """
    import minari

    files: dict[str, Path] = {}
    embeddings, labels, owns = [], [], []
    layouts = dict.fromkeys((r.size, r.layout_seed) for r in records)
    for size, layout_seed in layouts:
        members = [r for r in records if (r.size, r.layout_seed) == (size, layout_seed)]
        model = layout_model(size, layout_seed)
        own = [
            empirical_from_dataset(minari.MinariDataset(root / r.directory / "data"))
            for r in members
        ]
        union = EmpiricalModel.union(own)
        canonical = canonical_states(union, config.embed)
        matrix = np.array([embed(e, model, canonical, config.embed) for e in own])
        paths = index_paths(root, size, layout_seed)
        paths["folder"].mkdir(parents=True, exist_ok=True)
        with atomic_path(paths["arrays"]) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, embeddings=matrix, canonical=canonical, keys=union.keys,
                next_state=union.next_state, components=union.components,
                terminated=union.terminated, counts=union.counts, starts=union.starts,
            )  # fmt: skip
        forest = AnnoyBackend.build(matrix, n_trees=config.n_trees, seed=config.seed)
        with atomic_path(paths["annoy"]) as tmp:
            forest.save(tmp)
        write_json_atomic(
            paths["meta"],
            {"ids": [r.id for r in members], "dim": config.embed.dim, "metric": forest.metric,
             "max_norm": forest.max_norm, "n_trees": config.n_trees, "seed": config.seed,
             "embed": config.embed.to_dict()},
        )  # fmt: skip
        files.update({str(p): p for k, p in paths.items() if k != "folder"})
        embeddings.append(matrix)
        labels += [r.greedy_components for r in members]
        owns += [r.weights for r in members]
    predictor = fit_predictor(
        np.vstack(embeddings), np.array(labels), np.array(owns), seed=config.seed
    )
    path = root / "index" / "predictor.json"
    write_json_atomic(
        path,
        {"mean": predictor.mean.tolist(), "scale": predictor.scale.tolist(),
         "coef": predictor.coef.tolist(), "cv_mae": predictor.cv_mae,
         "cv_nmae": predictor.cv_nmae, "n_policies": len(labels)},
    )  # fmt: skip
    files[str(path)] = path
    return {Path(k).relative_to(root).as_posix(): sha256(p) for k, p in sorted(files.items())}
