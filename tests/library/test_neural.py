"""Neural libraries: built whole and deterministically, every file checked before parsing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import minari
import numpy as np
import pytest

import lever_gym.library.neural_store as neural_store
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.build.neural import build_neural_library
from lever_gym.library.format.files import sha256
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.train.dqn import DQNConfig, Worlds, train_dqn
from tests.conftest import tiny_neural_config
from tests.library.tamper import edit_manifest


@pytest.fixture
def copy(tiny_neural_library: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_neural_library, tmp_path / "copy"))


def test_members_are_listed_with_their_data_and_training(tiny_neural_library: Path) -> None:
    lib = NeuralLibrary.load(tiny_neural_library)
    lib.verify()
    assert [m.objective for m in lib.members] == ["Path", "Gold", "PathGold"]
    for m in lib.members:
        assert m.training["env_steps"] >= 1200 and m.training["updates"] > 0
        assert len(m.embedding) == 4 and np.isfinite(m.embedding).all()
    assert lib.embeddings.shape == (3, 4)


def test_plain_minari_loads_every_member_dataset(
    tiny_neural_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tiny_neural_library))
    lib = NeuralLibrary.load(tiny_neural_library)
    for m in lib.members:
        ds = minari.load_dataset(m.dataset_id)
        assert ds.total_episodes == 4
        ep = next(iter(ds.iterate_episodes()))
        assert ep.observations.shape[1] == lib.worlds.obs_dim == 3 * 3 * 6 + 1
        seeds = np.asarray(ep.infos["layout_seed"])
        assert lib.worlds.covers(int(seeds[0])) and (seeds == seeds[0]).all()
        env = ds.recover_environment()
        assert env.observation_space.shape == (lib.worlds.obs_dim,)


def test_a_member_is_retrained_to_the_same_q_network(tiny_neural_library: Path) -> None:
    """Same seed, same bytes: the recorded seed retrains the stored Q-network exactly."""
    lib = NeuralLibrary.load(tiny_neural_library)
    member = lib.members[0]
    config = DQNConfig(**{**lib.config.dqn.__dict__, "seed": member.training["seed"]})
    trained = train_dqn(member.objective, config)
    stored = lib.networks(member.id)["q"]
    for name, array in stored.arrays.items():
        assert np.array_equal(array, trained.policy.arrays[name]), name
    obs = np.random.default_rng(0).integers(0, 2, (16, lib.worlds.obs_dim)).astype(np.float32)
    assert np.array_equal(stored(obs), trained.policy.q_values(obs))


def test_the_same_config_builds_the_same_files(tiny_neural_library: Path, tmp_path: Path) -> None:
    again = build_neural_library(tmp_path / "again", tiny_neural_config())
    first, second = NeuralLibrary.load(tiny_neural_library), NeuralLibrary.load(again)
    assert [m.files for m in first.members] == [m.files for m in second.members]
    assert first.index["files"] == second.index["files"]


def test_a_tampered_weights_file_is_refused_before_it_is_parsed(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = NeuralLibrary.load(copy)
    member = lib.members[1]
    path = copy / member.dataset_id / "psi.npz"
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 1
    path.write_bytes(bytes(raw))

    real = neural_store.read_npz

    def parsed(raw: bytes, where: str, *args: object) -> object:
        assert "psi.npz" not in where, "the tampered file was parsed"
        return real(raw, where, *args)

    monkeypatch.setattr(neural_store, "read_npz", parsed)
    with pytest.raises(LibraryError, match="sha256"):
        lib.networks(member.id)
    with pytest.raises(LibraryError, match=r"psi\.npz"):
        lib.verify()


def test_a_resealed_pickle_is_refused(copy: Path) -> None:
    """A weights file swapped for a pickled object array (its sha256 resealed) never loads."""
    lib = NeuralLibrary.load(copy)
    member = lib.members[0]
    rel = f"{member.dataset_id}/q.npz"
    np.savez(copy / rel, **{"layer0.weight": np.array([object()], dtype=object)})
    digest = sha256(copy / rel)

    def reseal(manifest: dict) -> None:
        manifest["members"][0]["files"][rel] = digest

    edit_manifest(copy, reseal)
    with pytest.raises(LibraryError, match=r"q\.npz"):
        NeuralLibrary.load(copy).networks(member.id)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(members=m["members"] * 400), "1 to 1024 members"),
        (lambda m: m["networks"]["q"].update(input_dim=99), "inputs, outputs"),
        (lambda m: m["networks"]["psi"].update(hidden=[2**30]), "hidden width"),
        (lambda m: m["index"]["annoy"].update(items=7), "index entry"),
        (lambda m: m["members"][0]["files"].update({"../../etc/passwd": "0" * 64}), "files"),
        (lambda m: m.update(format="something-else"), "not a neural library"),
    ],
)
def test_a_manifest_lever_gym_did_not_write_is_refused(copy: Path, edit, match: str) -> None:
    edit_manifest(copy, edit)
    with pytest.raises(LibraryError, match=match):
        NeuralLibrary.load(copy)


def test_building_over_other_files_is_refused_and_they_stay(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(LibraryError, match="did not write"):
        build_neural_library(target, tiny_neural_config())
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine")]


def test_a_failed_build_leaves_the_previous_library(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (copy / "manifest.json").read_bytes()
    import lever_gym.library.build.neural as neural_build

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(neural_build, "_write_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_neural_library(copy, tiny_neural_config())
    assert (copy / "manifest.json").read_bytes() == before
    NeuralLibrary.load(copy).verify()
    assert not [p for p in copy.parent.iterdir() if ".building-" in p.name]


def test_worlds_must_show_the_layout_and_bound_the_buffer() -> None:
    with pytest.raises(ConfigError, match="shows the layout"):
        Worlds(obs_mode="state")
    with pytest.raises(ConfigError, match="view_size"):
        Worlds(view_size=4)
    with pytest.raises(ConfigError, match="GiB"):
        DQNConfig(buffer_size=10**8).check_buffer(295)


def test_the_manifest_records_the_build(tiny_neural_library: Path) -> None:
    manifest = json.loads((tiny_neural_library / "manifest.json").read_text())
    assert manifest["config"] == tiny_neural_config().to_dict()
    assert manifest["index"]["annoy"]["items"] == 3
    assert manifest["index"]["build_seconds"] > 0


def test_the_shipped_default_neural_library_verifies() -> None:
    from lever_gym.library.format.neural import DEFAULT_NEURAL_CONFIG, SETUP_PARTS
    from lever_gym.library.locate import checkout_neural_library
    from lever_gym.reuse.decompose import SETUPS

    root = checkout_neural_library()
    lib = NeuralLibrary.load(root)
    lib.verify()
    assert lib.config == DEFAULT_NEURAL_CONFIG
    assert sorted(SETUP_PARTS) == sorted({p for parts in SETUPS.values() for p in parts})
    assert sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) <= 20 * 2**20


@pytest.mark.parametrize(
    "weights, k, match",
    [
        (np.ones(3), 2, "4 finite numbers"),
        ([np.nan] * 4, 2, "4 finite numbers"),
        ("abc", 2, "4 finite numbers"),
        (None, 2, "4 finite numbers"),
        (np.ones(4), 0, "k"),
        (np.ones(4), 1.5, "k"),
        (np.ones(4), -1, "k"),
    ],
)
def test_retrieval_refuses_bad_weights_and_counts(
    tiny_neural_library: Path, weights: object, k: object, match: str
) -> None:
    lib = NeuralLibrary.load(tiny_neural_library)
    with pytest.raises(ConfigError, match=match):
        lib.retrieve(weights, k)  # type: ignore[arg-type]


def test_bad_paths_ids_and_deep_json_are_refused(copy: Path) -> None:
    with pytest.raises(ConfigError, match="library path"):
        NeuralLibrary.load(None)  # type: ignore[arg-type]
    with pytest.raises(LibraryError, match="no member"):
        NeuralLibrary.load(copy).networks(["x"])  # type: ignore[arg-type]
    (copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LibraryError, match="not JSON"):
        NeuralLibrary.load(copy)
