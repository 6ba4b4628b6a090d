"""The stages of from_library, one by one, on the default library."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from lever_gym.envs.layout import Layout
from lever_gym.errors import ConfigError, RetrievalError
from lever_gym.library.store import Library
from lever_gym.objective import Objective
from lever_gym.reuse.composition import ComposeConfig, compose_on_tables, compose_states
from lever_gym.reuse.config import PAPER
from lever_gym.reuse.decompose import splits
from lever_gym.reuse.members import Members
from lever_gym.reuse.operators import EXTRACTIONS, MIN, OPERATORS, SUPPORT_MODES, Operator, family
from lever_gym.reuse.pipeline import (
    combinations,
    resolve_target,
    retrieve,
    score_combinations,
    scoring_context,
    scoring_starts,
)
from lever_gym.reuse.tables import layout_tables

DEFAULT = Path(__file__).resolve().parents[2] / "datasets"


@pytest.fixture(scope="module")
def lib():
    return Library.load(DEFAULT)


def test_resolve_target_reads_ids_envs_and_explicit_layouts(lib):
    t = resolve_target(lib, "LeverGrid-16x16-PathGold-v0")
    assert (t.objective.name, t.size, t.layout_seed) == ("PathGold", 16, 0)
    env = gym.make("LeverGrid-8x8-Lever-v0", layout_seed=1)
    t = resolve_target(lib, env)
    assert (t.objective.name, t.size, t.layout_seed) == ("Lever", 8, 1)
    t = resolve_target(lib, [1, 0.5, 0, 0], (8, 1))
    assert t.objective.weights == (1.0, 0.5, 0.0, 0.0) and (t.size, t.layout_seed) == (8, 1)
    with pytest.raises(ConfigError, match="say which layout"):
        resolve_target(lib, "PathGold")
    with pytest.raises(ConfigError, match="draws a new layout every episode"):
        resolve_target(lib, "LeverGrid-Random-8x8-PathGold-v0")
    t = resolve_target(lib, "PathGold", Layout.generate(16, 1))
    assert (t.size, t.layout_seed) == (16, 1)


def test_retrieve_and_combine_stay_on_the_layout(lib):
    target = resolve_target(lib, "path+gold+hazard", (8, 1))
    split_list = splits(target.objective, {r.objective for r in lib}, parts="PG+H")
    ranked = retrieve(lib, target, split_list, [0.99], "hybrid", 1, "annoy")
    assert set(ranked) == {("PathGold", 0.99), ("Hazard", 0.99)}
    assert all(len(c) == 1 and c[0][0].layout_seed == 1 for c in ranked.values())
    combos = combinations(split_list, [0.99], ranked)
    assert len(combos) == 1 and [r.objective for r in combos[0].records] == ["PathGold", "Hazard"]
    with pytest.raises(RetrievalError, match="no gamma has candidates"):
        combinations(split_list, [0.5], {("PathGold", 0.5): [], ("Hazard", 0.5): []})


def test_scoring_starts_put_the_layout_start_first_and_are_seeded(lib):
    emp = lib.empirical(8, 0)
    model = lib.model(lib.filter(size=8, layout_seed=0)[0])
    starts = scoring_starts(emp, model, 5, seed=3)
    assert starts[0] == model.start_state and len(starts) == 5
    np.testing.assert_array_equal(starts, scoring_starts(emp, model, 5, seed=3))
    assert set(starts[1:]) <= set(emp.starts)


def test_scores_come_from_recorded_data_only(lib, monkeypatch):
    from lever_gym.envs.grid import LeverGridEnv

    monkeypatch.setattr(LeverGridEnv, "step", lambda *a: pytest.fail("env.step called"))
    target = resolve_target(lib, "PathGold", (8, 0))
    split_list = splits(target.objective, {r.objective for r in lib}, parts="P+G")
    ranked = retrieve(lib, target, split_list, [0.0], "exhaustive", 3, "exact")
    combos = combinations(split_list, [0.0], ranked)
    pool = list({r.id: r for c in combos for r in c.records}.values())
    position = {r.id: i for i, r in enumerate(pool)}
    context = scoring_context(
        lib,
        target,
        pool,
        {"Path": 1.0, "Gold": 1.0},
        PAPER.with_options(strategy="exhaustive", backend="exact"),
    )
    scored = score_combinations(context, combos, position, "rollout")
    assert len(scored) == len(combos) == 6 * 6  # three replicas x two budgets per block
    assert all(np.isfinite(c.rollout_return) and 0 <= c.rollout_inside <= 1 for c in scored)
    assert Objective.parse("PathGold") == target.objective


@pytest.mark.parametrize("size", [8, 16])
def test_combinations_walked_at_once_score_as_each_walked_alone(lib, rng, size):
    """``roll_all`` (every combination of one size walked at once, each state composed when a
    walk reaches it) gives the returns, steps and exits of composing each combination on
    every recorded state and walking it alone, for every operator, support mode and
    extraction, with and without ``restrict`` and both fallbacks, and several scoring
    starts."""
    from lever_gym.reuse.scoring import ScoringContext

    tables = layout_tables(lib, size, 0)
    model = lib.model(lib.layout_records(size, 0)[0])
    starts = scoring_starts(tables.empirical, model, 3, seed=1)
    for name in OPERATORS:
        modes = SUPPORT_MODES if family(name) == "q" else ["exclude"]
        kinds = itertools.product(modes, EXTRACTIONS, [(True, "raw"), (False, "first")])
        for mode, extraction, (restrict, fallback) in kinds:
            config = ComposeConfig(
                operator=name, support_mode=mode, extraction=extraction,
                restrict=restrict, fallback=fallback,
            )  # fmt: skip
            pool = np.arange(len(tables.ids))
            combos = [rng.choice(len(pool), size=m, replace=False) for m in (1, 2, 3, 2) * 2]
            arguments = dict(
                model=model, tables=tables, target=Objective(tuple(rng.uniform(-2, 2, 4))),
                pool=pool, factors=rng.uniform(0.5, 1.5, len(pool)), config=config,
                starts=starts, penalty=50.0, seed=3,
            )  # fmt: skip
            together = ScoringContext(**arguments).roll_all(combos)
            alone = ScoringContext(**arguments)
            for c, got in zip(combos, together, strict=True):
                want = alone.walk(alone.actions(c))
                for field in ("returns", "steps", "inside"):
                    np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


GPI_MIN = Operator("successor", MIN)
"""An operator a user adds: the worst member's own value (correct by construction)."""


