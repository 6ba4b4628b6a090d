"""The policy library: Minari compatibility, determinism, resume, integrity, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import minari
import numpy as np
import pytest

import lever_gym.library.build.runs as library_module
from lever_gym.data.collect import DataConfig
from lever_gym.errors import ConfigError, LibraryError, UnknownObjectiveError
from lever_gym.library.build.builder import build_library
from lever_gym.library.format.config import BuildConfig, PolicyRecord
from lever_gym.library.format.manifest import index_folder
from lever_gym.library.store import Library, sha256
from lever_gym.objective import OBJECTIVE_NAMES, Objective

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIBRARY = ROOT / "datasets"
SMALL = BuildConfig(
    sizes=(8,),
    layout_seeds=(0, 1),
    objectives=("Path", "Gold", "PathGold"),
    gammas=(0.0, 0.99),
    budgets=(1000,),
    snapshots=2,
    data=DataConfig(episodes=5),
    seed=3,
)


@pytest.fixture(scope="module")
def small_library(tmp_path_factory):
    """A small library built once for this module."""
    return build_library(tmp_path_factory.mktemp("lib") / "library", SMALL)


def snapshot_files(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def replay_matches(ds) -> int:
    """Replay every episode's actions in ``recover_environment()``; return steps checked."""
    env = ds.recover_environment()
    checked = 0
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(ds.episode_indices)]
    for ep, seed in zip(ds.iterate_episodes(), seeds, strict=True):
        obs, info = env.reset(seed=int(seed))
        np.testing.assert_array_equal(obs, ep.observations[0])
        for t, a in enumerate(ep.actions):
            obs, reward, term, trunc, info = env.step(int(a))
            np.testing.assert_array_equal(obs, ep.observations[t + 1])
            assert reward == ep.rewards[t]
            np.testing.assert_array_equal(
                info["reward_components"], ep.infos["reward_components"][t + 1]
            )
            assert info["state"] == ep.infos["state"][t + 1]
            assert term == ep.terminations[t] and trunc == ep.truncations[t]
            checked += 1
    return checked


def test_every_listed_dataset_loads_and_replays(small_library, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(small_library.root))
    listed = set(minari.list_local_datasets())
    assert listed == {r.dataset_id for r in small_library}
    for record in small_library:
        ds = minari.load_dataset(record.dataset_id)
        assert ds.total_episodes == record.n_episodes
        assert ds.total_steps == record.n_transitions
        env = ds.recover_environment()
        assert env.unwrapped.layout == small_library.model(record).layout
        assert replay_matches(ds) == record.n_transitions


