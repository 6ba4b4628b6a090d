"""The direct hdf5 writer and reader against Minari's own: same data, same metadata."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import minari
import numpy as np
import pytest
from minari.dataset.minari_storage import MinariStorage
from minari.namespace import list_local_namespaces

import lever_gym.data.minari_hdf5 as minari_hdf5
from lever_gym.data.collect import DataConfig, collect
from lever_gym.data.convert import to_d3rlpy
from lever_gym.data.minari_hdf5 import EpisodeColumns, iter_episodes
from lever_gym.data.storage import (
    episode_buffers,
    episode_columns,
    minari_root,
    read_episodes,
    reference_scores,
    write_dataset,
)
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.store import Library
from lever_gym.train.tabular import TrainConfig, key_index, train
from lever_gym.version import __version__

DATASET_ID = "lever/test/mixed-v0"
DEFAULT_LIBRARY = Path(__file__).resolve().parents[2] / "datasets"
ALL_FIELDS = (
    "observations",
    "actions",
    "rewards",
    "terminations",
    "truncations",
    "infos/state",
    "infos/cell",
    "infos/reward_components",
    "infos/is_success",
)


@pytest.fixture(scope="module")
def env():
    """The env the test datasets come from."""
    return gym.make("LeverGrid-8x8-PathGold-v0", layout_seed=4, random_start=True)


@pytest.fixture(scope="module")
def episodes(env):
    """Episodes that end at the exit or a hazard, and three that hit the time limit."""
    model, w = env.unwrapped.model, env.unwrapped.objective
    q = train(model, w, TrainConfig(gamma=0.99, episodes=2000, seed=0)).q
    keys = key_index(model, "state")
    good = collect(model, q, keys, DataConfig(episodes=12, epsilon=0.2), seed=1)
    stuck = collect(model, np.zeros_like(q), keys, DataConfig(episodes=3, epsilon=0.0), seed=2)
    assert any(good.terminated) and not any(stuck.terminated)
    return type(good)(
        good.states + stuck.states,
        good.actions + stuck.actions,
        good.terminated + stuck.terminated,
        good.seeds + stuck.seeds,
    )


@pytest.fixture(scope="module")
def pair(env, episodes, tmp_path_factory):
    """(ours, Minari's): the same episodes written by write_dataset and by Minari."""
    ours, theirs = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("minari")
    write_dataset(ours, DATASET_ID, env, episodes, algorithm="test", description="test")
    base = env.unwrapped
    low, high = reference_scores(base)
    with minari_root(theirs), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        minari.create_dataset_from_buffers(
            DATASET_ID,
            episode_buffers(base.model, base.objective, episodes),
            env=env,
            eval_env=env.spec,
            algorithm_name="test",
            author="lever_gym",
            description="test",
            requirements=[f"lever-gym=={__version__}"],
            ref_min_score=low,
            ref_max_score=high,
        )
    return ours, theirs


def data_dir(root: Path, dataset_id: str = DATASET_ID) -> Path:
    return root / dataset_id / "data"


def assert_same_episodes(a: minari.MinariDataset, b: minari.MinariDataset) -> None:
    """Every episode array, info and episode attribute equal, dtypes included."""
    assert a.total_episodes == b.total_episodes and a.total_steps == b.total_steps
    for x, y in zip(a.iterate_episodes(), b.iterate_episodes(), strict=True):
        assert x.id == y.id
        for name in ("observations", "actions", "rewards", "terminations", "truncations"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype, name
            np.testing.assert_array_equal(u, v, err_msg=name)
        assert list(x.infos) == list(y.infos)
        for key in x.infos:
            assert x.infos[key].dtype == y.infos[key].dtype, key
            np.testing.assert_array_equal(x.infos[key], y.infos[key], err_msg=key)
    meta_a = list(a.storage.get_episode_metadata(a.episode_indices))
    meta_b = list(b.storage.get_episode_metadata(b.episode_indices))
    assert meta_a == meta_b
    assert all(set(m) == {"id", "seed", "total_steps"} for m in meta_a)


def test_plain_minari_reads_ours_as_it_reads_its_own(pair, monkeypatch):
    ours, theirs = pair
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(ours))
    loaded = minari.load_dataset(DATASET_ID)
    reference = minari.MinariDataset(data_dir(theirs))
    assert_same_episodes(loaded, reference)
    assert_same_episodes(minari.MinariDataset(data_dir(ours)), reference)
    for name in ("env_spec", "total_episodes", "total_steps", "dataset_id", "minari_version",
                 "observation_space", "action_space", "combined_datasets"):  # fmt: skip
        assert getattr(loaded.spec, name) == getattr(reference.spec, name), name
    assert len(loaded.sample_episodes(3)) == 3


def test_metadata_is_minaris_but_for_the_measured_size(pair):
    ours, theirs = pair
    a = json.loads((data_dir(ours) / "metadata.json").read_text())
    b = json.loads((data_dir(theirs) / "metadata.json").read_text())
    assert list(a) == list(b)  # same keys in the same order
    # dataset_size is the data folder measured after writing: Minari's file is chunked
    # (about 26 kB per episode), ours compact, so the two measured sizes differ.
    assert {k for k in a if a[k] != b[k]} <= {"dataset_size"}
    folder_mb = sum(p.stat().st_size for p in data_dir(ours).iterdir()) / 1e6
    assert a["dataset_size"] == pytest.approx(folder_mb, abs=0.051)
    assert MinariStorage.read(data_dir(ours)).get_size() == a["dataset_size"]
    assert a["ref_min_score"] < a["ref_max_score"]
    assert "code_permalink" not in a and "author_email" not in a  # no placeholders


def test_namespaces_are_minaris(pair):
    ours, theirs = pair
    for root in pair:
        with minari_root(root):
            assert list_local_namespaces() == ["lever", "lever/test"]
    for name in ("lever", "lever/test"):
        path = Path(name, "namespace_metadata.json")
        assert (ours / path).read_text() == (theirs / path).read_text()


def test_hdf5_file_holds_minaris_groups_arrays_and_attributes(pair):
    ours, theirs = pair

    def tree(path: Path) -> dict[str, object]:
        out: dict[str, object] = {}
        with h5py.File(path, "r") as f:
            out["/"] = dict(f.attrs)

            def visit(name: str, item: h5py.Group | h5py.Dataset) -> None:
                if isinstance(item, h5py.Dataset):
                    out[name] = (item.dtype, item.shape, item[()].tobytes())
                else:
                    out[name] = {k: (v, type(v)) for k, v in item.attrs.items()}

            f.visititems(visit)
        return out

    assert tree(data_dir(ours) / "main_data.hdf5") == tree(data_dir(theirs) / "main_data.hdf5")


def test_same_episodes_give_the_same_bytes(env, episodes, pair, tmp_path):
    ours, _ = pair
    time.sleep(1.1)  # a stored timestamp would now differ
    write_dataset(tmp_path, DATASET_ID, env, episodes, algorithm="test", description="test")
    for name in ("main_data.hdf5", "metadata.json"):
        assert (data_dir(tmp_path) / name).read_bytes() == (data_dir(ours) / name).read_bytes()


def test_recover_environment_replays_the_episodes(pair):
    ours, _ = pair
    ds = minari.MinariDataset(data_dir(ours))
    for eval_env in (False, True):
        assert ds.recover_environment(eval_env=eval_env).spec == ds.spec.env_spec
    env = ds.recover_environment()
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(ds.episode_indices)]
    for ep, seed in zip(ds.iterate_episodes(), seeds, strict=True):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, ep.observations[0])
        for t, a in enumerate(ep.actions):
            obs, reward, term, trunc, _ = env.step(int(a))
            np.testing.assert_array_equal(obs, ep.observations[t + 1])
            assert (reward, term, trunc) == (ep.rewards[t], ep.terminations[t], ep.truncations[t])


