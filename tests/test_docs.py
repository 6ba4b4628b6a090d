"""Docs and examples stay in step with the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lever_gym.envs.registration import environments_table

ROOT = Path(__file__).resolve().parents[1]


def test_environments_page_lists_the_registry():
    page = (ROOT / "docs" / "environments.md").read_text()
    assert environments_table() in page


@pytest.mark.parametrize(
    "page",
    [
        "README.md",
        "docs/quickstart.md",
        "docs/environments.md",
        "docs/library.md",
        "docs/method.md",
    ],
)
def test_python_blocks_run(page, monkeypatch):
    monkeypatch.chdir(ROOT)  # pages refer to the default library as "datasets"
    text = (ROOT / page).read_text()
    namespace: dict = {}  # blocks of one page run in sequence, like a reader would
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(compile(block, f"{page}:block", "exec"), namespace)


EXAMPLES = {
    "01_evaluation_loop.py": ["--episodes", "2"],
    "02_minari_d3rlpy.py": ["--steps", "50"],
    "03_compose_policy.py": ["--size", "8", "--episodes", "2"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *EXAMPLES[name]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
