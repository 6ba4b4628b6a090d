"""``build_neural_library``: DQN members over randomised worlds, each with its dataset and heads.

Each member (objective × replica) is one job, seeded from ``[config.seed, job index]``:
``train_dqn`` over ``config.worlds``, ``collect_worlds`` for its Minari dataset, then the ψ
and behaviour heads fitted on that dataset (``lever_gym.train.heads``). Jobs run on
``run_jobs``'s executor (``workers`` processes, each on ``config.dqn.threads`` torch threads);
results do not depend on the number of workers. The library is built in a staging folder
beside ``out`` and moved into place whole; a failed build leaves ``out`` as it was, and a
folder lever_gym did not write is never written over.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.components as reward_components
from lever_gym.data.minari_hdf5 import create_dataset
from lever_gym.data.worlds import collect_worlds, transitions
from lever_gym.envs.registration import RANDOM
from lever_gym.errors import LibraryError
from lever_gym.library.build.executor import run_jobs
from lever_gym.library.format.files import READABLE, sha256
from lever_gym.library.format.neural import (
    HEADS,
    INDEX_FILES,
    MEMBER_FILES,
    NEURAL_FORMAT,
    NEURAL_SCHEMA_VERSION,
    NeuralBuildConfig,
    NeuralRecord,
    dataset_id,
    manifest_text,
    member_id,
)
from lever_gym.library.index import AnnoyBackend
from lever_gym.objective import Objective, env_id
from lever_gym.train.dqn import DQNConfig, train_dqn
from lever_gym.train.heads import (
    Head,
    HeadConfig,
    fit_behaviour_head,
    fit_successor_head,
    successor_outputs,
)
from lever_gym.version import __version__


def build_neural_library(
    out: str | os.PathLike[str],
    config: NeuralBuildConfig | None = None,
    *,
    workers: int = 1,
    executor: str = "local",
    progress: bool = False,
) -> Path:
    """Build the neural library of ``config`` into ``out`` (module docstring); return it."""
    config = NeuralBuildConfig() if config is None else config
    out = Path(out).expanduser()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        jobs = [
            (config.to_dict(), o, r, i, str(staging))
            for i, (o, r) in enumerate(config.member_jobs())
        ]
        bar = _progress(len(jobs)) if progress else None
        start = time.perf_counter()
        records = run_jobs(_member_job, jobs, executor=executor, workers=workers, progress=bar)
        index = _write_index(staging, [r["record"] for r in records], config)
        manifest = {
            "format": NEURAL_FORMAT,
            "schema_version": NEURAL_SCHEMA_VERSION,
            "lever_gym_version": __version__,
            "components": list(reward_components.names()),
            "config": config.to_dict(),
            "networks": records[0]["networks"],
            "members": [r["record"] for r in records],
            "index": {**index, "build_seconds": round(time.perf_counter() - start, 1)},
        }
        (staging / "manifest.json").write_text(manifest_text(manifest))
        os.chmod(staging, 0o755)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _check_target(out: Path) -> None:
    """Refuse to build over a file or a non-empty folder that is not a neural library."""
    if out.exists() and not out.is_dir():
        raise LibraryError(f"{out} is a file; give a folder for the neural library.")
    if out.is_dir() and any(out.iterdir()):
        manifest = out / "manifest.json"
        if (
            not manifest.is_file()
            or NEURAL_FORMAT not in manifest.read_text(errors="replace")[:4096]
        ):
            raise LibraryError(
                f"{out} holds files lever_gym did not write as a neural library; choose an "
                "empty or new folder (nothing was written)."
            )


def _swap_in(staging: Path, out: Path) -> None:
    """Put the finished ``staging`` at ``out``, replacing an old neural library there."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _member_job(job: tuple[dict[str, Any], str, int, int, str]) -> dict[str, Any]:
    """Train, record and fit one member into ``root``; its manifest record and schemas."""
    raw, objective, replica, index, root = job
    config = NeuralBuildConfig.from_dict(raw)
    seeds = np.random.SeedSequence([config.seed, index]).generate_state(3, dtype=np.uint32)
    dqn = DQNConfig(**{**_fields(config.dqn), "seed": int(seeds[0]), "worlds": config.worlds})
    trained = train_dqn(objective, dqn)
    columns = collect_worlds(
        trained.policy,
        objective,
        config.worlds,
        episodes=config.episodes,
        epsilon=config.epsilon,
        seed=int(seeds[1]),
    )
    steps = transitions(columns)
    heads_config = HeadConfig(**{**_fields(config.heads), "seed": int(seeds[2])})
    psi = fit_successor_head(steps, trained.policy.predict(steps.next_obs), heads_config)
    behaviour = fit_behaviour_head(steps, heads_config)
    q = Head(trained.policy.schema, trained.policy.arrays, float("nan"))

    mid = member_id(objective, replica)
    did = dataset_id(config.worlds, mid)
    env = gym.make(
        env_id(config.worlds.size, objective, family=RANDOM), **_dataset_env_kwargs(config)
    )
    folder = create_dataset(
        root,
        did,
        columns,
        env=env,
        algorithm_name="lever_gym DQN",
        author="lever_gym",
        description=f"DQN member {mid} over {config.worlds.to_dict()}",
        requirements=[f"lever-gym=={__version__}"],
        compression=4,
    )
    env.close()
    for name, head in zip(HEADS, (q, psi, behaviour), strict=True):
        _write_npz(folder / f"{name}.npz", head.arrays)
    starts = steps.obs[np.concatenate([[0], np.cumsum(columns.lengths)[:-1]])]
    n_comp = len(reward_components.names())
    first = trained.policy.predict(starts)
    values = successor_outputs(psi, starts, n_comp)[np.arange(len(starts)), first]
    record = NeuralRecord(
        id=mid,
        objective=objective,
        weights=Objective.named(objective).weights,
        dataset_id=did,
        files={f"{did}/{f}": sha256(folder / f) for f in MEMBER_FILES},
        embedding=tuple(float(x) for x in values.mean(axis=0)),
        training={
            "env_steps": trained.env_steps,
            "updates": trained.updates,
            "seconds": round(trained.seconds, 1),
            "curve": list(trained.curve),
            "seed": int(seeds[0]),
        },
        fit={"psi_loss": psi.loss, "behaviour_loss": behaviour.loss},
    )
    networks = {
        name: h.schema.to_dict() for name, h in zip(HEADS, (q, psi, behaviour), strict=True)
    }
    return {"record": record.to_dict(), "networks": networks}


