"""Statistics: interval coverage on synthetic data with a known answer, paired tests, Holm."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.errors import ConfigError
from lever_gym.experiments.stats import PairedTest, holm, intervals, paired_test


@pytest.mark.slow
def test_bootstrap_interval_covers_the_true_mean_in_at_least_90_percent_of_draws():
    truth, covered = 0.6, 0
    for draw in range(200):
        rng = np.random.default_rng(draw)
        scores = np.clip(rng.normal(truth, 0.15, size=(20, 3)), -1, 2)
        mean, _ = intervals(scores, seed=draw, reps=400)
        covered += mean.low <= truth <= mean.high
    assert covered >= 180


def test_intervals_are_seeded_and_ordered():
    scores = np.random.default_rng(0).random((12, 4))
    a, b = intervals(scores, seed=5), intervals(scores, seed=5)
    assert a == b
    for interval in a:
        assert interval.low <= interval.point <= interval.high
    with pytest.raises(ConfigError, match="finite"):
        intervals(np.array([[np.nan]]), seed=0)


def test_paired_test_and_holm():
    a = np.arange(10.0)
    t = paired_test(a + 1.0, a)
    assert t.mean_difference == 1.0 and t.wins == 10 and t.losses == 0 and t.p_value < 0.01
    assert paired_test(a, a).p_value == 1.0
    tests = [PairedTest(10, 0, 0, 0, p) for p in (0.01, 0.04, 0.03)]
    assert [t.p_holm for t in holm(tests)] == pytest.approx([0.03, 0.06, 0.06])
