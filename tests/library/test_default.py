"""The default library: where it is found, the digests shipped in the package, installing it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lever_gym.errors import LibraryError
from lever_gym.library import locate
from lever_gym.library.build.default import DEFAULT_CONFIG, SHIPPED, digest, verify_default
from lever_gym.library.store import Library

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "datasets"


def test_the_committed_default_library_matches_the_shipped_digests():
    assert Library.load(DEFAULT).config == DEFAULT_CONFIG
    shipped = json.loads(SHIPPED.read_text())
    assert shipped == json.loads(json.dumps(digest(DEFAULT)))
    report = verify_default(DEFAULT)
    assert report.ok and report.identical == len(shipped["files"])


def test_value_summaries_accept_other_bytes_with_the_same_values(tmp_path):
    copy = tmp_path / "lib"
    shutil.copytree(DEFAULT, copy)
    npz = next(copy.rglob("policy.npz"))
    import numpy as np

    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(npz, **arrays)  # same values, uncompressed: other bytes
    (copy / "manifest.json").unlink()
    report = verify_default(copy)
    assert npz.relative_to(copy).as_posix() in report.within_tolerance
    assert report.missing == ("manifest.json",) and not report.different


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "mine"))
    assert locate.default_library() == tmp_path / "mine"
    assert locate.resolve("elsewhere") == Path("elsewhere")
    monkeypatch.delenv(locate.ENV_VAR)
    monkeypatch.setattr(locate, "user_library", lambda: tmp_path / "user")
    assert locate.default_library() == locate.checkout_library() == DEFAULT
    monkeypatch.setattr(locate, "checkout_library", lambda: tmp_path / "nowhere")
    with pytest.raises(LibraryError, match="lever-gym library install-default"):
        locate.default_library()


def readme_wheel_install(wheel: Path) -> list[str]:
    """The README's core install line for a built wheel (the first ``pip install`` line of the
    block after its ``wheel-install`` marker), with this checkout's paths put in."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- wheel-install")[1].split("```bash\n")[1].split("```")[0]
    line = next(x for x in block.splitlines() if x.startswith("pip install"))
    words = shlex.split(line.split("#")[0])
    named = f"dist/{wheel.name}"
    assert named in words, f"the README installs {words}, not the wheel built, {named}"
    paths = {"constraints.txt": str(ROOT / "constraints.txt"), named: str(wheel)}
    return [paths.get(w, w) for w in words]


@pytest.mark.slow
def test_a_built_wheel_in_a_new_venv_installs_the_default_library_and_runs_the_quick_start(
    tmp_path,
):
    """The wheel alone, as a user gets it: a new virtual environment, a plain core install
    (no baselines extra: no torch, d3rlpy or scipy), another working directory; then
    ``lever-gym library install-default`` and the README's quick start."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    pip_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    installed = subprocess.run(
        [python, "-m", *readme_wheel_install(next(wheels.glob("*.whl")))],
        env=pip_env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in (locate.ENV_VAR, "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    run = lambda *args: subprocess.run(  # noqa: E731
        list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
    )
    extras = run(python, "-c", "import importlib.util as u; print([m for m in "
                 "('torch', 'd3rlpy', 'scipy') if u.find_spec(m)])")  # fmt: skip
    assert extras.stdout.strip() == "[]", extras.stderr[-2000:]
    built = run(str(venv / "bin" / "lever-gym"), "library", "install-default", "--workers", "2")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "0 different, 0 missing" in built.stdout
    quick = (ROOT / "README.md").read_text().split("```python\n")[1].split("```")[0]
    check = f"import lever_gym\nassert lever_gym.__file__.startswith({str(venv)!r})\n"
    done = run(python, "-c", check + quick)
    assert done.returncode == 0, done.stderr[-2000:]
    where = run(str(venv / "bin" / "lever-gym"), "library", "where")
    assert str(tmp_path / "data") in where.stdout


def test_minari_normalises_the_returns_of_every_default_dataset():
    """``ref_min_score`` / ``ref_max_score`` hold on every dataset: the exact random and
    finite-horizon optimal returns, so random maps to 0 and the optimum to 1."""
    import minari

    lib = Library.load(DEFAULT)
    for record in lib:
        ds = lib.dataset(record)
        low, high = ds.storage.metadata["ref_min_score"], ds.storage.metadata["ref_max_score"]
        assert low < high, record.id
        scores = minari.get_normalized_score(ds, np.array([low, (low + high) / 2, high]))
        np.testing.assert_allclose(scores, [0.0, 0.5, 1.0], atol=1e-12)
