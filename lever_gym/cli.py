"""The ``lever-gym`` command line: a thin layer over the public functions."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

import lever_gym.commands as commands
from lever_gym.envs.space import KEYS
from lever_gym.errors import LeverGymError
from lever_gym.experiments.protocol import STAGES
from lever_gym.library.build.executor import EXECUTORS
from lever_gym.library.format.config import BuildConfig
from lever_gym.train.dqn import DQNConfig
from lever_gym.train.heads import HeadConfig
from lever_gym.train.tabular import ALGORITHMS, BUDGETS
from lever_gym.version import __version__

PROTOCOL_NAMES = ("full", "quick")


def _budget(text: str) -> int:
    if text in BUDGETS:
        return BUDGETS[text]
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be an episode count or one of {sorted(BUDGETS)}; got {text!r}"
        ) from None


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


def _add_reuse_flags(p: argparse.ArgumentParser) -> None:
    """A flag per ``ReuseConfig`` field (default: the config's), its help from the field's
    docstring and its choices from the field's registry."""
    from lever_gym.reuse.config import SECTIONS, flag_fields

    docs = {name: _field_docs(kind) for name, kind in SECTIONS.items()}
    for section, f in flag_fields():
        flag = "--" + f.name.replace("_", "-")
        help_text = " ".join(docs[section].get(f.name, "").split()) or None
        if f.type in ("bool", bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                           help=help_text)  # fmt: skip
            continue
        kind = {"int": int, "float": float, "float | None": float}.get(str(f.type), str)
        many = str(f.type).startswith("tuple[float")
        p.add_argument(flag, type=float if many else kind, nargs="*" if many else None,
                       default=None, choices=f.metadata.get("choices"),
                       help=help_text)  # fmt: skip


def _field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass, by field name (read from its source)."""
    import ast
    import inspect
    import itertools
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    out = {}
    for node, after in itertools.pairwise(body):
        named = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if named and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            out[node.target.id] = str(after.value.value)
    return out


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


def _solve_command(sub: Any) -> None:
    """The ``solve`` sub-command's arguments."""
    p = sub.add_parser("solve", help="solve one env exactly and print its optimal return")
    p.add_argument("env_id", help="a LeverGrid id, e.g. LeverGrid-8x8-PathGold-v0")
    p.add_argument("--gamma", type=float, default=0.99, help="discount in [0, 1) (default 0.99)")
    p.add_argument("--layout-seed", type=int, default=0, help="generated layout (default 0)")
    p.set_defaults(func=commands.solve_env)


def _build_library_command(sub: Any) -> None:
    """The ``build-library`` sub-command's arguments."""
    defaults = BuildConfig()
    p = sub.add_parser("build-library", help="train building blocks and write a policy library")
    p.add_argument("--out", default="datasets", help="library folder (default: datasets)")
    p.add_argument(
        "--sizes", type=int, nargs="+", default=list(defaults.sizes), help="grid sizes: 8 16 32 64"
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
    p.add_argument(
        "--members", default="tabular", choices=("tabular", "dqn"),
        help="tabular Q-tables per layout, or DQN networks over a range of randomised layouts "
             "(--sizes: one size; --layout-seeds: the range START:STOP they train on)",
    )  # fmt: skip
    p.add_argument(
        "--obs-mode", default="view", choices=("view", "grid"),
        help="dqn members: the observation they see (view: egocentric window)",
    )  # fmt: skip
    p.add_argument("--view-size", type=int, default=7, help="dqn members: the window's side")
    p.add_argument(
        "--env-steps", type=int, default=DQNConfig().env_steps,
        help="dqn members: environment steps of each member's training",
    )  # fmt: skip
    p.add_argument(
        "--head-steps", type=int, default=HeadConfig().steps,
        help="dqn members: gradient steps of each offline head's fit (psi, behaviour)",
    )  # fmt: skip
    p.set_defaults(func=commands.build_library)


def _compose_command(sub: Any) -> None:
    """The ``compose`` sub-command's arguments."""
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
    p.add_argument(
        "--members", default="tabular", choices=("tabular", "dqn"),
        help="dqn: compose a neural library's members (default: the default neural library) "
        "on any layout of its size; the ReuseConfig flags below then do not apply, except "
        "--k and --operator",
    )  # fmt: skip
    p.add_argument(
        "--support", default=None, choices=("behaviour", "neighbour"),
        help="dqn members: how support is estimated (the behaviour model's BCQ threshold, or "
        "the nearest recorded observation)",
    )  # fmt: skip
    _add_reuse_flags(p)
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    p.add_argument("--random-start", action="store_true", help="evaluate from random starts")
    p.add_argument("--seed", type=int, default=0, help="seed of scoring and evaluation")
    p.add_argument("--save", default=None, help="folder to save the composed policy in")
    p.add_argument("--overwrite", action="store_true", help="replace a policy saved there")
    p.set_defaults(func=commands.compose)


def _benchmark_command(sub: Any) -> None:
    """The ``benchmark`` sub-command's arguments."""
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
    p.set_defaults(func=commands.benchmark)


def _report_command(sub: Any) -> None:
    """The ``report`` sub-command's arguments."""
    p = sub.add_parser("report", help="write the results page from benchmark rows")
    p.add_argument("--results", default="docs/results", help="folder of *.jsonl.gz rows")
    p.add_argument("--out", default="docs/results.md", help="the page to write")
    p.add_argument("--figures", default="docs/figures", help="folder for the page's figures")
    p.set_defaults(func=commands.report)


def _library_command(sub: Any) -> None:
    """The ``library`` sub-command's arguments."""
    p = sub.add_parser("library", help="the default library: where it is, installing it")
    p.add_argument(
        "action", choices=["where", "install-default"],
        help="where: print the default library's folder; install-default: rebuild it from "
        "the package into the user data folder and verify it against shipped checksums",
    )  # fmt: skip
    p.add_argument("--to", default=None, help="install into this folder instead")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="build processes")
    p.add_argument(
        "--members", default="tabular", choices=("tabular", "dqn"),
        help="the tabular default library, or the default neural library (dqn members; its "
             "rebuild takes about 30 minutes on 2 cores)",
    )  # fmt: skip
    p.set_defaults(func=commands.library)


def _demo_command(sub: Any) -> None:
    """The ``demo`` sub-command's arguments."""
    p = sub.add_parser("demo", help="every method on the default library (30 s on 2 cores)")
    p.add_argument("--out", default="results/demo", help="where the demo's rows go")
    p.set_defaults(func=commands.demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lever-gym`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="lever-gym", description="Inference-time policy reuse under support constraints."
    )
    parser.add_argument("--version", action="version", version=f"lever-gym {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("envs", help="list every registered LeverGrid id").set_defaults(
        func=commands.envs
    )
    _solve_command(sub)
    _build_library_command(sub)
    _compose_command(sub)
    _benchmark_command(sub)
    _report_command(sub)
    _library_command(sub)
    _demo_command(sub)
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
