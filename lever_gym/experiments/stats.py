"""Statistics over units: rliable's stratified bootstrap intervals, paired tests, Holm.

Scores come as a matrix ``(units, tasks)``: one row per unit of evidence (a layout and a
library seed), one column per task measured on it. Intervals resample units (within each
task, rliable's stratified bootstrap); paired tests take units as pairs; p-values are
Holm-corrected across the family of comparisons reported together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def intervals(scores: np.ndarray, seed: int, reps: int = 2000) -> tuple[Interval, Interval]:
    """Mean and interquartile mean of ``scores`` (units × tasks) with stratified bootstrap
    intervals over units (rliable), drawn from ``seed``."""
    try:
        from rliable import library as rly
        from rliable import metrics
    except ImportError as e:  # pragma: no cover - the dev and bench extras install it
        raise ConfigError(
            "benchmark statistics need rliable: pip install 'lever-gym[bench]'."
        ) from e
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 1 or not np.isfinite(x).all():
        raise ConfigError(f"scores must be a finite (units, tasks) matrix; got shape {x.shape}.")

    def aggregates(m: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_mean(m), metrics.aggregate_iqm(m)])

    # rliable 1.2's resampling draws from numpy's global generator whatever random_state
    # says: a subclass draws from the bootstrap's own generator, seeded here.
    class SeededBootstrap(rly.StratifiedBootstrap):
        def update_indices(self) -> tuple[np.ndarray, ...]:
            drawn = self.generator.choice(self._num_items, self._args_shape, replace=True)
            return (drawn, *self._strata_indices)

    bootstrap = SeededBootstrap(x)
    bootstrap.generator = np.random.RandomState(checks.seed(seed) % 2**32)  # rliable's draws
    low, high = bootstrap.conf_int(
        aggregates, reps=checks.positive_int(reps, "reps"), size=CONFIDENCE, method="percentile"
    )
    mean, iqm = aggregates(x)
    return Interval(float(mean), float(low[0]), float(high[0])), Interval(
        float(iqm), float(low[1]), float(high[1])
    )


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison over units: mean difference, wins, and the Wilcoxon p-value."""

    n: int
    mean_difference: float
    wins: int
    losses: int
    p_value: float
    p_holm: float = float("nan")


def paired_test(a: np.ndarray, b: np.ndarray) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` over paired units."""
    try:
        from scipy.stats import wilcoxon
    except ImportError as e:  # pragma: no cover - the dev and bench extras install it
        raise ConfigError("paired tests need scipy: pip install 'lever-gym[bench]'.") from e
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or not len(d):
        raise ConfigError(f"paired scores must be two equal 1-d arrays; got {d.shape}.")
    nonzero = d[np.abs(d) > 1e-12]
    p = float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 1 else 1.0
    return PairedTest(len(d), float(d.mean()), int(np.sum(d > 1e-12)), int(np.sum(d < -1e-12)), p)


def holm(tests: list[PairedTest]) -> list[PairedTest]:
    """Holm-Bonferroni adjusted p-values for a family of tests (same order)."""
    m = len(tests)
    order = np.argsort([t.p_value for t in tests], kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * tests[i].p_value))
        adjusted[i] = running
    return [
        PairedTest(t.n, t.mean_difference, t.wins, t.losses, t.p_value, float(p))
        for t, p in zip(tests, adjusted, strict=True)
    ]
