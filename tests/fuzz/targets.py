"""Fuzz targets over the inputs lever_gym takes from code and people.

Each target is a hypothesis strategy of inputs and a function that feeds one input to
lever_gym and returns its ``Outcome``. ``tests/fuzz/test_fuzz.py`` runs every target with
the CI profile; ``benchmarks/fuzz.py`` runs the full profile (over 10^4 inputs) and writes
the table of ``docs/reliability.md``. Every draw comes from hypothesis, seeded.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

import lever_gym.components as reward_components
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.model import MAX_MODEL_BYTES_VAR
from lever_gym.envs.random_grid import RandomLeverGridEnv
from lever_gym.envs.vector import LeverGridVectorEnv
from lever_gym.objective import _NEGATIONS, COMPONENTS, OBJECTIVE_NAMES, Objective
from tests.fuzz.outcome import Outcome, attempt

FUZZ_MODEL_BYTES = str(128 * 2**20)
"""While an env input runs, layouts above 128 MiB of model (32x32 ones, maps with many gold)
are refused by the size guard, not built."""


@contextlib.contextmanager
def small_models() -> Iterator[None]:
    """Lower the size guard's limit to ``FUZZ_MODEL_BYTES`` for the block."""
    old = os.environ.get(MAX_MODEL_BYTES_VAR)
    os.environ[MAX_MODEL_BYTES_VAR] = FUZZ_MODEL_BYTES
    try:
        yield
    finally:
        if old is None:
            del os.environ[MAX_MODEL_BYTES_VAR]
        else:
            os.environ[MAX_MODEL_BYTES_VAR] = old


@dataclass(frozen=True)
class Target:
    """A strategy of inputs, how to feed one, and how many the CI and full profiles try."""

    strategy: st.SearchStrategy
    feed: Callable[[Any], Outcome]
    ci: int
    full: int


GARBAGE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=12), st.binary(max_size=6), st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from([np.int64(3), np.float32(1.0), np.bool_(True), np.array([1, 2]), 1e308]),
)  # fmt: skip
"""Values of every type a careless caller passes."""


def mostly(valid: st.SearchStrategy, weight: int = 4) -> st.SearchStrategy:
    """``valid`` values, with one in ``weight + 1`` from ``GARBAGE``."""
    return st.integers(0, weight).flatmap(lambda i: valid if i else GARBAGE)


# -- env construction --------------------------------------------------------------------


@st.composite
def ascii_layouts(draw: st.DrawFn) -> str:
    """Square maps of 3 to 7 rows from the legend, usually with one start, exit and lever."""
    n = draw(st.integers(3, 7))
    weights = [".", ".", ".", ".", "#", "$", "H", "x"]
    cells = draw(st.lists(st.sampled_from(weights), min_size=n * n, max_size=n * n))
    places = draw(st.permutations(range(n * n)))
    if draw(st.integers(0, 9)):
        for ch, at in zip("SEL", places, strict=False):
            cells[at] = ch
    gold = draw(st.integers(0, 14))
    for at in places[3 : 3 + gold]:
        cells[at] = "$"
    rows = ["".join(cells[r * n : (r + 1) * n]) for r in range(n)]
    if draw(st.integers(0, 9)) == 0 and n > 3:
        rows[-1] = rows[-1][:-1]  # not square
    return "\n".join(rows)


OBJECTIVE_TEXT = st.lists(
    st.sampled_from(
        [*COMPONENTS, *[c + "s" for c in COMPONENTS], *OBJECTIVE_NAMES,
         *[k for c in reward_components.registered() for k in c.keywords],
         *sorted(_NEGATIONS), "the", "and",
         "then", "reach", "hazrd", "goldd", "leverr", "pathh", "coins", "Ｐath", "😀"]
    ) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz'", min_size=1, max_size=9),
    min_size=1, max_size=6,
).flatmap(
    lambda words: st.sampled_from(["+", ",", " ", "-", " and ", ", "]).map(lambda j: j.join(words))
)  # fmt: skip
OBJECTIVES = st.one_of(
    st.sampled_from(OBJECTIVE_NAMES), OBJECTIVE_TEXT,
    st.lists(st.one_of(st.floats(), st.integers(-3, 3), st.text(max_size=2)), max_size=6),
    st.sampled_from(["LeverGrid-8x8-PathGold-v0", "LeverGrid-8x8-PathGld-v0", "lever_gym:x"]),
    GARBAGE,
)  # fmt: skip
ENV_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "size": mostly(st.sampled_from([None, 8, 8, 16, 32, 12])),
        "layout_seed": mostly(st.integers(0, 40)),
        "layout": mostly(ascii_layouts(), 2),
        "weights": mostly(
            st.lists(st.one_of(st.floats(-10, 10), st.integers(-5, 5)), min_size=4, max_size=4)
        ),
        "random_start": mostly(st.booleans()),
        "shaping": mostly(st.booleans()),
        "render_mode": mostly(st.sampled_from([None, "ansi", "rgb_array", "human"])),
    },
)  # fmt: skip
ENV_INPUTS = st.tuples(
    st.sampled_from(["grid", "random", "vector"]),
    mostly(st.sampled_from(OBJECTIVE_NAMES), 1) | OBJECTIVES, ENV_KWARGS,
    mostly(st.tuples(st.integers(0, 40), st.integers(1, 9)).map(lambda t: [t[0], t[0] + t[1]])),
    mostly(st.integers(1, 4)),
)  # fmt: skip


