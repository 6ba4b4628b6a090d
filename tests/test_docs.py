"""Docs and examples stay in step with the code."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lever_gym
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
        "docs/environments/generated.md",
        "docs/environments/detour.md",
        "docs/environments/random.md",
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
    "04_neural_members.py": ["--build", "neural", "--env-steps", "2000", "--episodes", "1"],
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


def test_api_page_links_every_top_level_name():
    page = (ROOT / "docs" / "api" / "lever_gym.md").read_text()
    for name in lever_gym.__all__:
        assert f"[`{name}`][" in page, name


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None
    or importlib.util.find_spec("mkdocstrings_handlers.python") is None,
    reason="the site needs the docs extra: pip install -e '.[docs]'",
)
def test_site_builds_in_strict_mode(tmp_path):
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "LeverGridEnv" in (site / "api" / "envs" / "index.html").read_text()
    assert (site / "figures" / "env_32x32.png").is_file()
