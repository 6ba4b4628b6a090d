"""Tampering with copies of a library, as an attacker or a careless user would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lever_gym.data.collect import DataConfig
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import sha256


def copy_library(source: Path, target: Path) -> Path:
    """A copy of the library at ``source`` (its staging area left out)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".build"))
    return target


def edit_manifest(root: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``edit`` to the parsed manifest of ``root`` and write it back."""
    manifest = json.loads((root / "manifest.json").read_text())
    edit(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def reseal(root: Path, rel: str) -> None:
    """Make the manifest agree with file ``rel`` as it is now: its sha256 wherever it is
    listed (and its size, for an Annoy file), so only content checks can catch an edit."""
    digest = sha256(root / rel)

    def update(manifest: dict[str, Any]) -> None:
        for files in [manifest["index_files"], *(p["files"] for p in manifest["policies"])]:
            if rel in files:
                files[rel] = digest
        if rel in manifest["annoy"]:
            manifest["annoy"][rel]["bytes"] = (root / rel).stat().st_size

    edit_manifest(root, update)


def tiny_config() -> BuildConfig:
    """A two-policy library config that builds in about a second."""
    return BuildConfig(
        sizes=(8,), layout_seeds=(0,), objectives=("Path", "Gold"), gammas=(0.99,),
        budgets=(200,), replicas=1, data=DataConfig(episodes=3), n_trees=4,
    )  # fmt: skip
