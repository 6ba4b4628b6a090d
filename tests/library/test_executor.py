"""Executors: the same library, byte for byte, in this process, a pool and a Ray cluster;
a Ray worker killed mid-build is retried and the library still verifies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lever_gym.data.collect import DataConfig
from lever_gym.errors import ConfigError
from lever_gym.library.build import runs as build_module
from lever_gym.library.build.builder import build_library
from lever_gym.library.build.executor import run_jobs
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import sha256

CONFIG = BuildConfig(
    sizes=(8,), layout_seeds=(0,), objectives=("Path", "Gold"), gammas=(0.0,),
    budgets=(300,), replicas=2, data=DataConfig(episodes=3), seed=4,
)  # fmt: skip


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "timing" not in p.name
    }


def test_jobs_keep_their_order_and_bad_executors_are_refused():
    assert run_jobs(abs, [-3, 1, -2], workers=2) == [3, 1, 2]
    with pytest.raises(ConfigError, match="executor must be one of"):
        run_jobs(abs, [1], executor="dask")
    with pytest.raises(ConfigError, match="only used with executor='ray'"):
        run_jobs(abs, [1], address="10.0.0.1:6379")


def _dies_once(job):
    """Kill this worker process the first time the first run is attempted."""
    marker = Path(job[0]) / ".killed-once"
    if job[2]["objective"] == "Path" and job[2]["replica"] == 0 and not marker.exists():
        marker.touch()
        os._exit(1)
    return build_module.build_run(job)


@pytest.mark.slow
def test_ray_builds_the_same_library_and_survives_a_killed_worker(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is the optional extra lever-gym[ray]")
    local = build_library(tmp_path / "local", CONFIG, workers=1)
    monkeypatch.setattr(build_module, "build_run", _dies_once)
    (tmp_path / "ray").mkdir()
    ray_lib = build_library(tmp_path / "ray", CONFIG, workers=2, executor="ray")
    assert (tmp_path / "ray" / ".killed-once").exists()  # a worker did die
    (tmp_path / "ray" / ".killed-once").unlink()
    assert ray_lib.verify().ok
    assert files(tmp_path / "ray") == files(local.root)
