"""Sharded libraries: shards equal to a flat build, lazy loading, the global index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lever_gym.data.collect import DataConfig
from lever_gym.envs.layout import Layout
from lever_gym.errors import LibraryError
from lever_gym.library.build.builder import build_library
from lever_gym.library.build.sharded import build_sharded
from lever_gym.library.format.config import BuildConfig
from lever_gym.library.format.files import sha256
from lever_gym.library.shards import SHARDS, ShardedLibrary
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composed import LeverComposedPolicy

CONFIG = BuildConfig(
    sizes=(8,), layout_seeds=(0, 1, 2), objectives=("Path", "Gold", "Hazard"), gammas=(0.99,),
    budgets=(300,), replicas=2, data=DataConfig(episodes=3), seed=5,
)  # fmt: skip


def policy_files(root: Path) -> dict[str, str]:
    """sha256 of every policy file under ``root``, by its path below ``lever/``."""
    return {
        p.relative_to(root).as_posix().split("lever/", 1)[1]: sha256(p)
        for p in sorted(root.rglob("lever/*/*/**/*"))
        if p.is_file() and p.name != "timing.json"
    }


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> ShardedLibrary:
    return build_sharded(tmp_path_factory.mktemp("sharded") / "lib", CONFIG, batch=2)


def test_every_shard_is_a_library_equal_to_the_flat_build(sharded, tmp_path):
    flat = build_library(tmp_path / "flat", CONFIG)
    assert len(sharded) == len(flat) == 3 * 3 * 2
    assert policy_files(sharded.root / "shards") == policy_files(flat.root)
    for size, seed in flat.layouts():
        shard = Library.load(sharded.root / "shards" / f"{size}x{size}-s{seed}")
        assert shard.verify().ok and shard.layouts() == [(size, seed)]
        assert [r.id for r in shard.filter()] == [r.id for r in flat.filter(layout_seed=seed)]
    assert sharded.verify().ok and "library verified" in str(sharded.verify())


def test_loading_reads_no_shard_until_one_is_asked_for(sharded, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sharded.root, copy)
    manifest = copy / "shards" / "8x8-s1" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"seed"', '"seed" '))
    lib = ShardedLibrary.load(copy)  # the altered shard is not read yet
    assert lib.shard(8, 0).layouts() == [(8, 0)]
    with pytest.raises(LibraryError, match="sha256"):
        lib.shard(8, 1)
    with pytest.raises(LibraryError, match="no 8x8 layout 7"):
        lib.shard(8, 7)


def test_the_global_index_ranks_every_shard_as_exact_search_does(sharded):
    embeddings, ids = [], []
    for size, seed in sharded.layouts():
        index = sharded.shard(size, seed).layout_index(size, seed, backend="exact")
        embeddings.append(index.embeddings)
        ids += [((size, seed), pid) for pid in index.ids]
    matrix = np.vstack(embeddings)
    rng = np.random.default_rng(0)
    for _ in range(20):
        objective = Objective.parse(rng.uniform(-1, 2, 4).round(1))
        found = sharded.query(objective, n=5)
        scores = matrix[:, :4] @ objective.weights
        assert [s for _, _, s in found] == pytest.approx(sorted(scores, reverse=True)[:5])
        assert {(layout, pid) for layout, pid, _ in found} <= set(ids)
    layouts = {layout for layout, _, _ in sharded.query("gold", n=len(sharded))}
    assert layouts == set(sharded.layouts())


def test_the_global_index_is_built_for_scale_and_an_earlier_one_still_loads(sharded, tmp_path):
    """The global forest has ``GLOBAL_TREES`` trees searched with ``GLOBAL_SEARCH_K`` (the
    settings measured at 10^6 vectors); a global index written before, with the library's own
    ``n_trees``, loads with ``n_trees * SEARCH_PER_TREE`` as it did."""
    from lever_gym.library.format.annoy_file import AnnoyFacts
    from lever_gym.library.index import AnnoyBackend
    from lever_gym.library.shards import (
        GLOBAL_FILES,
        GLOBAL_SEARCH_K,
        GLOBAL_TREES,
        SEARCH_PER_TREE,
    )  # fmt: skip

    _, forest = sharded._global()
    assert forest.index.get_n_trees() == GLOBAL_TREES and forest.search_k == GLOBAL_SEARCH_K
    old = tmp_path / "old"
    shutil.copytree(sharded.root, old)
    meta = json.loads((old / GLOBAL_FILES[2]).read_text())
    trees = sharded.config.n_trees
    embeddings = np.load(old / GLOBAL_FILES[1])["embeddings"]
    AnnoyBackend.build(embeddings, n_trees=trees, seed=sharded.config.seed).save(
        old / GLOBAL_FILES[0]
    )
    del meta["search_k"]  # written since GLOBAL_TREES
    (old / GLOBAL_FILES[2]).write_text(json.dumps({**meta, "n_trees": trees}))
    shards = json.loads((old / SHARDS).read_text())
    for name in GLOBAL_FILES:
        shards["index_files"][name] = sha256(old / name)
    size = (old / GLOBAL_FILES[0]).stat().st_size
    facts = AnnoyFacts(size, embeddings.shape[1] + 1, "angular", len(embeddings), trees)
    shards["annoy"][GLOBAL_FILES[0]] = facts.__dict__
    (old / SHARDS).write_text(json.dumps(shards))
    _, earlier = ShardedLibrary.load(old)._global()
    assert earlier.search_k == trees * SEARCH_PER_TREE
    assert earlier.index.get_n_trees() == trees


def test_from_library_composes_from_a_shard(sharded):
    policy = LeverComposedPolicy.from_library(sharded, "path+gold", layout=(8, 2))
    assert all(pid.startswith("8x8-s2/") for pid in policy.explanation.chosen.policies)
    assert policy.model.layout == Layout.generate(8, 2)


def test_a_rebuild_resumes_and_another_config_is_refused(sharded):
    before = (sharded.root / SHARDS).read_bytes()
    again = build_sharded(sharded.root, CONFIG)
    assert (again.root / SHARDS).read_bytes() == before
    with pytest.raises(LibraryError, match="another config"):
        build_sharded(sharded.root, BuildConfig(**{**CONFIG.__dict__, "seed": 6}))


def test_a_damaged_shards_file_is_refused(sharded, tmp_path):
    meta = json.loads((sharded.root / SHARDS).read_text())
    (tmp_path / SHARDS).write_text(json.dumps({**meta, "shards": {}}))
    with pytest.raises(LibraryError, match="must list exactly the shards of its config"):
        ShardedLibrary.load(tmp_path)
    with pytest.raises(LibraryError, match="no sharded library"):
        ShardedLibrary.load(tmp_path / "nothing")