@pytest.mark.parametrize("extraction", ["greedy", "sample"])
def test_both_paths_agree_for_every_registered_operator(lib, rng, extraction, monkeypatch):
    """``compose_on_tables`` (for the successor family the recorded pairs only) equals
    ``compose_states`` on the stacked (m, n, A) rows of ``Members``, for every registered
    operator and support mode, a user-registered ``gpi_min`` included."""
    monkeypatch.setitem(OPERATORS, "gpi_min", GPI_MIN)
    tables = layout_tables(lib, 16, 0)
    for name in OPERATORS:
        modes = SUPPORT_MODES if family(name) == "q" else ["exclude"]
        for mode in modes:
            config = ComposeConfig(operator=name, support_mode=mode, extraction=extraction)
            pool = np.sort(rng.choice(len(tables.ids), size=rng.integers(1, 30), replace=False))
            factors = rng.uniform(0.5, 2.0, size=len(pool))
            target = tuple(rng.uniform(-1, 2, size=4))
            ids = [tables.ids[p] for p in pool]
            members = Members.of_tables(tables.stacked, pool, ids, factors, target)
            pessimistic = members.pessimistic()
            q, counts, successor = members.rows(tables.states)
            uniforms = config.uniforms(4, tables.states)
            want = compose_states(q, counts, factors, pessimistic, config, uniforms, successor)
            got = compose_on_tables(tables, pool, factors, target, config, uniforms, pessimistic)
            for a, b in zip(want, got, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{name}, {mode}")


def test_composing_loads_no_compiled_kernel_and_no_dataset_reader():
    """A fresh process composes a policy without importing numba, minari, h5py or scipy."""
    code = (
        "import sys, lever_gym\n"
        "from lever_gym import Library, LeverComposedPolicy\n"
        f"p = LeverComposedPolicy.from_library(Library.load({str(DEFAULT)!r}),"
        " 'LeverGrid-16x16-PathGoldHazardLever-v0')\n"
        "p.predict(p.model.space.observe(p.model.start_state)[None])\n"
        "heavy = ('numba', 'minari', 'h5py', 'scipy', 'torch')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
