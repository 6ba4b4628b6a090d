"""Packaging: `make wheel` builds the wheel the README installs, with complete metadata and
no setuptools deprecation, and the README's install lines say how things stand."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INSTALL = README.split("## Install\n")[1].split("\n## ")[0]


def test_make_wheel_builds_the_wheel_the_readme_installs_with_complete_metadata(tmp_path):
    out = subprocess.run(
        ["make", "wheel", f"PYTHON={sys.executable}", f"DIST={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for noise in ("deprecated", "BuildBackendWarning", "SetuptoolsDeprecationWarning"):
        assert noise not in out.stdout + out.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert f"dist/{wheel.name}" in INSTALL
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "lever_gym/library/build/default_library.json" in names
    assert not any(n.startswith(("tests/", "datasets/")) for n in names)
    for field in ("License-Expression: MIT", "Author: ", "Requires-Python: >=3.11"):
        assert field in meta
    assert "Classifier: Development Status" in meta
    assert "Description-Content-Type: text/markdown" in meta
    assert not (ROOT / "lever_gym.egg-info").exists()  # make wheel cleans up after itself


def test_readme_install_lines_are_from_a_clone_with_the_constraints():
    assert "not published on PyPI yet" in INSTALL
    lines = [x for x in INSTALL.splitlines() if x.startswith("pip install")]
    assert len(lines) >= 6
    assert all("-c constraints.txt" in x for x in lines)
    assert not any(re.search(r"pip install '?lever-gym", x) for x in lines)
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    for named in re.findall(r"\[(\w+)\]'", INSTALL):
        assert named in extras, named


def test_quickstart_page_gives_the_same_install():
    page = (ROOT / "docs" / "quickstart.md").read_text()
    assert "not published on PyPI yet" in page and "make wheel" in page
    assert all("-c constraints.txt" in x for x in page.splitlines() if "pip install" in x)
