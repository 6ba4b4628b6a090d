"""The benchmark: the paper's six setups, every strategy and baseline, with statistics.

``run_benchmark(config, out)`` builds (or resumes) a library for the configured sizes,
layouts and γ, then for every size × layout × γ × setup × start protocol obtains each
method's policy (timed), evaluates it on seeded episodes, and writes to ``out``:
``rows.csv`` (one row per method and cell), ``summary.md`` (tables, significance tests,
coverage reading), ``significance.csv``, ``return_vs_time.png`` and
``return_vs_coverage.png``.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lever_gym import baselines
from lever_gym.composed import LeverComposedPolicy
from lever_gym.decompose import SETUPS, parse_parts
from lever_gym.envs.layout import DETOUR_LAYOUT_SEED, check_seed, check_size
from lever_gym.envs.registration import env_id
from lever_gym.errors import ConfigError
from lever_gym.evaluation import evaluate
from lever_gym.library import BuildConfig, Library
from lever_gym.objectives import objective_name, objective_weights
from lever_gym.solve import solve
from lever_gym.train import BUDGETS

PROTOCOLS = ("fixed", "random")
FAILURE_SETUPS = ("P+L",)
"""Run on the detour layout only, besides the six setups: PathLever from Path and Lever, the
objective whose optimum is the detour itself."""
VECTOR_ENVS = 10
STRATEGIES = ("targeted", "exhaustive", "hybrid")
COLUMNS = (
    "size", "layout_seed", "failure_case", "gamma", "setup", "target", "protocol", "method",
    "seconds", "speedup_vs_scratch_x1", "mean_return", "ci_low", "ci_high", "success_rate",
    "normalised_score", "mean_length", "coverage", "reference_coverage", "chosen",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What the benchmark runs; ``suite`` presets fill the rest (see ``SUITES``)."""

    suite: str = "quick"
    sizes: tuple[int, ...] = (8, 16)
    layout_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    gammas: tuple[float, ...] = (0.0, 0.99)
    setups: tuple[str, ...] = tuple(SETUPS)
    strategies: tuple[str, ...] = STRATEGIES
    k: int = 3
    scratch_budgets: tuple[int, ...] = (BUDGETS["X1"], BUDGETS["X5"], BUDGETS["X10"])
    offline_algos: tuple[str, ...] = baselines.OFFLINE_ALGOS
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
        if self.suite not in SUITES:
            raise ConfigError(f"suite must be one of {sorted(SUITES)}; got {self.suite!r}.")
        for name in ("sizes", "layout_seeds", "gammas", "setups", "protocols", "strategies"):
            if not getattr(self, name):
                raise ConfigError(f"{name} must not be empty: the benchmark needs at least one.")
        for size in self.sizes:
            check_size(size)
        for seed in self.layout_seeds:
            check_seed(seed, "layout seed")
        for setup in self.setups:
            if setup not in SETUPS:
                raise ConfigError(f"unknown setup {setup!r}; setups: {', '.join(SETUPS)}.")
        for budget in self.scratch_budgets:
            if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
                raise ConfigError(
                    f"scratch budgets must be positive episode counts; got {budget!r}."
                )
        for protocol in self.protocols:
            if protocol not in PROTOCOLS:
                raise ConfigError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}.")
        for strategy in self.strategies:
            if strategy not in STRATEGIES:
                raise ConfigError(f"strategy must be one of {STRATEGIES}; got {strategy!r}.")
        for algo in self.offline_algos:
            if algo not in baselines.OFFLINE_ALGOS:
                raise ConfigError(
                    f"offline algos must be among {baselines.OFFLINE_ALGOS}; got {algo!r}."
                )
        if self.episodes < 1 or self.offline_steps < 1 or self.k < 1:
            raise ConfigError("episodes, offline_steps and k must be positive.")

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
    if suite not in SUITES:
        raise ConfigError(f"suite must be one of {sorted(SUITES)}; got {suite!r}.")
    given = {k: v for k, v in overrides.items() if v is not None}
    return BenchConfig(suite=suite, **{**SUITES[suite], **given})


def _target(setup: str) -> np.ndarray:
    return np.sum([objective_weights(p) for p in parse_parts(setup)], axis=0)


