"""The results page's score matrix: one row per unit, rectangular over the units."""

from __future__ import annotations

import numpy as np

from lever_gym.experiments.report import matrix


def _row(layout: int, task: str, kind: str, score: float) -> dict:
    return {
        "method": "m", "normalised": score, "size": 8, "layout_seed": layout,
        "library_seed": 0, "gamma": 0.99, "task": task, "kind": kind, "protocol": "fixed",
    }  # fmt: skip


def test_setups_are_columns_and_signed_tasks_average_within_each_unit():
    setups = [_row(u, t, "setup", s) for u in (1, 2) for t, s in (("P+G", 0.5), ("P+H", 1.0))]
    assert matrix(setups, "m").tolist() == [[0.5, 1.0], [0.5, 1.0]]
    # Each layout draws its own weights: W0 may be in a family on one layout only.
    signed = [_row(1, "W0", "hazard bonus", 0.2), _row(1, "W3", "hazard bonus", 0.6),
              _row(2, "W1", "hazard bonus", 1.0)]  # fmt: skip
    m = matrix(signed, "m")
    assert m.shape == (2, 1)
    np.testing.assert_allclose(m[:, 0], [0.4, 1.0])
