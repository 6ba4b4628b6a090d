"""The ``lever-gym`` command line: a thin layer over the public functions."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym

from lever_gym.data.collect import DataConfig
from lever_gym.envs.registration import ENV_IDS
from lever_gym.envs.space import KEYS
from lever_gym.errors import LeverGymError
from lever_gym.experiments.protocol import STAGES
from lever_gym.library.build.executor import EXECUTORS
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.locate import default_library
from lever_gym.mdp.rollout import greedy_trajectory
from lever_gym.mdp.solve import solve
from lever_gym.reuse.composed import POOLS
from lever_gym.reuse.operators import OPERATORS, SUPPORT_MODES
from lever_gym.reuse.retrieval import STRATEGIES
from lever_gym.reuse.scoring import SCORINGS
from lever_gym.train.tabular import ALGORITHMS, BUDGETS
from lever_gym.version import __version__

PROTOCOL_NAMES = ("full", "quick")


def _cmd_envs(args: argparse.Namespace) -> None:
    for eid in ENV_IDS:
        print(eid)


def _cmd_solve(args: argparse.Namespace) -> None:
    env = gym.make(args.env_id, layout_seed=args.layout_seed, render_mode="ansi")
    start = time.perf_counter()
    sol = solve(env, args.gamma)
    took = time.perf_counter() - start
    model = sol.model
    env.reset(seed=0)
    print(env.render())
    print(
        f"{args.env_id} layout_seed={args.layout_seed}: {model.n_states} states, "
        f"value iteration gamma={args.gamma} converged in {sol.iterations} sweeps, {took:.3f} s"
    )
    path = greedy_trajectory(model, sol.policy, model.start_state, model.layout.n_cells)
    print(f"optimal return from the start: {path.total(model, sol.weights):.2f}")


def _budget(text: str) -> int:
    if text in BUDGETS:
        return BUDGETS[text]
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be an episode count or one of {sorted(BUDGETS)}; got {text!r}"
        ) from None


def _cmd_build_library(args: argparse.Namespace) -> None:
    from tqdm import tqdm

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


def _seeds(text: str) -> list[int]:
    """``7`` or a half-open range ``0:1000``."""
    head, colon, tail = text.partition(":")
    try:
        seeds = list(range(int(head), int(tail))) if colon else [int(text)]
    except ValueError:
        seeds = []
    if not seeds:
        raise argparse.ArgumentTypeError(
            f"layout seeds must be integers or a range START:STOP (STOP > START); got {text!r}"
        )
    return seeds


def _size(text: str) -> int:
    head, _, tail = text.lower().partition("x")
    if not head.isdigit() or (tail and tail != head):
        raise argparse.ArgumentTypeError(f"size must look like 16 or 16x16; got {text!r}")
    return int(head)


def _cmd_compose(args: argparse.Namespace) -> None:
    from lever_gym.eval.evaluate import evaluate
    from lever_gym.objective import Objective
    from lever_gym.reuse.composed import LeverComposedPolicy

    given = {
        name: getattr(args, name)
        for name in ("strategy", "k", "scoring", "operator", "support_mode", "pool", "improve",
                     "guarded")
        if getattr(args, name) is not None
    }  # fmt: skip
    policy = LeverComposedPolicy.from_library(
        args.library, args.objective, size=args.size, layout_seed=args.layout_seed,
        gamma=args.gamma, parts=args.parts, n_starts=16 if args.random_start else 1,
        seed=args.seed, **given,
    )  # fmt: skip
    print(policy.summary())
    info = policy.explanation
    objective = Objective.parse(args.objective)
    eid = objective.env_id(info.size)
    kwargs = {"layout_seed": info.layout_seed, "random_start": args.random_start}
    if not objective.is_unit:
        kwargs["weights"] = list(objective.weights)
    result = evaluate(policy, eid, args.episodes, args.seed, **kwargs)
    start = "random starts" if args.random_start else "the fixed start"
    print(f"evaluation in {eid} ({args.episodes} seeded episodes from {start}): {result}")
    if args.save:
        print(f"saved to {policy.save(args.save)}")


def _cmd_benchmark(args: argparse.Namespace) -> None:
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


def _cmd_report(args: argparse.Namespace) -> None:
    from lever_gym.experiments.page import write_page

    page = Path(args.out)
    write_page(Path(args.results), page, Path(args.figures))
    print(f"wrote {page}")


def _cmd_library(args: argparse.Namespace) -> None:
    from lever_gym.library.build.default import install_default
    from lever_gym.library.locate import ENV_VAR, user_library

    if args.action == "where":
        print(default_library())
        return
    target = Path(args.to) if args.to else user_library()
    print(f"rebuilding the default library into {target} (no download; about 30 s on 2 cores)...")
    report = install_default(target, workers=args.workers)
    print(report)
    if args.to:
        print(f"use it with ${ENV_VAR}={target} or pass it as the library path")


def _cmd_demo(args: argparse.Namespace) -> None:
    """Every method on the default library's 8x8 layouts, the paper's six setups, both
    library gammas, the fixed start; d3rlpy DiscreteCQL for 300 steps on layout 0."""
    from lever_gym.experiments.demo import run_demo

    print(run_demo(default_library(), Path(args.out)))


def _executor_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor", default="local", choices=EXECUTORS,
        help="local: a process pool; ray: one task per run on a Ray cluster",
    )  # fmt: skip
    p.add_argument(
        "--address", default=None,
        help="Ray cluster address (e.g. 10.0.0.1:6379 after `ray start --head`; default: a "
        "local cluster of --workers CPUs)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lever-gym`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="lever-gym", description="Inference-time policy reuse under support constraints."
    )
    parser.add_argument("--version", action="version", version=f"lever-gym {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("envs", help="list every registered LeverGrid id").set_defaults(func=_cmd_envs)
    p = sub.add_parser("solve", help="solve one env exactly and print its optimal return")
    p.add_argument("env_id", help="a LeverGrid id, e.g. LeverGrid-8x8-PathGold-v0")
    p.add_argument("--gamma", type=float, default=0.99, help="discount in [0, 1) (default 0.99)")
    p.add_argument("--layout-seed", type=int, default=0, help="generated layout (default 0)")
    p.set_defaults(func=_cmd_solve)
    defaults = BuildConfig()
    p = sub.add_parser("build-library", help="train building blocks and write a policy library")
    p.add_argument("--out", default="datasets", help="library folder (default: datasets)")
    p.add_argument(
        "--sizes", type=int, nargs="+", default=list(defaults.sizes), help="grid sizes: 8 16 32"
    )
    p.add_argument(
        "--layout-seeds", type=_seeds, nargs="+", default=[list(defaults.layout_seeds)],
        help="generated layouts to train on: seeds, or ranges START:STOP",
    )  # fmt: skip
    p.add_argument(
        "--objectives", nargs="+", default=list(defaults.objectives),
        help="building blocks (objective names)",
    )  # fmt: skip
    p.add_argument(
        "--gammas", type=float, nargs="+", default=list(defaults.gammas),
        help="training discounts",
    )  # fmt: skip
    p.add_argument(
        "--budgets", type=_budget, nargs="+", default=list(defaults.budgets),
        help="episode budgets: counts or X1, X5, X10",
    )  # fmt: skip
    p.add_argument(
        "--replicas", type=int, default=defaults.replicas,
        help="independent training runs per block, gamma and budget",
    )  # fmt: skip
    p.add_argument(
        "--snapshots", type=int, default=defaults.snapshots, help="Q-tables kept per run"
    )
    p.add_argument(
        "--algorithm", default=defaults.algorithm, choices=ALGORITHMS, help="the trainer"
    )
    p.add_argument(
        "--key", default=defaults.key, choices=KEYS,
        help="Q-table rows: Markov states or cells (as the paper)",
    )  # fmt: skip
    p.add_argument(
        "--episodes", type=int, default=defaults.data.episodes,
        help="behaviour episodes per dataset",
    )  # fmt: skip
    p.add_argument(
        "--epsilon", type=float, default=defaults.data.epsilon,
        help="random-action rate of the behaviour episodes",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=defaults.seed, help="the library's master seed")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parallel build processes"
    )
    _executor_flags(p)
    p.add_argument(
        "--force", action="store_true",
        help="start over in a folder holding another config's library or build (deletes it)",
    )  # fmt: skip
    p.add_argument(
        "--sharded", action="store_true",
        help="one library per layout under shards.json, with a global index (many layouts)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_build_library)
    p = sub.add_parser("compose", help="compose library policies for an objective and evaluate")
    p.add_argument(
        "--objective", required=True, help="e.g. path+gold+hazard, an env id, a sentence"
    )
    p.add_argument("--size", type=_size, default=None, help="16 or 16x16")
    p.add_argument(
        "--layout-seed", type=int, default=None,
        help="the library layout (needed unless --objective is an env id or the library has "
        "one layout of that size)",
    )  # fmt: skip
    p.add_argument(
        "--library", default=None,
        help="library folder (default: $LEVER_GYM_LIBRARY, then the installed default library)",
    )  # fmt: skip
    p.add_argument("--gamma", type=float, default=None, help="library gamma (default: every)")
    p.add_argument("--parts", default=None, help="a split such as PG+HL (default: scored)")
    p.add_argument("--strategy", choices=STRATEGIES, help="candidates kept per block")
    p.add_argument("--k", type=int, help="candidates per block with --strategy hybrid")
    p.add_argument("--scoring", choices=SCORINGS, help="how combinations are scored offline")
    p.add_argument("--operator", choices=OPERATORS, help="how Q-values are combined")
    p.add_argument("--support-mode", choices=SUPPORT_MODES, help="unsupported actions")
    p.add_argument("--pool", choices=POOLS, help="gpi's pool: the parts' blocks or the layout")
    p.add_argument("--improve", type=int, help="rounds of policy iteration on the data")
    p.add_argument(
        "--guarded", action=argparse.BooleanOptionalAction, default=None,
        help="act as a member that scores higher alone",
    )  # fmt: skip
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    p.add_argument("--random-start", action="store_true", help="evaluate from random starts")
    p.add_argument("--seed", type=int, default=0, help="seed of scoring and evaluation")
    p.add_argument("--save", default=None, help="folder to save the composed policy in")
    p.set_defaults(func=_cmd_compose)
    p = sub.add_parser("benchmark", help="tune and report the method comparison (slow)")
    p.add_argument(
        "--protocol", default="full", choices=sorted(PROTOCOL_NAMES),
        help="full: the results page's protocol (hours on 2 cores); quick: an 8x8 smoke run",
    )  # fmt: skip
    p.add_argument("--out", default="results/benchmark", help="libraries and rows go here")
    p.add_argument(
        "--stages", nargs="+", default=list(STAGES), choices=STAGES,
        help="tune: the composed variants on the tuning layouts; k: quality against the "
        "candidates per part there; report: every method on the held-out layouts",
    )  # fmt: skip
    p.add_argument("--workers", type=int, help="parallel processes (default: the protocol's)")
    _executor_flags(p)
    p.set_defaults(func=_cmd_benchmark)
    p = sub.add_parser("report", help="write the results page from benchmark rows")
    p.add_argument("--results", default="docs/results", help="folder of *.jsonl.gz rows")
    p.add_argument("--out", default="docs/results.md", help="the page to write")
    p.add_argument("--figures", default="docs/figures", help="folder for the page's figures")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("library", help="the default library: where it is, installing it")
    p.add_argument(
        "action", choices=["where", "install-default"],
        help="where: print the default library's folder; install-default: rebuild it from "
        "the package into the user data folder and verify it against shipped checksums",
    )  # fmt: skip
    p.add_argument("--to", default=None, help="install into this folder instead")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="build processes")
    p.set_defaults(func=_cmd_library)
    p = sub.add_parser("demo", help="every method on the default library (30 s on 2 cores)")
    p.add_argument("--out", default="results/demo", help="where the demo's rows go")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 on bad input: one line on stderr, no
    traceback; argparse's usage errors exit 2 too)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # the reader stopped early (`lever-gym envs | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LeverGymError, gym.error.Error, OSError) as e:  # OSError: a path given that fails
        message = " ".join(str(e).split())
        print(f"lever-gym: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