def _reference_coverage(policy: LeverComposedPolicy, optimum: Any) -> float:
    """Fraction of the optimal trajectory from the start that the chosen datasets recorded."""
    model = policy.model
    s, pairs = model.start_state, []
    for _ in range(model.layout.n_cells):
        a = int(optimum.policy[s])
        pairs.append((s, a))
        if model.terminated[s, a]:
            break
        s = int(model.next_state[s, a])
    states, actions = np.array(pairs).T
    return float(policy.covers(states, actions).mean())


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
    scratch_cache: dict[tuple[Any, ...], baselines.Baseline] = {}
    offline_cache: dict[tuple[Any, ...], baselines.Baseline] = {}
    _warm_up(lib, config)
    for i, (size, seed, failure, gamma, setup, protocol) in enumerate(cells):
        rows += _cell(
            lib, config, size, seed, failure, gamma, setup, protocol, scratch_cache, offline_cache
        )
        if progress:
            progress(i + 1, len(cells))
    _write(rows, config, out)
    return out


def _warm_up(lib: Library, config: BenchConfig) -> None:
    """Load the compiled kernels once, so no timed method pays for it."""
    size, seed, _ = config.layouts()[0]
    LeverComposedPolicy.from_library(
        lib, objective_name(_target(config.setups[0])), size=size, layout_seed=seed,
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
    scratch_cache: dict[tuple[Any, ...], baselines.Baseline],
    offline_cache: dict[tuple[Any, ...], baselines.Baseline],
) -> list[dict[str, Any]]:
    """Every method's row for one cell of the benchmark (learners shared across protocols)."""
    weights = _target(setup)
    target = objective_name(weights)
    eid = env_id(size, target)
    random_start = protocol == "random"
    kwargs = {"layout_seed": seed, "random_start": random_start}
    eval_seed = config.seed + 1000 * seed
    n_starts = 16 if random_start else 1
    methods: list[tuple[str, Any, float, dict[str, Any]]] = []
    model = lib.model(lib.filter(size=size, layout_seed=seed)[0])
    opt = solve(eid, 0.99, layout_seed=seed)
    hybrid = None
    for strategy in config.strategies:
        start = time.perf_counter()
        policy = LeverComposedPolicy.from_library(
            lib, target, size=size, layout_seed=seed, gamma=gamma, parts=setup,
            strategy=strategy, k=config.k, n_starts=n_starts, seed=config.seed,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        name = f"composed-{strategy}" + (str(config.k) if strategy == "hybrid" else "")
        extra = {
            "reference_coverage": _reference_coverage(policy, opt),
            "chosen": " ".join(policy.info["chosen"]["policies"]),
        }
        methods.append((name, policy, seconds, extra))
        hybrid = policy if strategy == "hybrid" else hybrid
    for budget in config.scratch_budgets:
        key = (size, seed, gamma, target, budget)
        if key not in scratch_cache:
            scratch_cache[key] = baselines.scratch(
                model, weights, budget, gamma=gamma, seed=config.seed
            )
        label = {v: k for k, v in BUDGETS.items()}.get(budget, str(budget))
        methods.append(
            (f"scratch-{label}", scratch_cache[key].policy, scratch_cache[key].seconds, {})
        )
    offline_layouts = [s for n, s, _ in config.layouts() if n == size][: config.offline_layouts]
    if config.offline_algos and (seed in offline_layouts or failure):
        source = hybrid or methods[0][1]
        ids = [pid for cands in source.info["candidates"].values() for pid, _ in cands]
        datasets = [lib.dataset(lib[pid]) for pid in dict.fromkeys(ids)]
        for algo in config.offline_algos:
            key = (size, seed, gamma, setup, algo)
            if key not in offline_cache:
                offline_cache[key] = baselines.offline_rl(
                    datasets, weights, algo, n_steps=config.offline_steps,
                    gamma=max(gamma, 0.9), seed=config.seed,
                )  # fmt: skip
            b = offline_cache[key]
            methods.append((b.name, b.policy, b.seconds, {}))
    records = [
        r for r in lib.filter(size=size, layout_seed=seed, gamma=gamma) if r.objective != target
    ]
    record, single = baselines.best_single(lib, records, weights)
    methods.append((single.name, single.policy, single.seconds, {"chosen": record.id}))
    methods.append(("random", baselines.random_policy(config.seed).policy, 0.0, {}))
    methods.append(("optimum", opt, float("nan"), {}))
    x1 = scratch_cache.get((size, seed, gamma, target, BUDGETS["X1"]))
    rows = []
    for name, policy, seconds, extra in methods:
        vector = VECTOR_ENVS if hasattr(policy, "predict") else 1  # same episodes, batched
        result = evaluate(policy, eid, config.episodes, eval_seed, num_envs=vector, **kwargs)
        s = result.summary()
        rows.append(
            {
                "size": size, "layout_seed": seed, "failure_case": failure, "gamma": gamma,
                "setup": setup, "target": target, "protocol": protocol, "method": name,
                "seconds": seconds,
                "speedup_vs_scratch_x1": x1.seconds / seconds if x1 and seconds > 0 else np.nan,
                **{k: s[k] for k in ("mean_return", "ci_low", "ci_high", "success_rate",
                                     "normalised_score", "mean_length", "coverage")},
                "reference_coverage": extra.get("reference_coverage", float("nan")),
                "chosen": extra.get("chosen", ""),
            }
        )  # fmt: skip
    return rows


def _write(rows: list[dict[str, Any]], config: BenchConfig, out: Path) -> None:
    with open(out / "rows.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    significance = significance_tests(rows)
    with open(out / "significance.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(significance[0]) if significance else ["setup"])
        writer.writeheader()
        writer.writerows(significance)
    (out / "summary.md").write_text(summary_markdown(rows, significance, config))
    plot(rows, out)


def significance_tests(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setup: paired Wilcoxon signed-rank test of composed (hybrid) against scratch X1
    on normalised scores, paired by size × layout × γ × protocol."""
    from scipy.stats import wilcoxon

    out = []
    hybrid = next((m for m in {r["method"] for r in rows} if m.startswith("composed-hybrid")), None)
    if hybrid is None:
        hybrid = next(
            (m for m in sorted({r["method"] for r in rows}) if m.startswith("composed-")), None
        )
    for setup in dict.fromkeys(r["setup"] for r in rows):
        key = lambda r: (r["size"], r["layout_seed"], r["gamma"], r["protocol"])  # noqa: E731
        comp = {
            key(r): r["normalised_score"]
            for r in rows
            if r["setup"] == setup and r["method"] == hybrid
        }
        scr = {
            key(r): r["normalised_score"]
            for r in rows
            if r["setup"] == setup and r["method"] == "scratch-X1"
        }
        pairs = [(comp[k], scr[k]) for k in comp if k in scr]
        if not pairs:
            continue
        a, b = np.array(pairs).T
        diff = a - b
        if np.allclose(diff, 0):
            p_two, p_less = 1.0, 1.0
        else:
            p_two = float(wilcoxon(a, b).pvalue)
            p_less = float(wilcoxon(a, b, alternative="less").pvalue)
        out.append(
            {"setup": setup, "method": hybrid, "baseline": "scratch-X1", "pairs": len(pairs),
             "mean_composed": float(a.mean()), "mean_scratch": float(b.mean()),
             "mean_difference": float(diff.mean()), "p_two_sided": p_two,
             "p_composed_worse": p_less}
        )  # fmt: skip
    return out


COVERED = 0.9
"""Reference coverage above which a setup counts as covered by the library's data."""


def summary_markdown(
    rows: list[dict[str, Any]], significance: list[dict[str, Any]], config: BenchConfig
) -> str:
    """The Markdown report: per protocol, setup × method means; significance; coverage."""
    lines = [
        f"# Benchmark ({config.suite} suite)",
        "",
        f"Sizes {list(config.sizes)}, layouts {list(config.layout_seeds)}"
        + (
            " plus the detour failure case (16x16, layout 132)"
            if any(r["failure_case"] for r in rows)
            else ""
        )
        + f", library gammas {list(config.gammas)}, {config.episodes} seeded episodes per "
        "evaluation. Normalised score: 0 = uniform random, 1 = exact optimum (gamma 0.99) on "
        "the same episodes. "
        "Time: wall-clock to obtain the policy (composition: retrieval + scoring + composition; "
        "scratch: training; d3rlpy: conversion + fit). Speedup: scratch X1 time / method time, "
        "per cell, median.",
        "",
    ]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        lines += [
            f"## Start protocol: {protocol}",
            "",
            "| setup | method | cells | return (mean ± 95% CI half-width) | success | normalised "
            "| time (s, median) | speedup vs scratch X1 | coverage |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for setup in dict.fromkeys(r["setup"] for r in rows):
            for method in methods:
                sel = [r for r in rows if r["protocol"] == protocol and r["setup"] == setup
                       and r["method"] == method and not r["failure_case"]]  # fmt: skip
                if not sel:
                    continue
                ret = np.mean([r["mean_return"] for r in sel])
                half = np.mean([(r["ci_high"] - r["ci_low"]) / 2 for r in sel])
                cov = (
                    np.nanmean([r["coverage"] for r in sel])
                    if method.startswith("composed")
                    else float("nan")
                )
                lines.append(
                    f"| {setup} | {method} | {len(sel)} | {ret:.1f} ± {half:.1f} | "
                    f"{np.mean([r['success_rate'] for r in sel]):.2f} | "
                    f"{np.mean([r['normalised_score'] for r in sel]):.3f} | "
                    f"{np.nanmedian([r['seconds'] for r in sel]):.4f} | "
                    f"{np.nanmedian([r['speedup_vs_scratch_x1'] for r in sel]):.2f} | "
                    f"{'' if np.isnan(cov) else f'{cov:.2f}'} |"
                )
        lines.append("")
    lines += [
        "## Composed (hybrid) against scratch X1: paired Wilcoxon signed-rank tests",
        "",
        "| setup | pairs | composed | scratch X1 | mean difference | p (two-sided) "
        "| p (composed worse) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in significance:
        lines.append(
            f"| {s['setup']} | {s['pairs']} | {s['mean_composed']:.3f} | {s['mean_scratch']:.3f} | "
            f"{s['mean_difference']:+.3f} | {s['p_two_sided']:.3g} | {s['p_composed_worse']:.3g} |"
        )
    composed = [r for r in rows if r["method"].startswith("composed-hybrid")]
    covered = [r for r in composed if r["reference_coverage"] >= COVERED]
    uncovered = [r for r in composed if r["reference_coverage"] < COVERED]
    lines += [
        "",
        f"## Coverage (threshold: {COVERED} of the optimal trajectory recorded in the chosen "
        "datasets)",
        "",
    ]
    for label, sel in (("covered", covered), ("not covered", uncovered)):
        if sel:
            lines.append(
                f"- {label}: {len(sel)} cells, composed (hybrid) mean normalised score "
                f"{np.mean([r['normalised_score'] for r in sel]):.3f}, success "
                f"{np.mean([r['success_rate'] for r in sel]):.2f}"
            )
    failure = [r for r in rows if r["failure_case"]]
    if failure:
        lines += ["", "## Failure case: the detour layout (16x16, layout 132)", "",
                  "| setup | gamma | protocol | method | normalised | success "
                  "| reference coverage |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in failure:
            if r["method"].startswith(("composed-hybrid", "scratch", "d3rlpy", "optimum")):
                ref = r["reference_coverage"]
                lines.append(
                    f"| {r['setup']} | {r['gamma']:g} | {r['protocol']} | {r['method']} | "
                    f"{r['normalised_score']:.3f} | {r['success_rate']:.2f} | "
                    f"{'' if np.isnan(ref) else f'{ref:.2f}'} |"
                )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    """``return_vs_time.png`` and ``return_vs_coverage.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [
        m for m in dict.fromkeys(r["method"] for r in rows) if m not in ("random", "optimum")
    ]
    fig, ax = plt.subplots(figsize=(8, 5))
    for method in methods:
        sel = [r for r in rows if r["method"] == method and r["seconds"] > 0]
        if sel:
            ax.scatter(
                [r["seconds"] for r in sel],
                [r["normalised_score"] for r in sel],
                s=12,
                alpha=0.5,
                label=method,
            )
    ax.set_xscale("log")
    ax.set_xlabel("time to obtain the policy (s, log scale)")
    ax.set_ylabel("normalised score (0 random, 1 optimum)")
    ax.set_title("Return against build time")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "return_vs_time.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 5))
    composed = [r for r in rows if r["method"].startswith("composed-hybrid")]
    normal = [r for r in composed if not r["failure_case"]]
    failure = [r for r in composed if r["failure_case"]]
    ax.scatter(
        [r["reference_coverage"] for r in normal],
        [r["normalised_score"] for r in normal],
        s=14,
        alpha=0.6,
        label="composed (hybrid)",
    )
    if failure:
        ax.scatter(
            [r["reference_coverage"] for r in failure],
            [r["normalised_score"] for r in failure],
            s=40,
            marker="x",
            color="red",
            label="detour failure case",
        )
    ax.set_xlabel("coverage of the optimal trajectory by the chosen datasets")
    ax.set_ylabel("normalised score")
    ax.set_title("Return against coverage")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "return_vs_coverage.png", dpi=90)
    plt.close(fig)
