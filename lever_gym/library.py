"""The policy library: trained building blocks, each with its Minari dataset, in one folder.

Layout of a library directory (movable: every path in it is relative)::

    manifest.json                   schema, versions, build config, one record per policy,
                                    the sha256 of every file
    README.md                       what is in it (written from the manifest)
    lever/<N>x<N>-s<layout>/<policy>-v0/
        data/main_data.hdf5         the Minari dataset (``minari.load_dataset`` reads it
        data/metadata.json          with ``MINARI_DATASETS_PATH`` set to the library)
        policy.npz                  ``q`` (Q-table) and ``support`` (dataset visit counts)
        policy.json                 the policy's record
        timing.json                 measured training wall-clock (not checksummed)

Every policy directory is written in a staging folder and renamed into place, and the
manifest is replaced atomically at the end, so an interrupted build leaves no partial
policy and can be resumed: finished policies are kept, the rest are built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from lever_gym.data import DataConfig, collect, write_dataset
from lever_gym.embed import (
    EmbedConfig,
    Predictor,
    canonical_states,
    embed,
    fit_predictor,
)
from lever_gym.empirical import EmpiricalModel
from lever_gym.envs.layout import Layout, check_seed, check_size
from lever_gym.envs.model import TabularModel, model_for
from lever_gym.envs.registration import env_id
from lever_gym.errors import ConfigError, LibraryError, UnknownObjectiveError
from lever_gym.objectives import OBJECTIVE_NAMES, objective_weights
from lever_gym.policies import TabularPolicy
from lever_gym.retrieval import AnnoyBackend, LayoutIndex, index_paths, load_layout_index
from lever_gym.train import ALGORITHMS, BUDGETS, KEYS, TrainConfig, key_index, train

SCHEMA_VERSION = 1
DEFAULT_LIBRARY = Path(
    os.environ.get("LEVER_GYM_LIBRARY", Path(__file__).resolve().parents[1] / "datasets")
)
"""The default library: ``datasets/`` beside the package (or ``$LEVER_GYM_LIBRARY``)."""
MANIFEST = "manifest.json"
NAMESPACE = "lever"
BUILDING_BLOCKS: tuple[str, ...] = (
    "Path",
    "Gold",
    "Hazard",
    "Lever",
    "PathGold",
    "HazardLever",
    "PathGoldHazard",
)
"""The paper's library objectives; the full composite ``PathGoldHazardLever`` is never one."""
FULL_COMPOSITE = "PathGoldHazardLever"


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """What a library holds: one training run per size × layout × objective × γ × budget,
    keeping ``snapshots`` evenly spaced Q-tables of each run as library policies."""

    sizes: tuple[int, ...] = (8, 16)
    layout_seeds: tuple[int, ...] = (0, 1, 2)
    objectives: tuple[str, ...] = BUILDING_BLOCKS
    gammas: tuple[float, ...] = (0.0, 0.99)
    budgets: tuple[int, ...] = (BUDGETS["X1"],)
    snapshots: int = 2
    algorithm: str = "q_learning"
    key: str = "state"
    alpha: float = 0.1
    random_start: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    n_trees: int = 16
    """Trees of each layout's Annoy index."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate before any work, naming the valid choices."""
        for name in ("sizes", "layout_seeds", "objectives", "gammas", "budgets"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value:
                raise ConfigError(f"{name} must be a non-empty tuple; got {value!r}.")
        for size in self.sizes:
            check_size(size)
        for seed in (*self.layout_seeds, self.seed):
            check_seed(seed)
        for objective in self.objectives:
            if objective not in OBJECTIVE_NAMES:
                objective_weights(objective)  # raises with the valid names
            if objective == FULL_COMPOSITE:
                raise UnknownObjectiveError(
                    f"{FULL_COMPOSITE} is the benchmark's full composite and is never a library "
                    f"building block; choose among {', '.join(BUILDING_BLOCKS)}."
                )
        for budget in self.budgets:
            if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
                raise ConfigError(f"budgets must be positive episode counts; got {budget!r}.")
            if budget % self.snapshots:
                raise ConfigError(
                    f"budget {budget} is not a multiple of snapshots={self.snapshots}."
                )
        if (
            isinstance(self.snapshots, bool)
            or not isinstance(self.snapshots, int)
            or self.snapshots < 1
        ):
            raise ConfigError(f"snapshots must be a positive integer; got {self.snapshots!r}.")
        if self.algorithm not in ALGORITHMS or self.key not in KEYS:
            raise ConfigError(
                f"algorithm must be one of {ALGORITHMS} and key one of {KEYS}; "
                f"got {self.algorithm!r}, {self.key!r}."
            )
        for gamma in self.gammas:
            if not 0.0 <= gamma < 1.0:
                raise ConfigError(f"gammas must lie in [0, 1); got {gamma!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        """Inverse of ``to_dict``."""
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "data":
                value = DataConfig(**value)
            elif f.name == "embed":
                value = EmbedConfig(**value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def runs(self) -> list[Run]:
        """Every training run of the build, in a fixed order."""
        return [
            Run(size, layout, objective, float(gamma), budget)
            for size in self.sizes
            for layout in self.layout_seeds
            for objective in self.objectives
            for gamma in self.gammas
            for budget in self.budgets
        ]


@dataclass(frozen=True)
class Run:
    """One training run: a building block on one layout at one γ and budget."""

    size: int
    layout_seed: int
    objective: str
    gamma: float
    budget: int


@dataclass(frozen=True, kw_only=True)
class PolicyRecord:
    """What the manifest says about one library policy."""

    id: str
    dataset_id: str
    size: int
    layout_seed: int
    objective: str
    weights: tuple[float, ...]
    algorithm: str
    gamma: float
    budget: int
    snapshot: int
    """Training episodes behind this Q-table (the budget for the final snapshot)."""
    key: str
    train_seed: int
    data_seed: int
    train_steps: int
    greedy_return: float
    """Undiscounted return of the greedy policy from the layout's start, own objective."""
    greedy_components: tuple[float, ...]
    """The same rollout's return per component (path, gold, hazard, lever)."""
    n_episodes: int
    n_transitions: int
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of every file of the policy."""

    @property
    def directory(self) -> str:
        """The policy's folder, relative to the library root."""
        return self.dataset_id

    @property
    def env_id(self) -> str:
        """The registered id of the policy's own objective and size."""
        return env_id(self.size, self.objective)

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyRecord:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["weights"] = tuple(data["weights"])
        data["greedy_components"] = tuple(data["greedy_components"])
        return cls(**data)


def policy_name(run: Run, algorithm: str, snapshot: int) -> str:
    """``PathGold-q_learning-g0p99-b10000-e5000``: dots are not allowed in Minari ids."""
    gamma = f"{run.gamma:g}".replace(".", "p")
    return f"{run.objective}-{algorithm}-g{gamma}-b{run.budget}-e{snapshot}"


def derive_seed(master: int, *parts: object) -> int:
    """A seed for one piece of a build, stable under changes to the rest of the config."""
    digest = hashlib.sha256("/".join(map(str, (master, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class VerifyReport:
    """Result of ``Library.verify``: files listed in the manifest that are gone or changed."""

    missing: tuple[str, ...]
    altered: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every listed file is present and unchanged."""
        return not self.missing and not self.altered

    def __str__(self) -> str:
        if self.ok:
            return "library verified: every file present and unchanged"
        lines = [f"missing: {p}" for p in self.missing] + [f"altered: {p}" for p in self.altered]
        return "\n".join(lines)


class Library:
    """A loaded library directory. Build one with ``Library.build``, open with ``load``."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        """Use ``Library.load`` or ``Library.build``."""
        self.root = root
        self.manifest = manifest
        self.config = BuildConfig.from_dict(manifest["config"])
        self.records = [PolicyRecord.from_dict(r) for r in manifest["policies"]]
        self._by_id = {r.id: r for r in self.records}
        self._indexes: dict[tuple[int, int, str], LayoutIndex] = {}
        self._empirical: dict[tuple[int, int], EmpiricalModel] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- opening and building ---------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Library:
        """Open the library at ``path``; raise ``LibraryError`` if it is absent or unreadable."""
        root = Path(path)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise LibraryError(
                f"no library at {str(root)!r}: expected {MANIFEST} there. Build one with "
                f"`lever-gym build-library --out {root}` or pass the folder that holds it."
            )
        try:
            manifest = json.loads(manifest_path.read_text())
            version = manifest["schema_version"]
        except (ValueError, KeyError, TypeError) as e:
            raise LibraryError(f"{manifest_path} is not a lever_gym manifest ({e}).") from e
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise LibraryError(
                f"{manifest_path} has schema version {version!r}; this lever_gym reads up to "
                f"{SCHEMA_VERSION}. Upgrade lever_gym to open it."
            )
        return cls(root, manifest)

    @classmethod
    def build(
        cls,
        out: str | os.PathLike[str],
        config: BuildConfig | None = None,
        *,
        workers: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> Library:
        """Train every run of ``config`` and write the library at ``out``.

        Resumes an interrupted build of the same config (finished policies are kept). A
        folder holding a library of another config is refused, and a failed build leaves
        the previous manifest in place. ``progress(done, total)`` is called per run.
        """
        config = config or BuildConfig()
        root = Path(out).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if (root / MANIFEST).exists():
            previous = cls.load(root).manifest["config"]
            if previous != config.to_dict():
                raise LibraryError(
                    f"{root} already holds a library built with another config; choose a new "
                    "--out folder or delete that one first (nothing was changed)."
                )
        runs = config.runs()
        jobs = [(str(root), config.to_dict(), asdict(run)) for run in runs]
        records: list[dict[str, Any]] = []
        start = time.perf_counter()
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for i, out_records in enumerate(pool.map(_build_run, jobs)):
                    records += out_records
                    if progress:
                        progress(i + 1, len(jobs))
        else:
            for i, job in enumerate(jobs):
                records += _build_run(job)
                if progress:
                    progress(i + 1, len(jobs))
        from lever_gym import __version__

        index_files = _build_indexes(root, [PolicyRecord.from_dict(r) for r in records], config)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "lever_gym_version": __version__,
            "config": config.to_dict(),
            "policies": records,
            "index_files": index_files,
        }
        write_json_atomic(root / MANIFEST, manifest)
        lib = cls(root, manifest)
        (root / "README.md").write_text(lib.describe())
        write_json_atomic(root / "build_timing.json", {"seconds": time.perf_counter() - start})
        return lib

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[PolicyRecord]:
        return iter(self.records)

    def __getitem__(self, policy_id: str) -> PolicyRecord:
        try:
            return self._by_id[policy_id]
        except KeyError:
            raise LibraryError(f"no policy {policy_id!r} in the library at {self.root}.") from None

    def __repr__(self) -> str:
        return f"Library(root={str(self.root)!r}, policies={len(self)})"

    def filter(
        self,
        *,
        size: int | None = None,
        layout_seed: int | None = None,
        objective: str | Sequence[str] | None = None,
        gamma: float | None = None,
        budget: int | None = None,
        algorithm: str | None = None,
    ) -> list[PolicyRecord]:
        """Records matching every criterion given (``objective`` may be a list)."""
        objectives = (objective,) if isinstance(objective, str) else objective
        return [
            r
            for r in self.records
            if (size is None or r.size == size)
            and (layout_seed is None or r.layout_seed == layout_seed)
            and (objectives is None or r.objective in objectives)
            and (gamma is None or r.gamma == gamma)
            and (budget is None or r.budget == budget)
            and (algorithm is None or r.algorithm == algorithm)
        ]

    def layouts(self) -> list[tuple[int, int]]:
        """Distinct ``(size, layout_seed)`` pairs, in manifest order."""
        return list(dict.fromkeys((r.size, r.layout_seed) for r in self.records))

    def model(self, record: PolicyRecord) -> TabularModel:
        """The tabular model of the record's layout."""
        return model_for(Layout.generate(record.size, record.layout_seed), True)

    def train_seconds(self, record: PolicyRecord) -> float:
        """Measured training wall-clock of the policy (``nan`` if not recorded)."""
        path = self.root / record.directory / "timing.json"
        try:
            return float(json.loads(path.read_text())["train_seconds"])
        except (OSError, ValueError, KeyError):
            return float("nan")

    def arrays(self, record: PolicyRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(q, support)`` of a policy, checked against the manifest's sha256 (cached)."""
        if record.id not in self._arrays:
            rel = f"{record.directory}/policy.npz"
            path = self._checked(record, rel)
            try:
                with np.load(path, allow_pickle=False) as npz:
                    q, support = npz["q"], npz["support"]
            except (OSError, ValueError, KeyError) as e:
                raise LibraryError(f"{path} is unreadable ({e}); rebuild the library.") from e
            for arr in (q, support):
                arr.setflags(write=False)
            self._arrays[record.id] = (q, support)
        return self._arrays[record.id]

    def policy(self, record: PolicyRecord) -> TabularPolicy:
        """The greedy ``TabularPolicy`` of a library policy."""
        return TabularPolicy(self.model(record), self.arrays(record)[0], record.key)

    def dataset(self, record: PolicyRecord) -> Any:
        """The policy's ``MinariDataset`` (read straight from the library folder)."""
        import minari

        self._checked(record, f"{record.directory}/data/main_data.hdf5")
        return minari.MinariDataset(self.root / record.directory / "data")

    def verify(self) -> VerifyReport:
        """Check every file the manifest lists: present, and with the recorded sha256."""
        missing, altered = [], []
        listed = [f for r in self.records for f in r.files.items()]
        for rel, digest in listed + list(self.manifest.get("index_files", {}).items()):
            path = self.root / rel
            if not path.is_file():
                missing.append(rel)
            elif sha256(path) != digest:
                altered.append(rel)
        return VerifyReport(tuple(missing), tuple(altered))

    def layout_index(self, size: int, layout_seed: int, backend: str = "annoy") -> LayoutIndex:
        """The retrieval index of one layout (files checked against the manifest)."""
        key = (size, layout_seed, backend)
        if key not in self._indexes:
            if (size, layout_seed) not in self.layouts():
                raise LibraryError(
                    f"the library at {self.root} has no {size}x{size} layout {layout_seed}; it "
                    f"holds {', '.join(f'{n}x{n} layout {s}' for n, s in self.layouts())}."
                )
            for path in index_paths(self.root, size, layout_seed).values():
                if path.is_file():
                    self._check_index_file(path)
            self._indexes[key] = load_layout_index(self.root, size, layout_seed, backend)
        return self._indexes[key]

    def empirical(self, size: int, layout_seed: int) -> EmpiricalModel:
        """The union of the layout's datasets as an empirical model (from the index files)."""
        key = (size, layout_seed)
        if key not in self._empirical:
            path = index_paths(self.root, size, layout_seed)["arrays"]
            self.layout_index(size, layout_seed, "exact")
            with np.load(path, allow_pickle=False) as npz:
                self._empirical[key] = EmpiricalModel(
                    npz["keys"], npz["next_state"], npz["components"], npz["terminated"],
                    npz["counts"], npz["starts"],
                )  # fmt: skip
        return self._empirical[key]

    def predictor(self) -> Predictor:
        """The embedding-to-return predictor fitted on this library's policies."""
        path = self.root / "index" / "predictor.json"
        self._check_index_file(path)
        data = json.loads(path.read_text())
        return Predictor(
            np.array(data["mean"]),
            np.array(data["scale"]),
            np.array(data["coef"]),
            data["cv_mae"],
            data["cv_nmae"],
        )

    def _check_index_file(self, path: Path) -> None:
        rel = path.relative_to(self.root).as_posix()
        digest = self.manifest.get("index_files", {}).get(rel)
        if digest is None or sha256(path) != digest:
            raise LibraryError(
                f"{path} does not match the manifest (missing from it, edited or truncated); "
                "rebuild the library's index with `lever-gym build-library`."
            )

    def describe(self) -> str:
        """Markdown summary of the library (the content of its README.md)."""
        cfg = self.config
        lines = [
            "# lever_gym policy library",
            "",
            f"{len(self)} policies, each with its Minari dataset "
            f"({sum(r.n_transitions for r in self)} transitions in all). "
            f"Schema {self.manifest['schema_version']}, "
            f"lever_gym {self.manifest['lever_gym_version']}.",
            "",
            f"- sizes: {list(cfg.sizes)}; layout seeds: {list(cfg.layout_seeds)}",
            f"- building blocks: {', '.join(cfg.objectives)}",
            f"- gammas: {list(cfg.gammas)}; budgets (episodes): {list(cfg.budgets)}; "
            f"snapshots per run: {cfg.snapshots}",
            f"- trainer: {cfg.algorithm}, alpha {cfg.alpha}, keyed by {cfg.key}, "
            f"random starts: {cfg.random_start}; master seed {cfg.seed}",
            f"- datasets: {cfg.data.episodes} episodes per policy, epsilon {cfg.data.epsilon}, "
            f"random starts: {cfg.data.random_start}",
            "",
            "Use it with `MINARI_DATASETS_PATH=<this folder>` and `minari.load_dataset(id)`, or",
            "`lever_gym.Library.load(<this folder>)`. Regenerate it bit for bit (every file the",
            "manifest lists) with `lever-gym build-library` and the options above.",
            "",
            "| dataset id | greedy return | episodes | transitions |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{r.dataset_id}` | {r.greedy_return:.2f} | {r.n_episodes} | {r.n_transitions} |"
            for r in self
        ]
        return "\n".join(lines) + "\n"

    def _checked(self, record: PolicyRecord, rel: str) -> Path:
        path = self.root / rel
        if not path.is_file():
            raise LibraryError(f"{path} is missing; run Library.verify() and rebuild the library.")
        if sha256(path) != record.files.get(rel):
            raise LibraryError(
                f"{path} differs from the manifest's sha256 (edited or truncated); rebuild the "
                "library or restore the file."
            )
        return path


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
    model = env.unwrapped.model
    weights = env.unwrapped.weights
    train_cfg = TrainConfig(
        algorithm=config.algorithm,
        gamma=run.gamma,
        episodes=run.budget,
        alpha=config.alpha,
        snapshot_every=every,
        key=config.key,
        random_start=config.random_start,
        seed=derive_seed(config.seed, layout_dir, run.objective, run.gamma, run.budget, "train"),
    )
    result = train(model, weights, train_cfg)
    keys = key_index(model, config.key)
    snapshots = result.snapshots if config.algorithm != "expert" else result.snapshots * len(names)
    records = []
    for e, snap in zip(episodes_kept, snapshots, strict=True):
        if e in done:
            records.append(done[e])
            continue
        name = names[e]
        dataset_id = f"{layout_dir}/{name}-v0"
        data_seed = derive_seed(config.seed, dataset_id, "data")
        episodes = collect(model, snap.q, keys, config.data, data_seed)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
        try:
            write_dataset(
                staging,
                dataset_id,
                env,
                episodes,
                algorithm=config.algorithm,
                description=(
                    f"LeverGrid {run.size}x{run.size} layout {run.layout_seed}: {run.objective} "
                    f"policy ({config.algorithm}, gamma {run.gamma:g}, {e} of {run.budget} "
                    f"episodes), {config.data.episodes} behaviour episodes with epsilon "
                    f"{config.data.epsilon:g}."
                ),
            )
            folder = staging / dataset_id
            np.savez_compressed(
                folder / "policy.npz", q=snap.q, support=episodes.support(model.n_states)
            )
            record = PolicyRecord(
                id=f"{run.size}x{run.size}-s{run.layout_seed}/{name}",
                dataset_id=dataset_id,
                size=run.size,
                layout_seed=run.layout_seed,
                objective=run.objective,
                weights=tuple(float(x) for x in weights),
                algorithm=config.algorithm,
                gamma=run.gamma,
                budget=run.budget,
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
            files = {
                f"{dataset_id}/{rel}": sha256(folder / rel)
                for rel in ("policy.npz", "data/main_data.hdf5", "data/metadata.json")
            }
            record_d = {**record.to_dict(), "files": files}
            write_json_atomic(folder / "policy.json", record_d)
            write_json_atomic(folder / "timing.json", {"train_seconds": snap.seconds})
            target = root / dataset_id
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        records.append(record_d)
    return records


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
        model = model_for(Layout.generate(size, layout_seed), True)
        own = [
            EmpiricalModel.from_dataset(minari.MinariDataset(root / r.directory / "data"))
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
        with atomic_path(paths["annoy"]) as tmp:
            AnnoyBackend.build(matrix, n_trees=config.n_trees, seed=config.seed).save(tmp)
        write_json_atomic(
            paths["meta"],
            {"ids": [r.id for r in members], "dim": config.embed.dim, "metric": "dot",
             "n_trees": config.n_trees, "seed": config.seed, "embed": config.embed.to_dict()},
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
