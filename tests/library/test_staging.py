"""Builds that never mix: fingerprint, ledger, lock, temporary files, early refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lever_gym.library.build.runs as build_module
from lever_gym.data.collect import DataConfig
from lever_gym.errors import ConfigError, LayoutError, LibraryError
from lever_gym.library.build.builder import build_library
from lever_gym.library.build.staging import build_lock
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import sha256
from lever_gym.library.store import Library
from tests.data.test_storage import malicious_metadata
from tests.library.tamper import copy_library, reseal, tiny_config

ROOT = Path(__file__).resolve().parents[2]
UNMEASURED = ("timing.json", "build_timing.json")


def files_of(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` but the measured timings."""
    return {
        str(p.relative_to(root)): sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in UNMEASURED
    }


def interrupted(out: Path, config: BuildConfig, monkeypatch, after: int = 1) -> None:
    """Build ``config`` at ``out`` and stop it after ``after`` runs."""
    real, calls = build_module.build_run, {"n": 0}

    def stop(job):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(build_module, "build_run", stop)
    with pytest.raises(KeyboardInterrupt):
        build_library(out, config)
    monkeypatch.setattr(build_module, "build_run", real)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Clean builds of the tiny config and of it with 5 dataset episodes."""
    root = tmp_path_factory.mktemp("clean")
    five = dataclasses.replace(tiny_config(), data=DataConfig(episodes=5))
    return {
        "tiny": files_of(build_library(root / "tiny", tiny_config()).root),
        "five": files_of(build_library(root / "five", five).root),
    }


def test_a_resumed_build_is_a_clean_build_or_refused(tmp_path, monkeypatch, clean):
    out = tmp_path / "lib"
    interrupted(out, tiny_config(), monkeypatch)
    five = dataclasses.replace(tiny_config(), data=DataConfig(episodes=5))
    before = files_of(out)
    with pytest.raises(LibraryError, match=r"an interrupted build of another config \(data"):
        build_library(out, five)
    assert files_of(out) == before
    build_library(out, tiny_config())
    assert files_of(out) == clean["tiny"]
    with pytest.raises(LibraryError, match=r"holds a library of another config \(data.episodes: 3"):
        build_library(out, five)
    build_library(out, five, force=True)
    assert files_of(out) == clean["five"]


def test_a_build_killed_at_any_moment_resumes_to_a_clean_build(tmp_path, clean):
    out = tmp_path / "lib"
    script = (
        "import sys\nfrom lever_gym.library.build.builder import build_library\n"
        "from tests.library.tamper import tiny_config\nbuild_library(sys.argv[1], tiny_config())"
    )
    for moment in (".build/done/*.json", "index/8x8-s0/*"):  # a policy finished; indexing
        child = subprocess.Popen([sys.executable, "-c", script, str(out)], cwd=ROOT)
        while child.poll() is None and not list(out.glob(moment)):
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        assert not (out / "manifest.json").exists()
    build_library(out, tiny_config())
    assert files_of(out) == clean["tiny"]
    assert not (out / ".build").exists()


def test_finished_policies_are_kept_only_if_they_match(tmp_path, monkeypatch):
    out = tmp_path / "lib"
    interrupted(out, tiny_config(), monkeypatch)
    (policy,) = out.glob("lever/*/*/policy.json")
    record = json.loads(policy.read_text())
    policy.write_text(json.dumps({**record, "greedy_return": 1e6}))
    with pytest.raises(LibraryError, match="does not match its checksum"):
        build_library(out, tiny_config())
    policy.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    hdf5 = policy.parent / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:-1])
    with pytest.raises(LibraryError, match="belongs to a finished policy"):
        build_library(out, tiny_config())
    build_library(out, tiny_config(), force=True)


def test_rebuilding_over_altered_data_is_refused_and_runs_nothing(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    record = Library.load(copy).records[0]
    hdf5 = copy / record.directory / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:-1])
    manifest = (copy / "manifest.json").read_bytes()
    with pytest.raises(LibraryError, match="differs from the manifest's sha256"):
        build_library(copy, tiny_config())
    assert (copy / "manifest.json").read_bytes() == manifest  # no fresh checksums for bad data
    hdf5.write_bytes((tiny_library.root / record.directory / "data/main_data.hdf5").read_bytes())
    marker = tmp_path / "ran"
    malicious_metadata(copy / record.directory, marker)
    meta = f"{record.directory}/data/metadata.json"
    policy = copy / record.directory / "policy.json"
    data = json.loads(policy.read_text())
    data["files"][meta] = sha256(copy / meta)
    policy.write_text(json.dumps(data))
    reseal(copy, meta)
    reseal(copy, f"{record.directory}/policy.json")
    with pytest.raises(LibraryError, match="lever_gym opens only the Minari datasets"):
        build_library(copy, tiny_config())
    lib = Library.load(copy)
    with pytest.raises(LibraryError, match="lever_gym opens only the Minari datasets"):
        lib.dataset(lib[record.id])
    assert not marker.exists()


def test_one_build_at_a_time(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    with build_lock(copy), pytest.raises(LibraryError, match="another build is writing"):
        build_library(copy, tiny_config())
    build_library(copy, tiny_config())


def test_stale_temporary_files_are_removed(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    record = Library.load(copy).records[0]
    stale = [
        copy / ".manifest.json.x1y2.tmp",
        copy / record.directory / ".policy.json.abc.tmp",
        copy / "index" / "8x8-s0" / ".annoy.ann.123.tmp",
        copy / ".build" / "staging-abc" / "x",
        copy / ".staging-old" / "y",
    ]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")
    build_library(copy, tiny_config())
    assert not any(p.exists() for p in stale) and not (copy / ".staging-old").exists()
    assert files_of(copy) == files_of(tiny_library.root)


def test_folders_of_no_library_or_build_are_never_touched(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    (copy / "manifest.json").unlink()
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("mine")
    for folder in (copy, project):
        before = files_of(folder)
        for force in (False, True):
            with pytest.raises(LibraryError, match="holds no lever_gym library or build"):
                build_library(folder, tiny_config(), force=force)
        assert files_of(folder) == before and not (folder / ".build").exists()


def test_invalid_configs_fail_before_any_training(tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ConfigError, match="this config builds 1 policy"):
        dataclasses.replace(tiny_config(), objectives=("Path",))
    monkeypatch.setenv("LEVER_GYM_MAX_MODEL_BYTES", "1000")
    with pytest.raises(LayoutError, match="above the limit"):
        build_library(tmp_path / "lib", tiny_config())
    monkeypatch.delenv("LEVER_GYM_MAX_MODEL_BYTES")
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        build_library(tmp_path / "lib", tiny_config(), workers=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(LibraryError, match="cannot create the library folder"):
        build_library(tmp_path / "file" / "lib", tiny_config())
    assert not os.path.exists(tmp_path / "lib" / "manifest.json")


def test_a_build_never_writes_through_a_link_out(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "README.md").write_text("theirs")
    (copy / "README.md").unlink()
    (copy / "README.md").symlink_to(outside / "README.md")
    build_library(copy, tiny_config())
    assert (outside / "README.md").read_text() == "theirs"
    assert not (copy / "README.md").is_symlink()
    (copy / ".build").symlink_to(outside)
    with pytest.raises(LibraryError, match=r"\.build is a link"):
        build_library(copy, tiny_config())
    assert list(outside.iterdir()) == [outside / "README.md"]
