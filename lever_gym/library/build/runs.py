"""One training run of a library build: train, collect each snapshot's dataset, write each
policy folder in the staging area and rename it into place (``build_run``, what an executor
runs); finished policies whose files still match their recorded digests are kept."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.components as reward_components
from lever_gym.checks import json_file
from lever_gym.data.collect import Episodes, collect
from lever_gym.data.storage import write_dataset
from lever_gym.envs.grid import lever_env
from lever_gym.envs.registration import register_envs
from lever_gym.errors import ConfigError, LeverGymError, LibraryError
from lever_gym.library.build.staging import (
    BUILD,
    ledger_entry,
)
from lever_gym.library.format.config import (
    NAMESPACE,
    BuildConfig,
    PolicyRecord,
    Run,
    derive_seed,
    layout_name,
    policy_id,
)
from lever_gym.library.format.contents import policy_npz_arrays
from lever_gym.library.format.files import (
    checked_bytes,
    checked_file,
    inside,
    sha256,
    write_json_atomic,
)
from lever_gym.library.format.manifest import DATA_FILES, POLICY_ARRAYS
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.support import policy_successor_features
from lever_gym.objective import Objective, env_id
from lever_gym.train.tabular import Snapshot, TrainConfig, key_index, train

POLICY_FILES = (POLICY_ARRAYS, "data/main_data.hdf5", "data/metadata.json")
"""The files ``policy.json`` checksums (the manifest adds ``policy.json`` itself)."""


def _expected(config: BuildConfig, run: Run, snapshot: int) -> dict[str, Any]:
    """The fields of a policy's record that its config and run determine."""
    pid = policy_id(run, config.algorithm, snapshot)
    dataset_id = f"{NAMESPACE}/{pid}-v0"
    layout_dir = f"{NAMESPACE}/{layout_name(run.size, run.layout_seed)}"
    return {
        "id": pid, "dataset_id": dataset_id, **asdict(run),
        "weights": Objective.named(run.objective).weights, "algorithm": config.algorithm,
        "snapshot": snapshot, "key": config.key, "n_episodes": config.data.episodes,
        "train_seed": derive_seed(
            config.seed, layout_dir, run.objective, run.gamma, run.budget, "train", run.replica
        ),
        "data_seed": derive_seed(config.seed, dataset_id, "data"),
    }  # fmt: skip


def _finished(root: Path, expected: dict[str, Any], digest: str | None) -> dict[str, Any] | None:
    """The manifest record of a finished policy, or ``None`` if it is still to build.

    A policy is finished when the ledger holds its ``policy.json`` digest and its folder is
    in place; a folder without a digest, an edited ``policy.json``, a record other than its
    config's or an altered file is refused (``LibraryError``)."""
    dataset_id = expected["dataset_id"]
    folder = root / dataset_id
    redo = f"delete {folder} to build it again, or pass --force to start over"
    if digest is None:
        if folder.exists():
            raise LibraryError(f"{folder} was not written by this build; {redo}.")
        return None
    if not folder.exists():
        return None  # killed after recording its digest, before the rename: build it again
    where = str(folder / "policy.json")
    try:
        raw = checked_bytes(root, f"{dataset_id}/policy.json", digest)
        record = PolicyRecord.from_dict(json_file(raw, where))
    except LeverGymError as e:
        raise LibraryError(f"a finished policy does not match its checksum ({e}); {redo}.") from e
    if {k: getattr(record, k) for k in expected} != expected:
        raise LibraryError(f"{where} is not the record this config gives that policy; {redo}.")
    try:
        names = sorted(p.name for p in (folder / "data").iterdir())
    except OSError as e:
        raise LibraryError(f"{folder} lacks its dataset folder ({e}); {redo}.") from e
    wanted = {f"{dataset_id}/{name}" for name in POLICY_FILES}
    if set(record.files) != wanted or names != sorted(DATA_FILES):
        raise LibraryError(f"{folder} holds files its record does not list; {redo}.")
    for rel, file_digest in record.files.items():
        try:
            checked_file(root, rel, file_digest)
        except LibraryError as e:
            raise LibraryError(f"{e} It belongs to a finished policy: {redo}.") from e
    return {**record.to_dict(), "files": {**record.files, f"{dataset_id}/policy.json": digest}}


