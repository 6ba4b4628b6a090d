"""Command lines: every sub-command with sensible and careless option values.

Each input runs ``lever_gym.cli.main`` for real up to the point where the work would start
(training, solving, retrieving, benchmarking), which is stubbed to stop there: every check of
the arguments, the paths and the library runs, nothing long does. Every input runs in a
fresh temporary folder (its working directory, so default and empty paths land there too)
with the fuzz library as the default library: nothing of the checkout is touched.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import strategies as st

from lever_gym.cli import main
from lever_gym.envs.registration import ENV_IDS
from lever_gym.library.locate import ENV_VAR
from tests.fuzz.outcome import Outcome, attempt


class Stop(Exception):
    """Raised where the real work of a command would begin."""


NUMBERS = st.sampled_from(["0", "1", "-1", "2", "8", "16", "1e9", "nan", "inf", "0.5", "-0"])
WORDS = st.sampled_from(["", "x", "Path", "PathGold", "path+gold", "X5", "8x8", "16x16", "é"])
VALUES = NUMBERS | WORDS | st.text(max_size=6)
PATHS = st.sampled_from(["{tmp}/out", "{tmp}/file/x", "{tmp}/file", "{tmp}/deep/a/b", ""])
OPTIONS = {
    "solve": {"--gamma": VALUES, "--layout-seed": VALUES},
    "build-library": {
        "--out": PATHS, "--sizes": VALUES, "--layout-seeds": VALUES,
        "--objectives": WORDS | st.sampled_from(["Gold", "PathGoldHazardLever", "Golld"]),
        "--gammas": VALUES, "--budgets": VALUES, "--snapshots": VALUES,
        "--algorithm": st.sampled_from(["q_learning", "sarsa", "expert", "dqn"]),
        "--key": st.sampled_from(["state", "cell", "x"]), "--episodes": VALUES,
        "--epsilon": VALUES, "--seed": VALUES, "--workers": st.sampled_from(["1", "0", "-2"]),
        "--force": st.none(),
    },
    "compose": {
        "--objective": VALUES | st.sampled_from(["reach the exit but not the gold", "gold+lava"]),
        "--size": VALUES, "--layout-seed": VALUES,
        "--library": st.sampled_from(["{lib}", "{tmp}/nolib", "{tmp}/file", "{tmp}"]),
        "--gamma": VALUES, "--parts": WORDS | st.sampled_from(["PG+HL", "P+G", "PG"]),
        "--strategy": st.sampled_from(["hybrid", "exhaustive", "x"]), "--k": VALUES,
        "--scoring": st.sampled_from(["rollout", "predictor", "x"]),
        "--operator": st.sampled_from(["sum", "gpi", "x"]),
        "--support-mode": st.sampled_from(["exclude", "x"]), "--episodes": VALUES,
        "--random-start": st.none(), "--seed": VALUES, "--save": PATHS,
    },
    "benchmark": {
        "--protocol": st.sampled_from(["quick", "full", "x"]), "--out": PATHS,
        "--stages": st.sampled_from(["tune", "report", "x"]), "--workers": VALUES,
    },
    "report": {"--results": PATHS, "--out": PATHS, "--figures": PATHS},
    "demo": {"--out": PATHS},
    "envs": {},
}  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A sub-command, then some of its options (and sometimes an unknown one)."""
    command = draw(st.sampled_from([*OPTIONS, "--version", "nope"]))
    argv = [command]
    if command == "solve":
        argv.append(draw(st.sampled_from([*ENV_IDS[:3], "LeverGrid-8x8-Pathh-v0", "x"])))
    for option, values in OPTIONS.get(command, {}).items():
        if draw(st.integers(0, 2)) == 0:
            value = draw(values)
            argv += [option] if value is None else [option, value]
    if draw(st.integers(0, 9)) == 0:
        argv += [draw(st.sampled_from(["--bogus", "-x", "--seed"]))]
    return argv


def _stop_after(real):  # type: ignore[no-untyped-def]
    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)
        raise Stop

    return run


STUBS = (
    "lever_gym.commands.solve",
    "lever_gym.reuse.composed.retrieve",
    "lever_gym.experiments.suite.run",
    "lever_gym.experiments.page.write_page",
    "lever_gym.experiments.demo.run_demo",
)
"""Where each command's work begins (the build stops right after ``prepare``)."""


def feed_cli(argv: list[str], library: Path) -> Outcome:
    """Run ``lever-gym argv`` with the work stubbed out; a refusal must be one line."""
    import lever_gym.library.build.builder as build

    tmp = Path(tempfile.mkdtemp(prefix="lever-cli-"))
    try:
        (tmp / "file").write_text("")
        args = [a.replace("{tmp}", str(tmp)).replace("{lib}", str(library)) for a in argv]
        err = io.StringIO()
        code: dict[str, object] = {}
        with contextlib.ExitStack() as stack:
            for name in STUBS:
                stack.enter_context(mock.patch(name, side_effect=Stop))
            stack.enter_context(mock.patch.object(build, "prepare", _stop_after(build.prepare)))
            stack.enter_context(mock.patch.dict(os.environ, {ENV_VAR: str(library)}))
            stack.enter_context(contextlib.chdir(tmp))
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            outcome = attempt(lambda: code.update(status=_status(args)))
        if not outcome.ok:
            return outcome
        status = code["status"]
        if status == "stopped":
            return Outcome("accepted (stopped before the work)")
        lines = err.getvalue().strip().splitlines()
        if status == 2 and lines and lines[-1].startswith("lever-gym: error:") and len(lines) == 1:
            return Outcome("exit 2, one line")
        if status == 2 and lines and "usage:" in lines[0]:
            return Outcome("usage error (argparse)")
        if status == 0:
            return Outcome("accepted")
        return Outcome("escaped: unclear exit", f"{status}: {err.getvalue()[-300:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _status(args: list[str]) -> int | str:
    """``main``'s exit status (argparse's ``SystemExit`` read as one), or ``stopped``."""
    try:
        return main(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except Stop:
        return "stopped"
