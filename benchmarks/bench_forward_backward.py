"""The forward-backward comparator against its rank, on the default library's layouts.

Run: python benchmarks/bench_forward_backward.py   (writes benchmarks/results/forward_backward.md)

For each layout and rank: the reward-free fit's time and its fit error (the relative
ρ-weighted error left in the behaviour policy's successor measure), then over the layout's
24 declared signed tasks (``experiments.protocol.signed_tasks``) the mean reward projection
error, the median zero-shot time and the mean score from the fixed start, exactly scored
(0 = random, 1 = the stationary reference), beside ``bcvi`` and lever (defaults) on the same
data. Layouts small enough for a dense fit are also fitted at full rank, where FB is
exactly ``bcvi``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from lever_gym.eval.baselines import bcvi, forward_backward, forward_backward_fit
from lever_gym.eval.exact import exact_returns
from lever_gym.experiments.protocol import signed_tasks
from lever_gym.library.store import Library, layout_model
from lever_gym.mdp.contract import stationary_reference
from lever_gym.mdp.forward_backward import DENSE_ROWS
from lever_gym.mdp.horizon import reference_values
from lever_gym.reuse.composed import LeverComposedPolicy

from _common import write_table

RANKS = (16, 64, 256)
"""Ranks fitted on every layout; a layout of at most ``DENSE_ROWS`` rows is also fitted at
its full row count (where FB is exactly ``bcvi``)."""
TASKS = 24


class Scorer:
    """Exact scores from a layout's fixed start, normalised by the stationary reference."""

    def __init__(self, model, tasks) -> None:
        self.model, self.start = model, np.array([model.start_state])
        self.horizon = model.layout.n_cells
        self.scale = {
            t.name: (
                float(reference_values(model, t.objective, self.horizon)[0][self.start].mean()),
                stationary_reference(model, t.objective, self.horizon, self.start).mean,
            )
            for t in tasks
        }

    def __call__(self, policy, task) -> float | None:
        rand, top = self.scale[task.name]
        value = exact_returns(policy, self.model, task.objective, self.start, self.horizon)
        return None if top - rand < 1.0 else float((value.mean() - rand) / (top - rand))


def mean(values: list[float | None]) -> str:
    kept = [v for v in values if v is not None]
    return f"{np.mean(kept):.3f}" if kept else "-"


def main() -> None:
    lib = Library.load()
    rows = []
    for size, layout_seed in lib.layouts():
        model = layout_model(size, layout_seed)
        records = lib.filter(size=size, layout_seed=layout_seed)
        tasks = signed_tasks(size, layout_seed, TASKS)
        score = Scorer(model, tasks)
        theirs = [score(bcvi(lib, records, t.objective, model).policy, t) for t in tasks]
        layout = (size, layout_seed)
        ours = [
            score(LeverComposedPolicy.from_library(lib, t.objective, layout=layout), t)
            for t in tasks
        ]
        n_rows = len(lib.empirical(size, layout_seed).keys)
        for rank in RANKS + ((n_rows,) if n_rows <= DENSE_ROWS else ()):
            began = time.perf_counter()
            fitted = forward_backward_fit(lib, records, model, rank)
            fit_seconds = time.perf_counter() - began
            zero_shot, scores, projection = [], [], []
            for task in tasks:
                built = forward_backward(fitted, task.objective, model)
                zero_shot.append(built.seconds)
                scores.append(score(built.policy, task))
                projection.append(fitted.projection_error(task.objective))
            rows.append([
                f"{size}x{size} layout {layout_seed}", f"{fitted.rank} of {n_rows}",
                f"{fit_seconds:.2f}", f"{fitted.fit_error:.3f}", f"{np.mean(projection):.3f}",
                f"{statistics.median(zero_shot) * 1e3:.1f}", mean(scores), mean(theirs),
                mean(ours),
            ])  # fmt: skip
    write_table(
        "forward_backward",
        "Forward-backward comparator: rank, fit error and score on the default library",
        ["layout", "rank (of recorded rows)", "fit s", "measure fit error",
         "reward projection error (mean)", "zero-shot ms (median)", "fb score (mean)",
         "bcvi score (mean)", "lever (defaults) score (mean)"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