def build_run(
    job: tuple[str, dict[str, Any], dict[str, Any], dict[str, str], tuple[str, ...]],
) -> list[dict]:
    """Train one run and write its snapshot policies (keeping finished ones); return records.
    The job names the components the build registered: a worker process that registers
    others is refused before it trains."""
    root_s, config_d, run_d, ledger, names = job
    if tuple(names) != reward_components.names():
        raise ConfigError(
            f"this build registers the components {list(names)} but a worker process has "
            f"{list(reward_components.names())}; register added components where every "
            "process imports them (in the module that defines them), or build with workers=1."
        )
    root = Path(root_s)
    config = BuildConfig.from_dict(config_d)
    run = Run(**run_d)
    kept = config.snapshots_of(run)
    expected = {e: _expected(config, run, e) for e in kept}
    done = {}
    for e in kept:
        record = _finished(root, expected[e], ledger.get(expected[e]["dataset_id"]))
        if record is not None:
            done[e] = record
    if len(done) == len(kept):
        return [done[e] for e in kept]

    register_envs()  # the ids of every registered component's objectives
    env = gym.make(
        env_id(run.size, run.objective),
        layout_seed=run.layout_seed,
        random_start=config.data.random_start,
    )
    base = lever_env(env)
    train_cfg = TrainConfig(
        algorithm=config.algorithm,
        gamma=run.gamma,
        episodes=run.budget,
        alpha=config.alpha,
        snapshot_every=run.budget // config.snapshots,
        key=config.key,
        random_start=config.random_start,
        seed=expected[kept[0]]["train_seed"],
    )
    result = train(base.model, base.objective, train_cfg)
    keys = key_index(base.model, config.key)
    snapshots = result.snapshots if config.algorithm != "expert" else result.snapshots * len(kept)
    records: list[dict[str, Any]] = []
    for e, snap in zip(kept, snapshots, strict=True):
        if e in done:
            records.append(done[e])
            continue
        fields = expected[e]
        episodes = collect(base.model, snap.q, keys, config.data, fields["data_seed"])
        policy = PolicyRecord(
            **fields,
            train_steps=result.steps,
            greedy_return=round(snap.greedy_return, 10),
            greedy_components=tuple(round(float(x), 10) for x in snap.greedy_components),
            n_transitions=episodes.n_transitions,
        )
        description = describe_dataset(run, config, e, snap, episodes, base)
        records.append(
            _write_policy(root, env, policy, snap, episodes, description, config.data.compression)
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
        f"state, the cell, the reward components ({', '.join(reward_components.names())}) and "
        "success; "
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
    """Write one policy folder in the staging area, record its ``policy.json`` digest in the
    ledger, and rename it into place; return its manifest record."""
    staging = Path(tempfile.mkdtemp(dir=root / BUILD, prefix="staging-"))
    try:
        write_dataset(
            staging, record.dataset_id, env, episodes, algorithm=record.algorithm,
            description=description, compression=compression,
        )  # fmt: skip
        folder = staging / record.dataset_id
        model = lever_env(env).model
        own = episodes.empirical(model)
        q_rows = snap.q[key_index(model, record.key)[own.state_of_rows()], own.actions_of_rows()]
        arrays = policy_npz_arrays(
            snap.q, episodes.support(model.n_states), own.keys,
            policy_successor_features(own, q_rows, model.layout.n_cells),
        )  # fmt: skip
        np.savez_compressed(folder / POLICY_ARRAYS, **arrays)  # type: ignore[arg-type]
        files = {f"{record.dataset_id}/{rel}": sha256(folder / rel) for rel in POLICY_FILES}
        record_d = {**record.to_dict(), "files": files}
        write_json_atomic(folder / "policy.json", record_d)
        digest = sha256(folder / "policy.json")
        write_json_atomic(folder / "timing.json", {"train_seconds": snap.seconds})
        write_json_atomic(ledger_entry(root, record.dataset_id), digest)
        target = root / record.dataset_id
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, inside(root, record.dataset_id))  # never into a link out
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {**record_d, "files": {**files, f"{record.dataset_id}/policy.json": digest}}