def test_minari_command_lists_and_shows_the_dataset(pair, monkeypatch):
    from minari.cli import app
    from typer.testing import CliRunner

    ours, _ = pair
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(ours))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "local"])
    assert listed.exit_code == 0, listed.output
    assert "mixed-v0" in listed.output and "lever_gym" in listed.output
    shown = runner.invoke(app, ["show", DATASET_ID])
    assert shown.exit_code == 0, shown.output
    assert DATASET_ID in shown.output and "LeverGrid-8x8-PathGold-v0" in shown.output
    assert set(minari.list_local_datasets()) == {DATASET_ID}


def test_minari_can_add_episodes_to_our_dataset(env, episodes, tmp_path):
    write_dataset(tmp_path, DATASET_ID, env, episodes, algorithm="test", description="test")
    ds = minari.MinariDataset(data_dir(tmp_path))
    base = env.unwrapped
    buffers = episode_buffers(base.model, base.objective, episodes)[:2]
    ds.update_dataset_from_buffer([dataclasses.replace(b, id=None) for b in buffers])
    again = minari.MinariDataset(data_dir(tmp_path))
    assert again.total_episodes == len(episodes.actions) + 2
    last = next(iter(again.iterate_episodes([again.total_episodes - 1])))
    np.testing.assert_array_equal(last.actions, episodes.actions[1])