def _fields(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def _dataset_env_kwargs(config: NeuralBuildConfig) -> dict[str, Any]:
    """The dataset's env: the randomised worlds in the library's range and observation."""
    kwargs = config.worlds.env_kwargs()
    kwargs.pop("size")
    return kwargs


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Named float32 arrays as an uncompressed ``.npz`` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.ascontiguousarray(v, np.float32) for k, v in arrays.items()})  # type: ignore[arg-type]
    path.write_bytes(buffer.getvalue())
    os.chmod(path, READABLE)


def _write_index(
    root: Path, records: list[dict[str, Any]], config: NeuralBuildConfig
) -> dict[str, Any]:
    """The Annoy forest (metric ``dot``) over the members' embeddings, and the embeddings."""
    (root / "index").mkdir()
    vectors = np.array([r["embedding"] for r in records], dtype=np.float32)
    backend = AnnoyBackend.build(vectors, n_trees=config.n_trees, seed=config.seed, metric="dot")
    backend.save(root / INDEX_FILES[0])
    _write_npz(root / INDEX_FILES[1], {"embeddings": vectors})
    return {
        "files": {f: sha256(root / f) for f in INDEX_FILES},
        "annoy": {
            "bytes": (root / INDEX_FILES[0]).stat().st_size,
            "f": vectors.shape[1],
            "metric": "dot",
            "items": len(vectors),
            "trees": config.n_trees,
        },
    }


def _progress(total: int) -> Any:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="neural members", unit="member")

    def update(done: int, _: int) -> None:
        bar.n = done
        bar.refresh()
        if done == total:
            bar.close()

    return update