def feed_env(x: tuple) -> Outcome:
    """Construct an env of the drawn kind and arguments, reset and render it; accepted
    flags must be booleans and an accepted layout a string."""
    kind, objective, kwargs, layout_seeds, num_envs = x
    if kind == "random":
        kwargs = {k: v for k, v in kwargs.items() if k not in ("layout", "layout_seed")}

    def make() -> None:
        if kind == "grid":
            env = LeverGridEnv(objective, **kwargs)
        elif kind == "random":
            env = RandomLeverGridEnv(objective, layout_seeds=layout_seeds, **kwargs)
        else:
            env = LeverGridVectorEnv(num_envs, objective, **kwargs)
        env.reset(seed=0)
        env.render()

    with small_models():
        outcome = attempt(make)
    if outcome.label == "accepted":
        for name in ("random_start", "shaping"):
            if name in kwargs and not isinstance(kwargs[name], bool | np.bool_):
                return Outcome("silent", f"{name}={kwargs[name]!r} accepted")
        if "layout" in kwargs and not isinstance(kwargs["layout"], str | None):
            return Outcome("silent", f"layout={kwargs['layout']!r} accepted")
    return outcome


# -- step and reset ----------------------------------------------------------------------

ACTIONS = mostly(
    st.integers(0, 3) | st.integers(-2, 6) | st.sampled_from([np.array(2), np.int8(1), 1.0])
)
OPTIONS = mostly(
    st.none()
    | st.dictionaries(
        st.sampled_from(["start_cell", "start_cell", "start_cel", "seed", "minari_autoseed"]),
        mostly(st.integers(-1, 70)), max_size=2,
    ),
)  # fmt: skip
STEPS = st.tuples(
    st.sampled_from(["grid", "random", "vector"]),
    st.lists(
        st.one_of(
            st.tuples(st.just("reset"), mostly(st.none() | st.integers(-5, 2**64)), OPTIONS),
            st.tuples(st.just("step"), ACTIONS),
            st.tuples(st.just("step"), st.lists(ACTIONS, min_size=2, max_size=4)),
        ),
        min_size=1, max_size=8,
    ),
)  # fmt: skip


def _is_action(a: object, n: int | None) -> bool:
    """An action ``env.step`` may accept: an integer 0..3 (``n`` of them for a vector env)."""
    if n is not None:
        arr = np.asarray(a) if isinstance(a, list | np.ndarray) else None
        return (
            arr is not None and arr.shape == (n,) and arr.dtype.kind in "iu"
            and bool(((arr >= 0) & (arr < 4)).all())
        )  # fmt: skip
    if isinstance(a, np.ndarray) and a.shape == ():
        a = a.item()
    return isinstance(a, int | np.integer) and not isinstance(a, bool) and 0 <= a < 4


def _is_options(options: object) -> bool:
    """Reset options ``reset`` may accept: none, ``start_cell`` as an integer, Minari's
    ``minari_autoseed`` as a boolean."""
    return options is None or (
        isinstance(options, dict)
        and set(options) <= {"start_cell", "minari_autoseed"}
        and _is_int(options.get("start_cell", 0))
        and isinstance(options.get("minari_autoseed", True), bool | np.bool_)
    )


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def feed_steps(x: tuple) -> Outcome:
    """Reset and step a fresh 8x8 env of the drawn kind through the drawn operations."""
    kind, ops = x
    if kind == "grid":
        env: Any = LeverGridEnv("PathGold", size=8, random_start=True)
    elif kind == "random":
        env = RandomLeverGridEnv("PathGold", size=8, layout_seeds=(0, 3))
    else:
        env = LeverGridVectorEnv(3, "PathGold", size=8, random_start=True)
    n = 3 if kind == "vector" else None
    for op in ops:
        outcome = attempt(lambda op=op: env.reset(seed=op[1], options=op[2]) if op[0] == "reset"
                          else env.step(op[1]))  # fmt: skip
        if op[0] == "step" and outcome.label == "accepted" and not _is_action(op[1], n):
            return Outcome("silent", f"action {op[1]!r} accepted")
        if op[0] == "reset" and outcome.label == "accepted" and not _is_options(op[2]):
            return Outcome("silent", f"reset options {op[2]!r} accepted")
        if not outcome.ok or outcome.label != "accepted":
            return outcome
    return Outcome("accepted")