def test_default_library_is_intact_and_replays(monkeypatch):
    lib = Library.load(DEFAULT_LIBRARY)
    report = lib.verify()
    assert report.ok, str(report)
    assert len(lib) == len(lib.config.runs()) * lib.config.snapshots
    assert "PathGoldHazardLever" not in {r.objective for r in lib}
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(DEFAULT_LIBRARY))
    for record in lib.records[:: max(1, len(lib) // 12)]:
        assert replay_matches(minari.load_dataset(record.dataset_id)) == record.n_transitions


def test_same_config_and_seed_give_identical_manifests(small_library, tmp_path):
    again = build_library(tmp_path / "again", SMALL)
    first = json.loads((small_library.root / "manifest.json").read_text())
    second = json.loads((again.root / "manifest.json").read_text())
    assert first == second
    assert (small_library.root / "manifest.json").read_bytes() == (
        again.root / "manifest.json"
    ).read_bytes()


def test_records_carry_what_the_library_promises(small_library):
    record = small_library.records[0]
    q, support = small_library.arrays(record)
    model = small_library.model(record)
    assert q.shape == (model.n_states, 4) and support.shape == (model.n_states, 4)
    assert support.sum() == record.n_transitions
    assert small_library.train_seconds(record) > 0
    assert set(record.files) == {
        f"{record.dataset_id}/{f}"
        for f in ("policy.npz", "policy.json", "data/main_data.hdf5", "data/metadata.json")
    }
    n = SMALL.snapshots * SMALL.replicas * len(SMALL.budgets)
    assert len(small_library.filter(objective="Gold", gamma=0.99)) == len(SMALL.layout_seeds) * n
    assert len(small_library.filter(layout_seed=1, objective=["Path", "Gold"])) == 2 * 2 * n
    keys, psi = small_library.successor_features(record)
    assert psi.shape == (len(keys), 4) and np.all(np.diff(keys) > 0)
    assert set(keys // 4) <= set(np.flatnonzero(support.sum(axis=1)))
    assert small_library[record.id] == record
    policy = small_library.policy(record)
    obs = model.space.observe(model.start_state)
    assert policy(obs) == int(np.argmax(q[model.start_state]))


def test_builds_index_with_the_angular_mips_reduction(small_library):
    for size, seed in small_library.layouts():
        meta = json.loads(
            (small_library.root / index_folder(size, seed) / "index.json").read_text()
        )
        annoy = small_library.layout_index(size, seed, "annoy")
        exact = small_library.layout_index(size, seed, "exact")
        assert meta["metric"] == "angular-mips"
        assert meta["max_norm"] == pytest.approx(np.linalg.norm(exact.embeddings, axis=1).max())
        for name in OBJECTIVE_NAMES:
            a, e = annoy.query(Objective.named(name)), exact.query(Objective.named(name))
            assert [pid for pid, _ in a] == [pid for pid, _ in e]
            np.testing.assert_allclose([s for _, s in a], [s for _, s in e], rtol=1e-6)


def test_interrupted_build_resumes_without_redoing_finished_policies(tmp_path, monkeypatch):
    out = tmp_path / "lib"
    calls = {"n": 0}
    real = library_module.build_run

    def failing(job):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(library_module, "build_run", failing)
    with pytest.raises(KeyboardInterrupt):
        build_library(out, SMALL)
    assert not (out / "manifest.json").exists()
    assert not list((out / ".build").glob("staging-*"))
    finished = snapshot_files(out)
    assert len([p for p in finished if p.endswith("policy.json")]) == 3 * 2
    monkeypatch.setattr(library_module, "build_run", real)
    lib = build_library(out, SMALL)
    after = snapshot_files(out)
    for path, digest in finished.items():
        if not path.startswith(".build"):
            assert after[path] == digest  # finished policies (timings included) were kept
    assert lib.verify().ok and len(lib) == len(SMALL.runs()) * 2
    assert not (out / ".build").exists()


def test_library_folder_is_movable(small_library, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(small_library.root, moved)
    lib = Library.load(moved)
    assert lib.verify().ok
    lib.arrays(lib.records[-1])


def test_verify_reports_missing_and_altered_files(small_library, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small_library.root, copy)
    lib = Library.load(copy)
    a, b = lib.records[0], lib.records[1]
    (copy / a.dataset_id / "policy.npz").unlink()
    hdf5 = copy / b.dataset_id / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:-10] + b"0123456789")
    report = lib.verify()
    assert report.missing == (f"{a.dataset_id}/policy.npz",)
    assert report.altered == (f"{b.dataset_id}/data/main_data.hdf5",)
    assert "missing:" in str(report) and not report.ok


def test_corrupt_files_raise_and_change_nothing(small_library, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small_library.root, copy)
    lib = Library.load(copy)
    record = lib.records[2]
    npz = copy / record.dataset_id / "policy.npz"
    npz.write_bytes(npz.read_bytes()[: len(npz.read_bytes()) // 2])
    hdf5 = copy / record.dataset_id / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes().replace(b"episode_0", b"episode_9", 1))
    before = snapshot_files(copy)
    with pytest.raises(LibraryError, match="differs from the manifest's sha256"):
        lib.arrays(record)
    with pytest.raises(LibraryError, match="differs from the manifest's sha256"):
        lib.dataset(record)
    assert snapshot_files(copy) == before


def test_newer_schema_and_missing_library_are_refused(small_library, tmp_path):
    with pytest.raises(LibraryError, match=r"no library at .*expected manifest\.json"):
        Library.load(tmp_path / "nowhere")
    copy = tmp_path / "copy"
    shutil.copytree(small_library.root, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot_files(copy)
    with pytest.raises(LibraryError, match="schema version 99; this lever_gym reads version 4"):
        Library.load(copy)
    manifest["schema_version"] = 3  # no component names: rebuilt, not read
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(LibraryError, match="Rebuild the library"):
        Library.load(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(LibraryError, match="is not valid JSON"):
        Library.load(copy)
    assert snapshot_files(copy).keys() == before.keys()


def test_building_over_another_config_is_refused(small_library, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small_library.root, copy)
    before = snapshot_files(copy)
    with pytest.raises(LibraryError, match="another config"):
        build_library(copy, BuildConfig(sizes=(8,), layout_seeds=(5,), objectives=("Path",)))
    assert snapshot_files(copy) == before


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"objectives": ("Path", "Treasure")},
            UnknownObjectiveError,
            "unknown objective 'Treasure'",
        ),
        ({"objectives": ("PathGoldHazardLever",)}, UnknownObjectiveError, "never a library"),
        ({"sizes": (12,)}, ConfigError, "size must be one of"),
        ({"budgets": (0,)}, ConfigError, "budgets .*must be a positive integer"),
        ({"budgets": (1001,), "snapshots": 2}, ConfigError, "not a multiple of snapshots"),
        ({"layout_seeds": ()}, ConfigError, "layout_seeds must be a non-empty tuple"),
        ({"gammas": (1.5,)}, ConfigError, r"gammas must be a number in \[0, 1\)"),
        ({"objectives": ("Path", "Path")}, ConfigError, "must not repeat values; Path"),
        (
            {
                "sizes": (8,),
                "layout_seeds": (0,),
                "objectives": ("Path",),
                "gammas": (0.0,),
                "budgets": (100,),
                "replicas": 1,
            },
            ConfigError,
            "this config builds 1 policy",
        ),
        ({"replicas": True}, ConfigError, "replicas must be a positive integer"),
        ({"data": {"episodes": 3}}, ConfigError, "data must be a DataConfig"),
    ],
)
def test_bad_build_config(kwargs, error, message):
    with pytest.raises(error, match=message):
        BuildConfig(**kwargs)


def test_records_and_configs_read_from_json_are_strict():
    record = json.loads((DEFAULT_LIBRARY / "manifest.json").read_text())["policies"][0]
    assert PolicyRecord.from_dict(record).to_dict() == record
    for edit, message in [
        ({"size": None}, "size must be one of"),
        ({"weights": [1, 0]}, "weights must be 4 numbers"),
        ({"files": {"a": "b"}}, "files must map paths to sha256 digests"),
        ({"n_episodes": 0}, "n_episodes must be a positive integer"),
        ({"extra": 1}, "unknown field"),
    ]:
        with pytest.raises(ConfigError, match=message):
            PolicyRecord.from_dict({**record, **edit})
    with pytest.raises(ConfigError, match="missing field"):
        PolicyRecord.from_dict({k: v for k, v in record.items() if k != "gamma"})
    config = BuildConfig().to_dict()
    assert BuildConfig.from_dict(config) == BuildConfig()
    with pytest.raises(ConfigError, match=r"unknown field\(s\) 'seeds'. Did you mean 'seed'"):
        BuildConfig.from_dict({**config, "seeds": 1})
    assert BuildConfig(gammas=(0, 0.99)).fingerprint == BuildConfig().fingerprint
    assert BuildConfig(seed=1).fingerprint != BuildConfig().fingerprint


def test_policy_arrays_store_nonzero_rows_and_read_back_exactly(rng):
    import io

    from lever_gym.library.format.contents import dense_tables, policy_arrays, policy_npz_arrays
    from lever_gym.library.store import layout_model

    model = layout_model(8, 0)
    q = np.zeros((model.n_states, 4))
    rows = rng.choice(model.n_states, 50, replace=False)
    q[rows] = rng.normal(size=(50, 4))
    q[rows[0], 2] = -0.0  # a row of zeros but for the sign bit is kept
    q[rows[0], [0, 1, 3]] = 0.0
    support = np.zeros((model.n_states, 4), dtype=np.int32)
    support[rows[:10], 1] = np.arange(1, 11)
    keys, psi = np.array([3, 9]), rng.normal(size=(2, 4))
    stored = policy_npz_arrays(q, support, keys, psi)
    assert len(stored["q_rows"]) == 50 and len(stored["support_keys"]) == 10
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **stored)
    back = policy_arrays(buffer.getvalue(), "test", model, "state", np.arange(4))
    dense_q, dense_support = dense_tables(back, model.n_states, model.n_states)
    assert dense_q.tobytes() == q.tobytes()
    assert np.array_equal(dense_support, support) and dense_support.dtype == np.int32
    assert np.array_equal(back["psi_keys"], keys) and np.array_equal(back["psi"], psi)
    assert not dense_q.flags.writeable and not back["q_values"].flags.writeable