def test_reader_matches_minari_on_both_files_and_on_subsets(pair):
    for root in pair:
        ds = minari.MinariDataset(data_dir(root))
        for subset in (ds, ds.filter_episodes(lambda ep: bool(ep.terminations[-1]))):
            got = list(read_episodes(subset, ALL_FIELDS))
            assert len(got) == len(subset.episode_indices) > 0
            for ep, arrays in zip(subset.iterate_episodes(), got, strict=True):
                for name in ALL_FIELDS:
                    want = ep.infos[name[6:]] if name.startswith("infos/") else getattr(ep, name)
                    assert arrays[name].dtype == want.dtype, name
                    np.testing.assert_array_equal(arrays[name], want, err_msg=name)


def test_reader_names_missing_arrays_and_episodes(pair):
    path = data_dir(pair[0]) / "main_data.hdf5"
    with pytest.raises(LibraryError, match=r"episode_0 .* has no infos/nope, rewardz"):
        next(iter_episodes(path, ["actions", "infos/nope", "rewardz"], [0]))
    with pytest.raises(LibraryError, match="has no episode_99"):
        next(iter_episodes(path, ["actions"], [99]))
    with pytest.raises(LibraryError, match="has no infos"):
        next(iter_episodes(path, ["infos"], [0]))


def old_to_d3rlpy_arrays(ds: minari.MinariDataset, w: np.ndarray) -> dict[str, np.ndarray]:
    """What to_d3rlpy passed to MDPDataset before the direct reader, from Minari's decoding."""
    obs, act, rew, term, tout = [], [], [], [], []
    for ep in ds.iterate_episodes():
        c = ep.infos["reward_components"][1:]
        obs.append(ep.observations[:-1])
        act.append(ep.actions)
        rew.append(c[:, 0] * w[0] + c[:, 1] * w[1] + c[:, 2] * w[2] + c[:, 3] * w[3])
        term.append(ep.terminations)
        tout.append(ep.truncations & ~ep.terminations)
    return {
        "observations": np.concatenate(obs).astype(np.float32),
        "actions": np.concatenate(act).astype(np.int64),
        "rewards": np.concatenate(rew).astype(np.float32),
        "terminals": np.concatenate(term).astype(np.float32),
        "timeouts": np.concatenate(tout).astype(np.float32),
    }


def mdp_arguments(ds, objective, monkeypatch) -> dict[str, np.ndarray]:
    """The arrays to_d3rlpy hands to d3rlpy's MDPDataset."""
    import d3rlpy.dataset

    seen: dict[str, np.ndarray] = {}
    with monkeypatch.context() as m:
        m.setattr(d3rlpy.dataset, "MDPDataset", lambda **kwargs: seen.update(kwargs))
        to_d3rlpy(ds, objective)
    return {k: v for k, v in seen.items() if isinstance(v, np.ndarray)}


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_to_d3rlpy_is_unchanged(pair, monkeypatch):
    w = np.array([0.5, 2.0, -1.0, 1.0])
    for root in pair:
        ds = minari.MinariDataset(data_dir(root))
        assert_same_arrays(mdp_arguments(ds, w, monkeypatch), old_to_d3rlpy_arrays(ds, w))


