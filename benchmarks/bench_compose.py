"""Composition speed, predict throughput, Annoy retrieval at scale, support modes.

Run: python benchmarks/bench_compose.py   (writes benchmarks/results/compose.md)
Targets: 16x16 hybrid (k = 3) build <= 50 ms, targeted <= 5 ms; predict >= 1,000,000
actions/s on 100,000 observations; one call <= 20 us; Annoy over 100,000 embeddings
<= 1 ms per query at recall@10 >= 0.95.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

import lever_gym
from lever_gym.eval.evaluate import evaluate
from lever_gym.library.index import AnnoyBackend, ExactBackend
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig
from lever_gym.reuse.operators import SUPPORT_MODES
from lever_gym.reuse.retrieval import recall_at_k
from lever_gym.train.tabular import TrainConfig, train

from _common import write_table

TASK = "LeverGrid-16x16-PathGoldHazardLever-v0"


def build_ms(lib, repeats: int = 20, **kwargs) -> tuple[float, int]:
    """Median build time (ms) and number of scored combinations."""
    config = ReuseConfig().with_options(**kwargs)
    LeverComposedPolicy.from_library(lib, TASK, layout=(16, 0), config=config)  # warm caches
    times, combos = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        policy = LeverComposedPolicy.from_library(lib, TASK, layout=(16, 0), config=config)
        times.append(time.perf_counter() - start)
        combos = len(policy.info["combinations"])
    return statistics.median(times) * 1e3, combos


def composition_rows(lib) -> list[list[object]]:
    env = lever_gym.LeverGridEnv("PathGoldHazardLever", size=16, layout_seed=0)
    scratch = [
        train(env.model, env.weights, TrainConfig(gamma=0.99, episodes=10_000, seed=s)).seconds
        for s in range(5)
    ]
    scratch_ms = statistics.median(scratch) * 1e3
    rows = [
        [f"scratch Q-learning X1 (10,000 episodes) on {TASK}", f"{scratch_ms:.1f} ms", "-", "1.0"]
    ]
    for label, kwargs in [
        ("one setup (parts P+G+H+L, gamma 0)", {"parts": "P+G+H+L", "gamma": 0.0}),
        ("automatic (every split, both gammas)", {}),
    ]:
        for strategy in ("targeted", "hybrid", "exhaustive"):
            ms, combos = build_ms(lib, strategy=strategy, **kwargs)
            rows.append([f"{strategy} {label}", f"{ms:.1f} ms", combos, f"{scratch_ms / ms:.2f}"])
    return rows


def predict_rows(lib) -> list[list[object]]:
    policy = LeverComposedPolicy.from_library(lib, TASK, layout=(16, 0))
    model = policy.model
    obs = model.space.observe(np.random.default_rng(0).integers(0, model.n_states, 100_000))
    start = time.perf_counter()
    policy.predict(obs)
    first = time.perf_counter() - start
    warm = statistics.median(timeit.repeat(lambda: policy.predict(obs), number=1, repeat=7))
    single = statistics.median(timeit.repeat(lambda: policy(obs[7]), number=10_000, repeat=7)) / 1e4
    first_row = ["predict, 100,000 observations, first call (tabulates them)"]
    first_row += [f"{first * 1e3:.1f} ms", f"{1e5 / first:,.0f} actions/s"]
    warm_row = ["predict, 100,000 observations, tabulated"]
    warm_row += [f"{warm * 1e3:.1f} ms", f"{1e5 / warm:,.0f} actions/s"]
    return [first_row, warm_row, ["policy(obs), one observation", f"{single * 1e6:.2f} us", "-"]]


def annoy_rows() -> list[list[object]]:
    """Annoy (dot metric) against exact search on 100,000 synthetic 13-d embeddings, clustered
    with varying norms as the library's are, and the same vectors scaled to unit norm."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(200, 13)) * 4
    raw = centers[rng.integers(200, size=100_000)] + rng.normal(size=(100_000, 13))
    queries = rng.normal(size=(200, 13)) * 4
    rows = []
    for name, vectors in [
        ("clustered", raw.astype(np.float32)),
        ("unit-norm", (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)),
    ]:
        exact = ExactBackend(vectors)
        start = time.perf_counter()
        index = AnnoyBackend.build(vectors, n_trees=32, seed=0, metric="dot")
        build_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp) / "x.ann")
            size_mb = (Path(tmp) / "x.ann").stat().st_size / 1e6

        def per_query(backend, queries=queries):
            runs = timeit.repeat(
                lambda: [backend.query(q, 10) for q in queries], number=1, repeat=3
            )
            return statistics.median(runs) / len(queries) * 1e3

        rows.append(
            [
                f"exact numpy search, 100,000 {name}",
                f"{per_query(exact):.3f} ms/query",
                "1.000",
                "-",
            ]
        )
        for search_k in (-1, 3_000, 10_000, 40_000):
            index.search_k = search_k
            recall = recall_at_k(index, exact, queries, 10)
            rows.append(
                [f"Annoy {name}, 32 trees, search_k={search_k}", f"{per_query(index):.3f} ms/query",
                 f"{recall:.3f}", f"build {build_s:.1f} s, {size_mb:.1f} MB"]
            )  # fmt: skip
    return rows


def support_rows(lib) -> list[list[object]]:
    env_id = "LeverGrid-8x8-PathGoldHazard-v0"
    rows = []
    for support in SUPPORT_MODES:
        scores = []
        for layout in (0, 1, 2):
            policy = LeverComposedPolicy.from_library(
                lib, env_id, layout=(8, layout),
                config=ReuseConfig().with_options(support_mode=support),
            )  # fmt: skip
            scores.append(evaluate(policy, env_id, 1, 0, layout_seed=layout).normalised_score)
        rows.append(
            [
                f"support_mode={support}, hybrid k=3, {env_id}",
                " / ".join(f"{s:.2f}" for s in scores),
                f"{np.mean(scores):.3f}",
                "-",
            ]
        )
    return rows  # fmt: skip


def main() -> None:
    lib = lever_gym.Library.load()
    write_table(
        "compose",
        "Composition: build time, predict, retrieval at scale, support modes",
        [
            "what",
            "time / scores by layout",
            "combinations / recall@10 / mean",
            "speedup vs scratch X1 / notes",
        ],
        composition_rows(lib) + predict_rows(lib) + annoy_rows() + support_rows(lib),
    )


if __name__ == "__main__":
    main()