def test_npy_files_read_as_numpy_reads_them_and_malformed_ones_are_refused():
    import io

    from lever_gym.library.format.contents import _npy, read_npz

    arrays = [np.arange(12.0).reshape(3, 4), np.arange(5), np.array([True, False]), np.zeros(0)]
    arrays += [np.array(2.5), np.arange(6, dtype=">i8"), np.asfortranarray(np.ones((2, 3)))]
    for a in arrays:  # the fast path, and numpy's reader for the others
        buffer = io.BytesIO()
        np.save(buffer, a)
        got = _npy(buffer.getvalue())
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)
    buffer = io.BytesIO()
    np.save(buffer, np.arange(4.0))
    good = buffer.getvalue()
    bad = {
        "short data": good[:-8],
        "long data": good + b"\0" * 8,
        "length field": good[:8] + (int.from_bytes(good[8:10], "little") + 1).to_bytes(2, "little")
        + good[10:],
        "shape text": good.replace(b"(4,)", b"(4 )"),
        "objects": good.replace(b"'<f8'", b"'|O8'"),
    }  # fmt: skip
    for what, data in bad.items():
        archive = io.BytesIO()
        with __import__("zipfile").ZipFile(archive, "w") as z:
            z.writestr("x.npy", data)
        with pytest.raises(LibraryError, match="not a readable array file"):
            read_npz(archive.getvalue(), what, ("x",), 1 << 20)