def library_episodes(lib: Library, record):
    """Collect a library policy's behaviour episodes again, as the build did."""
    model = lib.model(record)
    q = lib.arrays(record)[0]
    return collect(model, q, key_index(model, record.key), lib.config.data, record.data_seed)


def test_rewriting_a_default_library_dataset_keeps_every_array(tmp_path, monkeypatch):
    lib = Library.load(DEFAULT_LIBRARY)
    for record in (lib.records[0], lib.records[-1]):
        env = lib.dataset(record).recover_environment()
        episodes = library_episodes(lib, record)
        write_dataset(tmp_path, record.dataset_id, env, episodes, algorithm=record.algorithm,
                      description="rewritten")  # fmt: skip
        before = lib.dataset(record)
        after = minari.MinariDataset(data_dir(tmp_path, record.dataset_id))
        assert_same_episodes(after, before)
        assert_same_arrays(
            mdp_arguments(after, "PathGoldHazardLever", monkeypatch),
            mdp_arguments(before, "PathGoldHazardLever", monkeypatch),
        )


def test_existing_dataset_is_refused_and_failed_writes_leave_nothing(
    env, episodes, pair, tmp_path, monkeypatch
):
    ours, _ = pair
    with pytest.raises(LibraryError, match="already exists"):
        write_dataset(ours, DATASET_ID, env, episodes, algorithm="test", description="test")

    def broken(path, columns, compression=0):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(minari_hdf5, "write_hdf5", broken)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path, DATASET_ID, env, episodes, algorithm="test", description="test")
    assert [p.name for p in (tmp_path / "lever" / "test").iterdir()] == ["namespace_metadata.json"]


def test_bad_ids_envs_and_columns_are_refused(env, episodes, tmp_path):
    columns = episode_columns(env.unwrapped.model, env.unwrapped.objective, episodes)
    with pytest.raises(ConfigError, match="Malformed dataset ID"):
        minari_hdf5.create_dataset(tmp_path, "no version!", columns, env=env)
    with pytest.raises(ConfigError, match="no spec"):
        minari_hdf5.create_dataset(tmp_path, DATASET_ID, columns, env=LeverGridEnv(size=8))
    good = {
        "lengths": columns.lengths,
        "observations": columns.observations,
        "actions": columns.actions,
        "rewards": columns.rewards,
        "terminations": columns.terminations,
        "truncations": columns.truncations,
        "infos": dict(columns.infos),
    }
    bad = [
        ({"lengths": np.zeros(0, dtype=np.int64)}, "non-empty 1-d integer"),
        ({"lengths": np.r_[columns.lengths[:-1], 0]}, "at least one step"),
        ({"observations": columns.observations[:-1]}, "observations must be a numeric array"),
        ({"actions": columns.actions.astype(str)}, "actions must be a numeric array"),
        ({"infos": {"state": columns.infos["state"][1:]}}, "infos/state must be"),
        ({"seeds": np.arange(2)}, "seeds must hold one integer per episode"),
    ]
    for change, message in bad:
        with pytest.raises(ConfigError, match=message):
            EpisodeColumns(**(good | change))


def test_compressed_datasets_read_the_same_and_are_smaller(env, episodes, tmp_path):
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    write_dataset(plain, DATASET_ID, env, episodes, algorithm="test", description="test")
    write_dataset(
        packed, DATASET_ID, env, episodes, algorithm="test", description="test", compression=4
    )
    a = minari.MinariDataset(data_dir(plain))
    b = minari.MinariDataset(data_dir(packed))
    assert_same_episodes(b, a)
    for x, y in zip(read_episodes(a, ALL_FIELDS), read_episodes(b, ALL_FIELDS), strict=True):
        for key in ALL_FIELDS:
            np.testing.assert_array_equal(x[key], y[key])
    size = lambda root: (data_dir(root) / minari_hdf5.MAIN_FILE).stat().st_size  # noqa: E731
    assert size(packed) < 0.8 * size(plain)
