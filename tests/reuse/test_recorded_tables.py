"""Composed action tables on the default library equal the recorded ones (sha256 of every
state's action and the chosen policies, six setups, both γ, every layout): the defaults and
the paper's sum rule, targeted and hybrid. A change of behaviour shows here first; record
anew (``python -m tests.reuse.test_recorded_tables`` writes tests/fixtures/composed_tables_v4.json)
only when the change is intended, and say why in the changelog."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lever_gym.library.store import Library
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig
from lever_gym.reuse.decompose import setup_target

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "composed_tables_v4.json"
RECORDED = json.loads(FIXTURE.read_text())
LAYOUTS = sorted({key.split("/")[0] for key in RECORDED})
VARIANTS = {
    "defaults": {},
    "sum-targeted": {"operator": "sum", "strategy": "targeted", "rounds": 0, "guard": False},
    "sum-hybrid": {"operator": "sum", "strategy": "hybrid", "rounds": 0, "guard": False},
}


@pytest.fixture(scope="module")
def lib():
    return Library.load(ROOT / "datasets")


def composed_table(lib: Library, key: str) -> tuple[list[str], str]:
    """``(chosen policies, sha256 of every state's action)`` of one recorded key."""
    layout, gamma, setup, variant = key.split("/")
    size, seed = int(layout.split("x")[0]), int(layout.split("-s")[1])
    policy = LeverComposedPolicy.from_library(
        lib,
        setup_target(setup),
        layout=(size, seed),
        config=ReuseConfig().with_options(
            gamma=float(gamma[1:]), parts=setup, k=3, seed=0, **VARIANTS[variant]
        ),
    )
    actions = np.ascontiguousarray(policy.composed.all()[0], dtype=np.int8)
    return list(policy.explanation.chosen.policies), hashlib.sha256(actions.tobytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_composed_tables_match_the_recording(lib, layout):
    for key, want in RECORDED.items():
        if key.startswith(layout + "/"):
            chosen, actions = composed_table(lib, key)
            assert chosen == want["chosen"], key
            assert actions == want["actions"], key


def record() -> None:
    """Write the fixture anew from this checkout's code, for the keys it lists."""
    lib = Library.load(ROOT / "datasets")
    tables = {}
    for key in RECORDED:
        chosen, actions = composed_table(lib, key)
        tables[key] = {"actions": actions, "chosen": chosen}
    FIXTURE.write_text(json.dumps(tables, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    record()
