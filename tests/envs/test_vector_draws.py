"""Random starts of large vector envs: drawn in one compiled call from each env's own PCG64
state, exactly as ``Generator.integers`` draws them."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from gymnasium.utils import seeding

import lever_gym.envs.vector as vector_module
from lever_gym.envs.vector import COMPILED_DRAWS_FROM, LeverGridVectorEnv
from lever_gym.envs.vector_kernels import draw_below, pcg64_address
from lever_gym.errors import ConfigError
from tests.envs.test_vector import make_pair, run_both


@pytest.mark.parametrize("span", [*range(1, 40), 1000, 4096, 5000, 2**31 - 1, 2**31 + 1, 2**32 - 1])
def test_compiled_draws_are_numpys_and_leave_its_state(span):
    """``draw_below`` gives ``Generator.integers(span)`` and leaves the generator's state as
    it does, the rejections of spans near 2**32 and a half-used 32-bit buffer included."""
    table = np.arange(span) if span <= 5000 else np.broadcast_to(np.int64(0), (span,))
    mine = [np.random.default_rng(s) for s in range(8)]
    theirs = [copy.deepcopy(g) for g in mine]
    for g, h in zip(mine[::2], theirs[::2], strict=True):  # a half-used 32-bit buffer
        g.integers(7), h.integers(7)
    addresses = np.array([pcg64_address(g) for g in mine], dtype=np.uint64)
    out = np.zeros(8, dtype=np.int64)
    for _ in range(50):
        draw_below(addresses, np.arange(8), table, out)
        assert out.tolist() == [int(table[h.integers(span)]) for h in theirs]
    assert [g.bit_generator.state for g in mine] == [h.bit_generator.state for h in theirs]


def test_the_state_address_is_the_one_numpy_gives():
    """Plain generators on PCG64 are drawn compiled; other bit generators and generator
    subclasses (which may draw otherwise) by the generator itself."""

    class Zeros(np.random.Generator):
        def integers(self, *args, **kwargs):
            return 0

    for rng in [np.random.default_rng(s) for s in range(5)]:
        assert pcg64_address(rng) == rng.bit_generator.ctypes.state_address != 0
    assert pcg64_address(np.random.Generator(np.random.MT19937(0))) == 0
    assert pcg64_address(Zeros(np.random.PCG64(0))) == 0


def test_random_starts_draw_each_envs_own_stream_whatever_its_generator(monkeypatch):
    """Random starts are drawn in one compiled call for PCG64 generators and by the generator
    itself otherwise; either way each env's stream, and what it leaves for the user's own
    draws, is the sync env's: seeded, user-set (PCG64, MT19937, Philox), and never seeded
    (made from fresh entropy at its first random start, then drawn from)."""
    monkeypatch.setattr(vector_module, "COMPILED_DRAWS_FROM", 2)  # these few envs compiled
    sync, native = make_pair("LeverGrid-16x16-PathGold-v0", 6, random_start=True)
    run_both(sync, native, seed=4, steps=40)
    bits = [np.random.PCG64, np.random.MT19937, np.random.Philox]
    for envs in (sync, native):
        envs.set_attr("np_random", [np.random.Generator(bits[i % 3](i)) for i in range(6)])
    run_both(sync, native, seed=None, steps=300)
    assert [g.random() for g in sync.np_random] == [g.random() for g in native.np_random]

    made = {}  # a copy of each generator made from entropy, by the generator's id
    real = seeding.np_random

    def recording(seed=None):
        rng, used = real(seed)
        made[id(rng)] = copy.deepcopy(rng)
        return rng, used

    monkeypatch.setattr(seeding, "np_random", recording)
    fresh = LeverGridVectorEnv(4, "PathGold", size=8, random_start=True, max_episode_steps=2)
    fresh.reset(options={"start_cell": 9})  # no seed, no draw: no generator of its envs yet
    floor = fresh._worlds[0].floor_starts
    ended, restarts = np.zeros(4, dtype=bool), 0
    for _ in range(30):
        _, _, terminated, truncated, info = fresh.step(np.zeros(4, dtype=np.int64))
        for i in np.flatnonzero(ended):  # this step restarted env i at a random start
            mine = made[id(fresh._rngs[i])]
            assert info["state"][i] == floor[mine.integers(len(floor))]
            restarts += 1
        ended = terminated | truncated
    assert restarts >= 40


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "copy"])
def test_a_copied_env_draws_from_its_own_generators(how):
    """A copy (deep, pickled or shallow) of a large random-start env steps as the original
    does from the same point, drawing from its own generators: the original's are left
    alone (its state addresses are its own)."""
    envs = LeverGridVectorEnv(COMPILED_DRAWS_FROM, "PathGold", size=8, random_start=True,
                              max_episode_steps=3)  # fmt: skip
    envs.reset(seed=5)
    actions = np.random.default_rng(1).integers(0, 4, (40, COMPILED_DRAWS_FROM))
    envs.step(actions[0])
    twin = {"deepcopy": copy.deepcopy, "pickle": lambda e: pickle.loads(pickle.dumps(e)),
            "copy": copy.copy}[how](envs)  # fmt: skip
    before = [copy.deepcopy(g.bit_generator.state) for g in envs.np_random]
    theirs = [twin.step(a)[:4] for a in actions[1:]]
    if how != "copy":  # a shallow copy shares its generators, as SyncVectorEnv's does
        assert [g.bit_generator.state for g in envs.np_random] == before
        for a, want in zip(actions[1:], theirs, strict=True):
            got = envs.step(a)[:4]
            for x, y in zip(got, want, strict=True):
                np.testing.assert_array_equal(x, y)
    assert twin._rng_addresses.tolist() == [pcg64_address(g) for g in twin.np_random]


def test_set_attr_names_the_first_env_whose_generator_is_not_one():
    envs = LeverGridVectorEnv(3, "Path", size=8)
    values = [np.random.default_rng(0), None, np.random.RandomState(0)]
    with pytest.raises(ConfigError, match=r"got NoneType for env 1 \(2 envs in all"):
        envs.set_attr("np_random", values)
