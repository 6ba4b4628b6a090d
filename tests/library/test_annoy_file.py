"""Annoy files are checked node by node before they are memory-mapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lever_gym.errors import LibraryError
from lever_gym.library.format.annoy_file import AnnoyFacts, check_annoy_file, node_bytes
from lever_gym.library.index import AnnoyBackend
from tests.library.tamper import copy_library, reseal

ROOT = Path(__file__).resolve().parents[2]
ANN = "index/8x8-s0/annoy.ann"
QUERY = """
import sys
from lever_gym.errors import LeverGymError
from lever_gym.library.store import Library
from lever_gym.objective import Objective
try:
    print(Library.load(sys.argv[1]).layout_index(8, 0).query(Objective.named("PathGold")))
except LeverGymError as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(3)
"""


def query_in_a_subprocess(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", QUERY, str(root)], capture_output=True, text=True, cwd=ROOT,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    rows = np.random.default_rng(7).normal(size=(40, 13))
    path = tmp_path_factory.mktemp("annoy") / "a.ann"
    AnnoyBackend.build(rows, n_trees=4, seed=0).save(path)
    return path, AnnoyFacts(path.stat().st_size, 14, "angular", 40, 4)


def test_a_built_forest_passes_and_the_facts_must_match(forest):
    path, facts = forest
    check_annoy_file(path, facts)
    assert facts.bytes % node_bytes(14, "angular") == 0
    for wrong in ({"bytes": facts.bytes + 1}, {"f": 13}, {"items": 41}, {"trees": 9}):
        with pytest.raises(LibraryError, match="not one lever_gym wrote"):
            check_annoy_file(path, AnnoyFacts(**{**facts.__dict__, **wrong}))


@pytest.mark.parametrize(
    ("node", "field", "value"),
    [
        (0, 0, 2),  # an item claiming descendants
        (-1, 1, 10**6),  # a root's child outside the file
        (-1, 0, -5),  # a negative descendant count
        (45, 1, 45),  # a split that names itself: a cycle
        (50, 0, 0),  # no descendants
        (3, 5, 0x7FC00000),  # an item vector holding NaN
    ],
)
def test_malformed_nodes_are_refused(forest, tmp_path, node, field, value):
    path, facts = forest
    nodes = np.fromfile(path, dtype="<i4").reshape(-1, node_bytes(14, "angular") // 4)
    nodes[node, field] = value
    bad = tmp_path / "bad.ann"
    nodes.tofile(bad)
    with pytest.raises(LibraryError, match="not one lever_gym wrote"):
        check_annoy_file(bad, facts)


def test_garbage_annoy_file_with_a_matching_checksum_exits_cleanly(tiny_library, tmp_path):
    copy = copy_library(tiny_library.root, tmp_path / "copy")
    ann = copy / ANN
    garbage = np.random.default_rng(0).integers(0, 256, ann.stat().st_size, dtype=np.uint8)
    ann.write_bytes(garbage.tobytes())
    reseal(copy, ANN)
    out = query_in_a_subprocess(copy)
    assert out.returncode == 3, out.stderr[-2000:]  # not killed by a signal: a clean refusal
    assert "LibraryError: the Annoy index" in out.stderr and "was not loaded" in out.stderr
    nodes = np.fromfile(tiny_library.root / ANN, dtype="<i4").reshape(-1, 17)
    nodes[-1, 1:3] = 10**6  # a well-formed file but for one root's children
    nodes.tofile(ann)
    reseal(copy, ANN)
    out = query_in_a_subprocess(copy)
    assert out.returncode == 3 and "was not loaded" in out.stderr, out.stderr[-2000:]
