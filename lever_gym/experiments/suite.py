"""The benchmark suite: the paper's six setups, every strategy and baseline, evaluated.

``run_benchmark(config, out)`` builds (or resumes) a library for the configured sizes,
layouts and γ, then for every size × layout × γ × setup × start protocol obtains each
method's policy (timed), evaluates it on seeded episodes, and writes to ``out``:
``rows.csv`` (one row per method and cell), ``summary.md`` (tables, significance tests,
coverage reading), ``significance.csv``, ``return_vs_time.png`` and
``return_vs_coverage.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, check_size
from lever_gym.errors import ConfigError
from lever_gym.eval.baselines import BASELINES, OFFLINE_ALGOS, Baseline, BaselineTask
from lever_gym.eval.evaluate import evaluate
from lever_gym.experiments.report import write_report
from lever_gym.library.config import BuildConfig
from lever_gym.library.store import Library
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.solve import Solution, solve
from lever_gym.objective import env_id
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.decompose import SETUPS, setup_target
from lever_gym.reuse.retrieval import STRATEGIES
from lever_gym.train.tabular import BUDGETS

PROTOCOLS = ("fixed", "random")
FAILURE_SETUPS = ("P+L",)
"""Run on the detour layout only, besides the six setups: PathLever from Path and Lever, the
objective whose optimum is the detour itself."""
VECTOR_ENVS = 10


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What the benchmark runs; ``suite`` presets fill the rest (see ``SUITES``)."""

    suite: str = "quick"
    sizes: tuple[int, ...] = (8, 16)
    layout_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    gammas: tuple[float, ...] = (0.0, 0.99)
    setups: tuple[str, ...] = tuple(SETUPS)
    strategies: tuple[str, ...] = ("targeted", "exhaustive", "hybrid")
    k: int = 3
    scratch_budgets: tuple[int, ...] = (BUDGETS["X1"], BUDGETS["X5"], BUDGETS["X10"])
    baselines: tuple[str, ...] = tuple(BASELINES)
    offline_algos: tuple[str, ...] = OFFLINE_ALGOS
    offline_steps: int = 1000
    offline_layouts: int = 1
    """d3rlpy learners run on the first this-many layouts of each size (they are slow)."""
    episodes: int = 100
    protocols: tuple[str, ...] = PROTOCOLS
    failure_case: bool = True
    """Add the detour layout (16x16, ``DETOUR_LAYOUT_SEED``) when 16 is among the sizes, with
    the six setups and ``FAILURE_SETUPS``; offline learners always run on it."""
    library: BuildConfig | None = field(default=None)
    """Library to build (default: the building blocks at X1 for these sizes/layouts/γ)."""
    seed: int = 0
    workers: int = 2

    def __post_init__(self) -> None:
        """Check everything before any work, naming the valid choices."""
        checks.one_of(self.suite, SUITES, "suite")
        for name in ("sizes", "layout_seeds", "gammas", "setups", "protocols", "strategies"):
            checks.distinct(checks.non_empty(getattr(self, name), name), name)
        for size in self.sizes:
            check_size(size)
        for seed in self.layout_seeds:
            checks.seed(seed, "layout seed")
        for setup in self.setups:
            checks.one_of(setup, SETUPS, "setup")
        for budget in self.scratch_budgets:
            checks.positive_int(budget, "scratch budgets (episode counts)")
        for protocol in self.protocols:
            checks.one_of(protocol, PROTOCOLS, "protocol")
        for strategy in self.strategies:
            checks.one_of(strategy, STRATEGIES, "strategy")
        for baseline in self.baselines:
            checks.one_of(baseline, BASELINES, "baseline")
        for algo in self.offline_algos:
            checks.one_of(algo, OFFLINE_ALGOS, "offline algo")
        checks.positive_int(self.episodes, "episodes")
        checks.positive_int(self.offline_steps, "offline_steps")
        checks.positive_int(self.k, "k")
        checks.non_negative_int(self.offline_layouts, "offline_layouts")
        checks.positive_int(self.workers, "workers")
        checks.seed(self.seed)

    def layouts(self) -> list[tuple[int, int, bool]]:
        """``(size, layout_seed, is_failure_case)`` cells, in order."""
        cells = [(n, s, False) for n in self.sizes for s in self.layout_seeds]
        if self.failure_case and 16 in self.sizes and DETOUR_LAYOUT_SEED not in self.layout_seeds:
            cells.append((16, DETOUR_LAYOUT_SEED, True))
        return cells

    def library_config(self) -> BuildConfig:
        """The library the benchmark composes from."""
        if self.library is not None:
            return self.library
        seeds = sorted({s for _, s, _ in self.layouts()})
        return BuildConfig(sizes=self.sizes, layout_seeds=tuple(seeds), gammas=self.gammas)


SUITES: dict[str, dict[str, Any]] = {
    "quick": {},
    "paper": {"sizes": (8, 16, 32), "offline_steps": 5000, "offline_layouts": 5},
}


def suite_config(suite: str, **overrides: Any) -> BenchConfig:
    """A suite's preset with ``overrides`` (``None`` values are ignored)."""
    checks.one_of(suite, SUITES, "suite")
    given = {k: v for k, v in overrides.items() if v is not None}
    return BenchConfig(suite=suite, **{**SUITES[suite], **given})


def _reference_coverage(policy: LeverComposedPolicy, optimum: Solution) -> float:
    """Fraction of the optimal trajectory from the start that the chosen datasets recorded."""
    model = policy.model
    path = greedy_trajectory(model, optimum.policy, model.start_state, model.layout.n_cells)
    return float(policy.covers(path.states, path.actions).mean())


