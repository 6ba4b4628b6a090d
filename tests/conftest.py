"""Shared fixtures: isolated Minari root, tiny hand-made layouts."""

from __future__ import annotations

import numpy as np
import pytest

import lever_gym  # noqa: F401  (registers the LeverGrid ids)
from lever_gym.library.build.builder import build_library

TINY_LAYOUTS = {
    "corridor": """
        S.$.E
        .#.#.
        .L...
        ..H..
        .....
    """,
    "detour": """
        S.H.
        .#..
        .$.L
        ..E.
    """,
    "open": """
        S..
        L$.
        .HE
    """,
}


@pytest.fixture(autouse=True)
def isolated_minari_root(tmp_path, monkeypatch):
    """Every test gets its own MINARI_DATASETS_PATH."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory):
    """A two-policy library built once per session (copy it before tampering)."""
    from tests.library.tamper import tiny_config

    return build_library(tmp_path_factory.mktemp("tiny") / "library", tiny_config())


@pytest.fixture
def rng():
    """A seeded generator for test data."""
    return np.random.default_rng(0)
