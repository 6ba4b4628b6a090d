"""The trust boundary of a library's files: schema, paths, checksums, contents."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lever_gym.errors import LibraryError
from lever_gym.library.format.files import inside, sha256
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from tests.library.tamper import copy_library, edit_manifest, reseal


@pytest.fixture
def copy(tiny_library, tmp_path):
    return copy_library(tiny_library.root, tmp_path / "copy")


def first(manifest):
    return manifest["policies"][0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("annoy"), r"the manifest lacks field\(s\) \['annoy'\]"),
        (lambda m: m.update(extra=1), r"has unknown field\(s\) \['extra'\]"),
        (lambda m: m.update(schema_version=True), "schema version True"),
        (lambda m: m.update(schema_version=-7), "schema version -7"),
        (lambda m: first(m).pop("size"), r"policies\[0\] is invalid: record has missing .*'size'"),
        (lambda m: first(m).update(colour=1), r"policies\[0\].*unknown field\(s\) 'colour'"),
        (lambda m: first(m).update(size="8"), r"policies\[0\] is invalid: size must be one of"),
        (lambda m: first(m).update(gamma=float("nan")), "is not valid JSON"),
        (lambda m: m["policies"].append(m["policies"][0]), r"policies\[2\].id repeats"),
        (lambda m: m["config"].update(seed=-1), "config is invalid: seed must be an integer"),
        (lambda m: m["config"]["data"].pop("epsilon"), r"config.data has missing field"),
        (lambda m: m["policies"].reverse(), "do not list the policies of its config"),
        (lambda m: m["annoy"].clear(), "annoy must describe exactly"),
        (lambda m: m["index_files"].clear(), "index_files must list exactly"),
    ],
)
def test_manifest_edits_are_refused_naming_the_field(copy, edit, message):
    edit_manifest(copy, edit)
    with pytest.raises(LibraryError, match=message):
        Library.load(copy)


def test_deep_nesting_and_garbage_are_library_errors(copy):
    for text, message in [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("\xff\xfe", "is not valid JSON"),
        ("[]", "must be a JSON object"),
    ]:
        (copy / "manifest.json").write_bytes(text.encode("latin-1"))
        with pytest.raises(LibraryError, match=message):
            Library.load(copy)


def test_paths_never_leave_the_root(copy, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    for key in ("../" * 8 + str(outside).lstrip("/"), str(outside)):
        for section in (lambda m: first(m)["files"], lambda m: m["index_files"]):
            edit_manifest(copy, lambda m, s=section, k=key: s(m).update({k: sha256(outside)}))
            with pytest.raises(LibraryError, match="must list exactly"):
                Library.load(copy)
            edit_manifest(copy, lambda m, s=section, k=key: s(m).pop(k))
    edit_manifest(copy, lambda m: first(m).update(dataset_id="../../outside/lever/x-v0"))
    with pytest.raises(LibraryError, match="its fields make them"):
        Library.load(copy)


@pytest.mark.parametrize("bad", ["/etc/passwd", "a/../b", "a//b", ".build/x", "a\\b", "", 3])
def test_inside_refuses_every_path_that_is_not_plain(tmp_path, bad):
    with pytest.raises(LibraryError, match="library paths are relative"):
        inside(tmp_path, bad)


def test_a_link_out_of_the_library_is_refused(copy, tmp_path):
    record = Library.load(copy).records[0]
    target = tmp_path / "elsewhere"
    (copy / record.directory).rename(target)
    os.symlink(target, copy / record.directory)
    lib = Library.load(copy)  # opening reads only the manifest; a file is resolved when read
    with pytest.raises(LibraryError, match=r"is a link to .*outside the library"):
        lib.arrays(lib[record.id])
    with pytest.raises(LibraryError, match=r"is a link to .*outside the library"):
        lib.dataset(lib[record.id])


def test_deleted_and_altered_files_raise_library_errors(copy):
    lib = Library.load(copy)
    record = lib.records[0]
    (copy / "index/8x8-s0/embeddings.npz").unlink()
    with pytest.raises(LibraryError, match=r"embeddings.npz is missing from the library"):
        lib.layout_index(8, 0)
    meta = copy / record.directory / "data" / "metadata.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "total_episodes": 1}))
    with pytest.raises(LibraryError, match=r"metadata.json differs from the manifest's sha256"):
        lib.dataset(record)
    reseal(copy, f"{record.directory}/data/metadata.json")
    lib = Library.load(copy)
    with pytest.raises(LibraryError, match=r"holds 1 episodes and .* its record says 3"):
        lib.dataset(lib.records[0])
    (copy / record.directory / "data" / "extra.hdf5").write_bytes(b"")
    with pytest.raises(LibraryError, match="holds exactly"):
        lib.dataset(lib.records[0])


def test_content_checks_catch_resealed_files(copy):
    record = Library.load(copy).records[1]
    npz = copy / record.directory / "policy.npz"
    with np.load(npz) as arrays:
        values = dict(arrays)
    n_keys = Library.load(copy).model(record).n_states * 4
    for field, bad in [
        ("q_values", values["q_values"][:-1]),  # a row short of q_rows
        ("q_rows", values["q_rows"] + n_keys),  # rows outside the layout
        ("support_keys", values["support_keys"][::-1]),  # not sorted
        ("support_counts", -values["support_counts"]),  # negative counts
        ("psi", values["psi"][:, :2]),  # too few components
    ]:
        np.savez(npz, **{**values, field: bad})
        reseal(copy, f"{record.directory}/policy.npz")
        lib = Library.load(copy)
        with pytest.raises(LibraryError, match="wrong shape, type or range for its layout"):
            lib.arrays(lib[record.id])
    index = copy / "index/8x8-s0/union.npz"
    with np.load(index) as arrays:
        values = dict(arrays)
    np.savez(index, **{**values, "next_state": values["next_state"] + 10**6})
    reseal(copy, "index/8x8-s0/union.npz")
    with pytest.raises(LibraryError, match="records transitions outside its layout"):
        Library.load(copy).empirical(8, 0)
    (copy / "index/predictor.json").write_text('{"mean": [1]}')
    reseal(copy, "index/predictor.json")
    with pytest.raises(LibraryError, match="is not a predictor"):
        Library.load(copy).predictor()


def test_timing_json_is_read_strictly(copy):
    lib = Library.load(copy)
    record = lib.records[0]
    assert lib.train_seconds(record) > 0
    for text in ('{"train_seconds": -1}', '{"train_seconds": "1"}', "[" * 10_000, "x" * 5000):
        (copy / record.directory / "timing.json").write_text(text)
        assert np.isnan(lib.train_seconds(record))


def test_a_library_dataset_is_checked_again_when_read(copy):
    from lever_gym.data.storage import empirical_from_dataset

    lib = Library.load(copy)
    record = lib.records[0]
    ds = lib.dataset(record)
    hdf5 = copy / record.directory / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:-1])
    with pytest.raises(LibraryError, match="differs from the manifest's sha256"):
        empirical_from_dataset(ds)
    assert Library.load(copy).layout_index(8, 0).query(Objective.named("Path"))
    assert not Path(copy / ".build").exists()


def test_only_the_librarys_own_records_are_read(tiny_library):
    import dataclasses

    record = tiny_library.records[0]
    foreign_id = record.id + "-elsewhere"
    for foreign in (dataclasses.replace(record, dataset_id="lever/x-v0"), foreign_id, None):
        with pytest.raises(LibraryError, match="is not a record of the library"):
            tiny_library.arrays(foreign)
        with pytest.raises(LibraryError, match="is not a record of the library"):
            tiny_library.dataset(foreign)


def test_damaged_array_files_with_matching_checksums_raise_library_errors(copy):
    record = Library.load(copy).records[0]
    rel = f"{record.directory}/policy.npz"
    raw = (copy / rel).read_bytes()
    for offset in range(0, len(raw), max(1, len(raw) // 60)):
        damaged = bytearray(raw)
        damaged[offset] ^= 0x5A
        (copy / rel).write_bytes(bytes(damaged))
        reseal(copy, rel)
        lib = Library.load(copy)
        with contextlib.suppress(LibraryError):  # a flip in zip metadata may leave it intact
            lib.arrays(lib[record.id])
