"""The ``lever-gym`` sub-commands: each takes the parsed arguments (``lever_gym.cli``) and
calls the public functions."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

from lever_gym.data.collect import DataConfig
from lever_gym.envs.registration import ENV_IDS
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.locate import default_library
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.solve import solve
from lever_gym.reuse.config import flag_fields


def envs(args: argparse.Namespace) -> None:
    for eid in ENV_IDS:
        print(eid)


def solve_env(args: argparse.Namespace) -> None:
    env = gym.make(args.env_id, layout_seed=args.layout_seed, render_mode="ansi")
    start = time.perf_counter()
    sol = solve(env, args.gamma)
    took = time.perf_counter() - start
    model = sol.model
    env.reset(seed=0)
    print(env.render())
    print(
        f"{args.env_id} layout_seed={args.layout_seed}: {model.n_states} states, "
        f"value iteration gamma={args.gamma} converged in {sol.iterations} sweeps of its slowest "
        f"layer, {took:.3f} s"
    )
    path = greedy_trajectory(model, sol.policy, model.start_state, model.layout.n_cells)
    print(f"optimal return from the start: {path.total(model, sol.weights):.2f}")


def build_library(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    if args.members == "dqn":
        return _build_neural(args)
    config = BuildConfig(
        sizes=tuple(args.sizes),
        layout_seeds=tuple(seed for seeds in args.layout_seeds for seed in seeds),
        objectives=tuple(args.objectives),
        gammas=tuple(args.gammas),
        budgets=tuple(args.budgets),
        replicas=args.replicas,
        snapshots=args.snapshots,
        algorithm=args.algorithm,
        key=args.key,
        data=DataConfig(episodes=args.episodes, epsilon=args.epsilon),
        seed=args.seed,
    )
    start = time.perf_counter()
    bars: list[tqdm] = []  # drawn once training starts: a refused build prints one line only

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="run", desc="build-library"))
        bars[0].update(done - bars[0].n)

    from lever_gym.library.build.builder import build_library
    from lever_gym.library.build.sharded import build_sharded

    build = build_sharded if args.sharded else build_library
    try:
        lib = build(
            args.out, config, workers=args.workers, executor=args.executor,
            address=args.address, progress=progress, force=args.force,
        )  # fmt: skip
    finally:
        for bar in bars:
            bar.close()
    print(
        f"{len(lib)} policies in {args.out} ({time.perf_counter() - start:.1f} s); {lib.verify()}"
    )


def _build_neural(args: argparse.Namespace) -> None:
    from lever_gym.library.build.neural import build_neural_library
    from lever_gym.library.format.neural import NeuralBuildConfig
    from lever_gym.library.neural_store import NeuralLibrary
    from lever_gym.train.dqn import DQNConfig, Worlds
    from lever_gym.train.heads import HeadConfig

    seeds = sorted({seed for seeds in args.layout_seeds for seed in seeds})
    if len(args.sizes) != 1 or seeds != list(range(seeds[0], seeds[-1] + 1)) or len(seeds) < 2:
        raise ConfigError(
            "--members dqn trains over one size and one range of layouts: pass one --sizes "
            f"and --layout-seeds START:STOP (at least two layouts); got sizes {args.sizes} "
            f"and {len(seeds)} layout seed(s)."
        )
    worlds = Worlds(size=args.sizes[0], layout_seeds=(seeds[0], seeds[-1] + 1),
                    obs_mode=args.obs_mode, view_size=args.view_size)  # fmt: skip
    config = NeuralBuildConfig(
        objectives=tuple(args.objectives), replicas=args.replicas, worlds=worlds,
        dqn=DQNConfig(env_steps=args.env_steps, worlds=worlds),
        heads=HeadConfig(steps=args.head_steps), episodes=args.episodes,
        epsilon=args.epsilon, seed=args.seed,
    )  # fmt: skip
    start = time.perf_counter()
    out = build_neural_library(args.out, config, workers=args.workers, executor=args.executor,
                               progress=True)  # fmt: skip
    lib = NeuralLibrary.load(out)
    lib.verify()
    print(f"{len(lib.members)} neural members in {out} ({time.perf_counter() - start:.1f} s)")


def compose(args: argparse.Namespace) -> None:
    from lever_gym.library.shards import open_library
    from lever_gym.objective import Objective
    from lever_gym.reuse.composed import LeverComposedPolicy
    from lever_gym.reuse.config import ReuseConfig

    options = {
        f.name: getattr(args, f.name) for _, f in flag_fields() if getattr(args, f.name) is not None
    }
    if args.members == "dqn":
        _compose_neural(args, options)
        return
    if args.support is not None:
        raise ConfigError(
            "--support sets how dqn members' support is estimated; add --members dqn."
        )
    if args.random_start and "n_starts" not in options:
        options["n_starts"] = 16
    config = ReuseConfig().with_options(**options, seed=args.seed)
    lib = open_library(args.library)
    objective = Objective.parse(args.objective)
    layout = _layout(lib.layouts(), args.size, args.layout_seed)
    policy = LeverComposedPolicy.from_library(lib, args.objective, layout=layout, config=config)
    print(policy.summary())
    info = policy.explanation
    _evaluate_and_save(args, policy, objective, info.size, {"layout_seed": info.layout_seed})


def _compose_neural(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """``compose --members dqn``: a neural library's members composed on the target layout
    (``--size``, ``--layout-seed``; any layout of the library's size), then evaluated there."""
    from lever_gym.library.locate import default_neural_library
    from lever_gym.library.neural_store import NeuralLibrary
    from lever_gym.objective import Objective
    from lever_gym.reuse.composition import ComposeConfig
    from lever_gym.reuse.neural import NeuralReuseConfig
    from lever_gym.reuse.neural_pipeline import compose_neural

    unused = sorted(set(options) - {"k", "operator"})
    if unused:
        raise ConfigError(
            f"--members dqn takes --k, --operator and --support; got {', '.join(unused)} "
            "(settings of tabular composition). Drop them."
        )
    lib = NeuralLibrary.load(args.library or default_neural_library())
    size = lib.worlds.size if args.size is None else args.size
    if args.layout_seed is None:
        raise ConfigError(
            f"say which {size}x{size} layout to compose for: --layout-seed N (any seed; the "
            f"library trained on {lib.worlds.layout_seeds[0]}..{lib.worlds.layout_seeds[1] - 1})."
        )
    config = NeuralReuseConfig(
        k=options.get("k", NeuralReuseConfig().k),
        compose=ComposeConfig(operator=options.get("operator", ComposeConfig().operator)),
        support=args.support or NeuralReuseConfig().support, seed=args.seed,
    )  # fmt: skip
    objective = Objective.parse(args.objective)
    policy = compose_neural(lib, objective, layout=(size, args.layout_seed), config=config)
    facts = policy.explain()
    print(
        f"{config.compose.operator} over {len(facts['members'])} neural member(s) "
        f"({', '.join(facts['members'])}; support {config.support}) on the {size}x{size} "
        f"layout {args.layout_seed}, composed offline"
    )
    env_kwargs = {"layout_seed": args.layout_seed, "obs_mode": lib.worlds.obs_mode,
                  "view_size": lib.worlds.view_size}  # fmt: skip
    _evaluate_and_save(args, policy, objective, size, env_kwargs)


def _evaluate_and_save(
    args: argparse.Namespace, policy: Any, objective: Any, size: int, env_kwargs: dict[str, Any]
) -> None:
    """``compose``'s tail: evaluate ``policy`` in the objective's env (``env_kwargs`` plus the
    start protocol and any non-unit weights), print the result, save if asked."""
    from lever_gym.eval.evaluate import evaluate

    eid = objective.env_id(size)
    kwargs = {**env_kwargs, "random_start": args.random_start}
    if not objective.is_unit:
        kwargs["weights"] = list(objective.weights)
    result = evaluate(policy, eid, args.episodes, args.seed, **kwargs)
    start = "random starts" if args.random_start else "the fixed start"
    print(f"evaluation in {eid} ({args.episodes} seeded episodes from {start}): {result}")
    if args.save:
        print(f"saved to {policy.save(args.save, overwrite=args.overwrite)}")


def _layout(
    layouts: list[tuple[int, int]], size: int | None, layout_seed: int | None
) -> tuple[int, int] | None:
    """The layout ``--size`` and ``--layout-seed`` name (``None``: neither; then the
    objective or the library's only layout decides); a size alone names the library's only
    layout of that size."""
    if size is None and layout_seed is None:
        return None
    matching = [(n, s) for n, s in layouts if size in (None, n) and layout_seed in (None, s)]
    if len(matching) == 1 or (size is None or layout_seed is None):
        if len(matching) != 1:
            raise ConfigError(
                "say which layout: give --size and --layout-seed; the library has "
                f"{', '.join(f'{n}x{n} layout {s}' for n, s in layouts)}."
            )
        return matching[0]
    return (size, layout_seed)


def benchmark(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from lever_gym.experiments.suite import PROTOCOLS, run

    config = PROTOCOLS[args.protocol]
    if args.workers:
        config = dataclasses.replace(config, workers=args.workers)
    start = time.perf_counter()
    with tqdm(total=1, unit="unit", desc=f"benchmark ({args.protocol})") as bar:

        def progress(what: str, done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        results = run(
            config, args.out, stages=tuple(args.stages), executor=args.executor,
            address=args.address, progress=progress,
        )  # fmt: skip
    print(f"rows in {results} ({time.perf_counter() - start:.0f} s); turn them into the "
          f"results page with `lever-gym report --results {results}`")  # fmt: skip


def report(args: argparse.Namespace) -> None:
    from lever_gym.experiments.page import write_page

    page = Path(args.out)
    write_page(Path(args.results), page, Path(args.figures))
    print(f"wrote {page}")


def library(args: argparse.Namespace) -> None:
    from lever_gym.library.build.default import install_default
    from lever_gym.library.locate import ENV_VAR, user_library

    if args.members == "dqn":
        return _neural_library(args)
    if args.action == "where":
        print(default_library())
        return
    target = Path(args.to) if args.to else user_library()
    print(f"rebuilding the default library into {target} (no download; about 30 s on 2 cores)...")
    report = install_default(target, workers=args.workers)
    print(report)
    if args.to:
        print(f"use it with ${ENV_VAR}={target} or pass it as the library path")


def _neural_library(args: argparse.Namespace) -> None:
    from lever_gym.library.build.neural import build_neural_library
    from lever_gym.library.format.neural import DEFAULT_NEURAL_CONFIG
    from lever_gym.library.locate import (
        NEURAL_ENV_VAR,
        checkout_neural_library,
        default_neural_library,
        user_neural_library,
    )
    from lever_gym.library.neural_store import NeuralLibrary

    if args.action == "where":
        print(default_neural_library())
        return
    target = Path(args.to) if args.to else user_neural_library()
    print(f"rebuilding the default neural library into {target} (no download; about 30 "
          "minutes on 2 cores)...", flush=True)  # fmt: skip
    build_neural_library(target, DEFAULT_NEURAL_CONFIG, workers=args.workers, progress=True)
    built = NeuralLibrary.load(target)
    built.verify()
    shipped = checkout_neural_library()
    if (shipped / "manifest.json").is_file():
        ref = {m.id: m.files for m in NeuralLibrary.load(shipped).members}
        same = sum(ref.get(m.id) == m.files for m in built.members)
        print(f"{same} of {len(built.members)} members byte-identical to {shipped}")
    print(f"verified {len(built.members)} members in {target}")
    if args.to:
        print(f"use it with ${NEURAL_ENV_VAR}={target} or pass it as the library path")


def demo(args: argparse.Namespace) -> None:
    """Every method on the default library's 8x8 layouts, the paper's six setups, both
    library gammas, the fixed start; d3rlpy DiscreteCQL for 300 steps on layout 0."""
    from lever_gym.experiments.demo import neural_summary, run_demo
    from lever_gym.library.locate import default_neural_library

    print(run_demo(default_library(), Path(args.out)))
    try:
        neural = default_neural_library()
    except LibraryError as e:
        print(f"\nNo neural table: {e}")
        return
    print(neural_summary(neural))
