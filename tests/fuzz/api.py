"""The Python API over a library: lookups, indexes, ``from_library`` and ``evaluate`` with
sensible and careless arguments (on the fuzz library, so each call is quick)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from lever_gym.eval.evaluate import evaluate
from lever_gym.reuse.composed import LeverComposedPolicy
from lever_gym.reuse.config import ReuseConfig
from lever_gym.reuse.operators import OPERATORS, SUPPORT_MODES
from tests.fuzz.library import fuzz_library
from tests.fuzz.outcome import Outcome, attempt
from tests.fuzz.targets import GARBAGE, OBJECTIVES, mostly

FROM_LIBRARY = st.fixed_dictionaries(
    {},
    optional={
        "size": mostly(st.sampled_from([None, 8, 16])),
        "layout_seed": mostly(st.sampled_from([None, 0, 1])),
        "gamma": mostly(st.sampled_from([None, 0.99, 0.0, 0.5])),
        "parts": mostly(st.sampled_from([None, "P+G", "Path+Gold", "PG", "PL+G"])),
        "strategy": mostly(st.sampled_from(["hybrid", "targeted", "exhaustive", "x"])),
        "k": mostly(st.integers(-1, 4)),
        "scoring": mostly(st.sampled_from(["rollout", "predictor", "x"])),
        "backend": mostly(st.sampled_from(["annoy", "exact", "hnsw", "x"])),
        "n_starts": mostly(st.integers(-1, 3)),
        "rounds": mostly(st.integers(-1, 2)),
        "guard": mostly(st.booleans()),
        "pool": mostly(st.sampled_from(["parts", "layout", "x"])),
        "seed": mostly(st.integers(-1, 5)),
        "operator": mostly(st.sampled_from([*OPERATORS, "x"])),
        "support_mode": mostly(st.sampled_from([*SUPPORT_MODES, "x"])),
    },
)  # fmt: skip
CALLS = st.one_of(
    st.tuples(st.just("getitem"), GARBAGE | st.sampled_from(["8x8-s0/x", ""])),
    st.tuples(st.just("layout_index"), mostly(st.sampled_from([8, 16])),
              mostly(st.integers(0, 2)), mostly(st.sampled_from(["annoy", "exact", "hnsw"]))),
    st.tuples(st.just("empirical"), mostly(st.sampled_from([8, 16])), mostly(st.integers(0, 2))),
    st.tuples(st.just("compose"), mostly(st.sampled_from(["PathGold", "path+gold"])) | OBJECTIVES,
              FROM_LIBRARY, mostly(st.integers(1, 3)), mostly(st.integers(1, 2)),
              mostly(st.sampled_from([0, 1]))),
)  # fmt: skip


def feed_api(x: tuple) -> Outcome:
    """Make one call of the library's API (composing, then evaluating, for ``compose``)."""
    lib = fuzz_library()
    kind, *args = x

    def call() -> Any:
        if kind == "getitem":
            return lib[args[0]]
        if kind == "layout_index":
            return lib.layout_index(*args)
        if kind == "empirical":
            return lib.empirical(*args)
        objective, options, episodes, envs, env_seed = args
        options = dict(options)
        size, seed = options.pop("size", None), options.pop("layout_seed", None)
        layout = None if size is None and seed is None else (size, seed)
        config = ReuseConfig().with_options(**options)
        policy = LeverComposedPolicy.from_library(lib, objective, layout=layout, config=config)
        return evaluate(
            policy, "LeverGrid-8x8-PathGold-v0", episodes, num_envs=envs, layout_seed=env_seed
        )

    outcome = attempt(call)
    if kind == "compose" and outcome.label == "accepted":
        for name in ("k", "n_starts"):
            if name in x[2] and not (isinstance(x[2][name], int) and x[2][name] >= 1):
                return Outcome("silent", f"{name}={x[2][name]!r} accepted")
    return outcome