# -- objective text ----------------------------------------------------------------------


def feed_objective(x: object) -> Outcome:
    """Parse the drawn objective; text with a negation, or '+'-joined text with a word that
    is no component, must be refused."""
    outcome = attempt(lambda: Objective.parse(x))
    if outcome.label != "accepted" or not isinstance(x, str):
        return outcome
    words = x.lower().replace("+", " ").replace(",", " ").replace("-", " ").split()
    if any(w in _NEGATIONS or w.endswith("n't") for w in words):
        return Outcome("silent", f"negation in {x!r} accepted")
    singular = [w[:-1] if w.endswith("s") and w[:-1] in COMPONENTS else w for w in words]
    if "+" in x and x.strip() not in OBJECTIVE_NAMES and set(singular) - set(COMPONENTS):
        return Outcome("silent", f"unknown token in {x!r} accepted")
    split = attempt(lambda: Objective.parse_split(x))
    return split if not split.ok else outcome


# -- observations ------------------------------------------------------------------------


@functools.cache
def policies() -> dict[str, Any]:
    """A tabular, an exact and a composed policy of the fuzz library's 8x8 layout."""
    from lever_gym.mdp.solve import solve
    from lever_gym.reuse.composed import LeverComposedPolicy
    from tests.fuzz.library import fuzz_library

    lib = fuzz_library()
    return {
        "tabular": lib.policy(lib.records[0]),
        "exact": solve("LeverGrid-8x8-PathGold-v0", 0.9),
        "composed": LeverComposedPolicy.from_library(lib, "PathGold", layout=(8, 0)),
    }


BAD_VALUES = [0.0, 1.0, 0.6, -1.0, 2.0, math.nan, math.inf, 1e9, -0.0, 0.5]
OBSERVATIONS = st.tuples(
    st.sampled_from(["tabular", "exact", "composed"]),
    st.sampled_from(["call", "predict", "q_values"]),
    st.integers(0, 2047),
    st.lists(st.tuples(st.integers(0, 25), st.sampled_from(BAD_VALUES)), max_size=3),
    st.sampled_from(["one", "batch", "trim", "extend", "nested", "list", "scalar"]),
    st.sampled_from(["float32", "float64", "int64", "bool", "object", "str", "complex"]),
    GARBAGE,
)  # fmt: skip


def _valid(obs: np.ndarray, n: int, d: int) -> bool:
    """Independently of lever_gym: numbers, last dimension ``d``, 0/1 entries, one row and
    one column bit per observation."""
    if obs.dtype.kind not in "biuf" or obs.shape[-1:] != (d,):
        return False
    flat = obs.reshape(-1, d).astype(np.float64)
    return bool(
        np.isin(flat, (0.0, 1.0)).all()
        and (flat[:, :n].sum(axis=1) == 1).all() and (flat[:, n : 2 * n].sum(axis=1) == 1).all()
    )  # fmt: skip


def feed_observation(x: tuple) -> Outcome:
    """Feed the drawn observation to a policy; accepted ones must be valid and read alike by
    ``__call__`` and ``predict``."""
    kind, method, state, edits, shape, dtype, garbage = x
    policy = policies()[kind]
    model = policy.model
    obs: Any = model.space.observe(state % model.n_states).astype(np.float64)
    for i, v in edits:
        obs[i % len(obs)] = v
    shaped = {
        "one": obs, "batch": obs[None], "trim": obs[:-1], "extend": np.append(obs, 0.0),
        "nested": obs[None, None], "list": obs.tolist(), "scalar": garbage,
    }[shape]  # fmt: skip
    if shape not in ("list", "scalar"):
        shaped = np.asarray(shaped).astype(dtype)
    fn = {"call": policy, "predict": policy.predict, "q_values": policy.q_values}[method]
    outcome = attempt(lambda: fn(shaped))
    if outcome.label != "accepted":
        return outcome
    arr = np.asarray(shaped) if shape != "scalar" else np.asarray(garbage, dtype=object)
    one = method != "call" or arr.shape == (model.space.obs_dim,)
    if not (one and _valid(arr, model.layout.size, model.space.obs_dim)):
        return Outcome("silent", f"{method} accepted {shaped!r}")
    if method == "call" and policy.predict(arr[None]).tolist() != [policy(arr)]:
        return Outcome("silent", "call and predict disagree")
    return outcome