def run_benchmark(
    config: BenchConfig,
    out: str | Path,
    progress: Callable[[int, int], None] | None = None,
    library: Library | None = None,
) -> Path:
    """Run the benchmark and write its outputs to ``out``; returns ``out``.

    Composes from ``library`` if given (it must hold the configured layouts and γ), else
    builds (or resumes) one in ``out/library``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if library is None:
        lib = Library.build(out / "library", config.library_config(), workers=config.workers)
    else:
        lib = library
        missing = [(n, s) for n, s, _ in config.layouts() if (n, s) not in lib.layouts()]
        if missing:
            raise ConfigError(
                f"the library at {lib.root} lacks layouts {missing}; drop them or let the "
                "benchmark build its own library."
            )
    cells = [
        (size, seed, failure, gamma, setup, protocol)
        for size, seed, failure in config.layouts()
        for gamma in config.gammas
        for setup in config.setups + (FAILURE_SETUPS if failure else ())
        for protocol in config.protocols
    ]
    rows: list[dict[str, Any]] = []
    cache: dict[tuple[Any, ...], Baseline] = {}
    _warm_up(lib, config)
    for i, cell in enumerate(cells):
        rows += _cell(lib, config, *cell, cache)
        if progress:
            progress(i + 1, len(cells))
    write_report(rows, config, out)
    return out


def _warm_up(lib: Library, config: BenchConfig) -> None:
    """Load the compiled kernels once, so no timed method pays for it."""
    size, seed, _ = config.layouts()[0]
    LeverComposedPolicy.from_library(
        lib, setup_target(config.setups[0]), size=size, layout_seed=seed,
        gamma=config.gammas[0], parts=config.setups[0], strategy="targeted",
    )  # fmt: skip


def _cell(
    lib: Library,
    config: BenchConfig,
    size: int,
    seed: int,
    failure: bool,
    gamma: float,
    setup: str,
    protocol: str,
    cache: dict[tuple[Any, ...], Baseline],
) -> list[dict[str, Any]]:
    """Every method's row for one cell of the benchmark (learners shared across protocols)."""
    target = setup_target(setup)
    eid = env_id(size, target.name)
    kwargs = {"layout_seed": seed, "random_start": protocol == "random"}
    methods = _composed(lib, config, size, seed, gamma, setup, protocol)
    offline_layouts = [s for n, s, _ in config.layouts() if n == size][: config.offline_layouts]
    hybrid = next((p for name, p, _, _ in methods if name.startswith("composed-hybrid")), None)
    source = hybrid or methods[0][1]
    task = BaselineTask(
        library=lib, model=source.model, env=gym.make(eid, layout_seed=seed),
        objective=target, gamma=gamma,
        records=[
            r for r in lib.filter(size=size, layout_seed=seed, gamma=gamma)
            if r.objective != target.name
        ],
        datasets=tuple(
            dict.fromkeys(pid for c in source.explanation.candidates.values() for pid, _ in c)
        ) if seed in offline_layouts or failure else (),
        budgets=config.scratch_budgets, offline_algos=config.offline_algos,
        offline_steps=config.offline_steps, seed=config.seed,
        cache=cache.setdefault((size, seed, setup), {}),  # type: ignore[arg-type]
    )  # fmt: skip
    for name in config.baselines:
        methods += [
            (b.name, b.policy, b.seconds, {"chosen": b.chosen}) for b in BASELINES[name](task)
        ]
    x1 = next((s for name, _, s, _ in methods if name == "scratch-X1"), None)
    rows = []
    eval_seed = config.seed + 1000 * seed
    for name, policy, seconds, extra in methods:
        vector = VECTOR_ENVS if hasattr(policy, "predict") else 1  # same episodes, batched
        result = evaluate(policy, eid, config.episodes, eval_seed, num_envs=vector, **kwargs)
        s = result.summary()
        rows.append(
            {
                "size": size, "layout_seed": seed, "failure_case": failure, "gamma": gamma,
                "setup": setup, "target": target.name, "protocol": protocol, "method": name,
                "seconds": seconds,
                "speedup_vs_scratch_x1": x1 / seconds if x1 and seconds > 0 else np.nan,
                **{k: s[k] for k in ("mean_return", "ci_low", "ci_high", "success_rate",
                                     "normalised_score", "mean_length", "coverage")},
                "reference_coverage": extra.get("reference_coverage", float("nan")),
                "chosen": extra.get("chosen", ""),
            }
        )  # fmt: skip
    return rows


def _composed(
    lib: Library,
    config: BenchConfig,
    size: int,
    seed: int,
    gamma: float,
    setup: str,
    protocol: str,
) -> list[tuple[str, Any, float, dict[str, Any]]]:
    """Every strategy's composed policy for one cell, timed, with its reference coverage."""
    target = setup_target(setup)
    opt = solve(env_id(size, target.name), 0.99, layout_seed=seed)
    methods = []
    for strategy in config.strategies:
        start = time.perf_counter()
        policy = LeverComposedPolicy.from_library(
            lib, target, size=size, layout_seed=seed, gamma=gamma, parts=setup,
            strategy=strategy, k=config.k, n_starts=16 if protocol == "random" else 1,
            seed=config.seed,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        name = f"composed-{strategy}" + (str(config.k) if strategy == "hybrid" else "")
        extra = {
            "reference_coverage": _reference_coverage(policy, opt),
            "chosen": " ".join(policy.explanation.chosen.policies),
        }
        methods.append((name, policy, seconds, extra))
    return methods
