"""Composed action tables on the default library equal the tables recorded before the
package was restructured (sha256 of every state's action, six setups, every layout)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lever_gym.library.store import Library
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.decompose import setup_target

ROOT = Path(__file__).resolve().parents[2]
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "composed_tables_v1.json").read_text())
LAYOUTS = sorted({key.split("/")[0] for key in RECORDED})


@pytest.fixture(scope="module")
def lib():
    return Library.load(ROOT / "datasets")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_composed_tables_match_the_recording(lib, layout):
    size, seed = int(layout.split("x")[0]), int(layout.split("-s")[1])
    for key, want in RECORDED.items():
        if not key.startswith(layout + "/"):
            continue
        _, gamma, setup, strategy, n_starts = key.split("/")
        policy = LeverComposedPolicy.from_library(
            lib, setup_target(setup), size=size, layout_seed=seed, gamma=float(gamma[1:]),
            parts=setup, strategy=strategy, k=3, n_starts=int(n_starts[1:]), seed=0,
        )  # fmt: skip
        actions = np.ascontiguousarray(policy.composed.all()[0], dtype=np.int8)
        assert list(policy.explanation.chosen.policies) == want["chosen"], key
        assert hashlib.sha256(actions.tobytes()).hexdigest() == want["actions"], key
