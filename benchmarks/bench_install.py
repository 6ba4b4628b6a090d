"""Size on disk of a fresh virtual environment per install: core, `[baselines]`, `[dev]`.

Each install is `pip install -c constraints.txt <checkout>[extra]` into a new venv in a
temporary folder (torch pinned to its CPU build); the size is that of the venv's
site-packages, with the empty venv's own (pip) subtracted. Target: core ≤ 400 MB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_table

ROOT = Path(__file__).resolve().parent.parent
INSTALLS = {"core": "", "baselines": "[baselines]", "dev": "[dev]"}


def megabytes(folder: Path) -> float:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def install(extra: str) -> tuple[float, float, int]:
    """(MB installed, seconds, packages) of one fresh install."""
    venv = Path(tempfile.mkdtemp(prefix="lever-install-")) / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        empty = megabytes(site_packages(venv))
        start = time.perf_counter()
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "-c", str(ROOT / "constraints.txt"), f"{ROOT}{extra}"],
            check=True, env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1"},
        )  # fmt: skip
        seconds = time.perf_counter() - start
        listed = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        return megabytes(site_packages(venv)) - empty, seconds, len(listed)
    finally:
        shutil.rmtree(venv.parent, ignore_errors=True)


def main() -> None:
    rows = []
    for name, extra in INSTALLS.items():
        size, seconds, packages = install(extra)
        rows.append([name, f"`lever-gym{extra}`", f"{size:.0f} MB", packages, f"{seconds:.0f} s"])
    write_table(
        "install",
        "Installed size of a fresh virtual environment (target: core ≤ 400 MB)",
        ["install", "what", "site-packages", "packages", "install time"],
        rows,
    )


if __name__ == "__main__":
    main()