def test_an_npz_member_that_unpacks_past_the_limit_is_refused_without_unpacking_it():
    import io
    import zipfile

    from lever_gym.library.format.contents import read_npz

    archive = io.BytesIO()
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z,
        z.open("x.npy", "w", force_zip64=True) as f,
    ):
        for _ in range(4):  # 64 MiB of zeros, 64 kB packed
            f.write(b"\0" * 2**24)
    with pytest.raises(LibraryError, match="unpacks to more than 1,048,576 bytes"):
        read_npz(archive.getvalue(), "bomb", ("x",), 1 << 20)


def test_unsigned_keys_out_of_order_are_refused_and_in_order_read_as_int64():
    from lever_gym.library.format.contents import _increasing, _index

    assert not _increasing(np.array([5, 3, 9], dtype=np.uint64))
    assert not _increasing(np.array([2, 7, 2], dtype=np.uint64))
    assert _increasing(np.array([1, 2, 9], dtype=np.uint64))
    assert _index(np.array([1, 2], dtype=np.uint64)).dtype == np.int64


def test_policies_models_and_datasets_open_by_id() -> None:
    lib = Library.load()
    record = next(iter(lib))
    assert lib.model(record.id) is lib.model(record)
    assert np.array_equal(lib.policy(record.id).q, lib.policy(record).q)
    assert lib.dataset(record.id).total_episodes == lib.dataset(record).total_episodes
    with pytest.raises(LibraryError, match="not a record"):
        lib.policy("no-such-policy")
