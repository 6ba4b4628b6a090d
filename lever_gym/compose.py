"""Composition of library Q-values on the support of their datasets.

``Components`` stacks the Q-tables (per Markov state) and dataset visit counts of the
selected policies. For a state, each action gets a composed value from the policies' Q-values
by an operator (weighted ``sum``, the paper's tabular rule; ``max``, GPI; ``min``; ``lse``,
log-sum-exp), where a policy's entry for an action its dataset never took is handled by the
``support`` mode:

* ``exclude``: left out of the operator (an action no selected dataset took has no value);
* ``zero``: counts as 0, as in the reference code;
* ``pessimistic``: counts as the policy's lowest supported Q-value;
* ``raw``: the Q-table's value is used as trained, support ignored.

With ``restrict`` (strict mode) the policy only picks actions that some selected dataset
took in that state, whenever there is one. In a state that no selected dataset covers it
falls back to ``fallback``: ``raw`` (argmax of the operator over the raw Q-tables) or
``first`` (action 0). ``extraction="sample"`` draws ``n_samples`` actions from the datasets'
action counts in the state and keeps the best by composed value (more samples, closer to the
constrained argmax); draws come from ``seed``, so the result is deterministic.

One numba kernel computes every composed value, so the full action table, the offline
scoring rollouts and ``compose_values`` agree exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numba
import numpy as np

from lever_gym.errors import ConfigError

OPERATORS = ("sum", "max", "min", "lse")
SUPPORT_MODES = ("exclude", "zero", "pessimistic", "raw")
FALLBACKS = ("raw", "first")
EXTRACTIONS = ("greedy", "sample")
_EXCLUDE, _ZERO, _PESSIMISTIC, _RAW = range(4)


@dataclass(frozen=True, kw_only=True)
class ComposeConfig:
    """How Q-values are composed and an action is extracted."""

    operator: str = "sum"
    support: str = "exclude"
    restrict: bool = True
    fallback: str = "raw"
    extraction: str = "greedy"
    n_samples: int = 4
    temperature: float = 1.0
    """Of ``lse``: ``τ log Σ exp(Q_i / τ)``."""
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate, naming the valid choices."""
        for name, value, valid in [
            ("operator", self.operator, OPERATORS),
            ("support", self.support, SUPPORT_MODES),
            ("fallback", self.fallback, FALLBACKS),
            ("extraction", self.extraction, EXTRACTIONS),
        ]:
            if value not in valid:
                raise ConfigError(f"{name} must be one of {valid}; got {value!r}.")
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be at least 1; got {self.n_samples!r}.")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive; got {self.temperature!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return asdict(self)

    def codes(self) -> tuple[int, int, bool, int, int, float]:
        """Integer codes for the kernel."""
        n = self.n_samples if self.extraction == "sample" else 0
        return (
            OPERATORS.index(self.operator),
            SUPPORT_MODES.index(self.support),
            self.restrict,
            FALLBACKS.index(self.fallback),
            n,
            self.temperature,
        )


@dataclass(frozen=True, eq=False)
class Components:
    """The candidate policies: Q per Markov state, dataset counts, weights (no copies)."""

    q: list[np.ndarray]
    """Per policy, (n_states, 4) float64."""
    counts: list[np.ndarray]
    """Per policy, (n_states, 4) int32 visit counts of its dataset."""
    weights: np.ndarray
    """(m,) factor applied to each policy's Q-values."""

    def __post_init__(self) -> None:
        """Check shapes: one table per weight, all of one shape."""
        shapes = {a.shape for a in (*self.q, *self.counts)}
        if len(self.q) != len(self.counts) or len(self.q) != len(self.weights) or len(shapes) != 1:
            raise ConfigError(
                f"components need m Q-tables and m count tables of one shape (n_states, 4) "
                f"and m weights; got {len(self.q)}, {len(self.counts)}, {len(self.weights)}, "
                f"shapes {sorted(shapes)}."
            )

    @property
    def n_states(self) -> int:
        """Rows of every table."""
        return self.q[0].shape[0]

    def pessimistic(self) -> np.ndarray:
        """(m,) each policy's lowest Q-value on its support (its lowest Q if none)."""
        out = np.empty(len(self.q))
        for i, (q, c) in enumerate(zip(self.q, self.counts, strict=True)):
            out[i] = q[c > 0].min() if np.any(c > 0) else q.min()
        return out

    def typed(self) -> tuple[Any, Any]:
        """Numba typed lists of read-only views (one array type for every call)."""
        qs, cs = numba.typed.List(), numba.typed.List()
        for q, c in zip(self.q, self.counts, strict=True):
            qv = np.ascontiguousarray(q, dtype=np.float64).view()
            cv = np.ascontiguousarray(c, dtype=np.int32).view()
            qv.setflags(write=False)
            cv.setflags(write=False)
            qs.append(qv)
            cs.append(cv)
        return qs, cs


@numba.njit(cache=True)
def _entry(qj, cj, pess_j, s, a, mode):
    """Policy ``j``'s entry for ``(s, a)`` under the support mode, and whether it counts."""
    supported = cj[s, a] > 0
    if supported or mode == _RAW:
        return qj[s, a], True
    if mode == _EXCLUDE:
        return 0.0, False
    return (0.0 if mode == _ZERO else pess_j), True


@numba.njit(cache=True)
def _values(q, counts, w, pess, members, s, op, mode, temp, out, allowed, work):
    """Composed value of each action in state ``s``; ``allowed[a]``: some dataset took it.

    ``work`` is (2, 4) scratch: running count of terms and largest term per action.
    """
    n, top = work[0], work[1]
    for a in range(4):
        allowed[a] = False
        n[a] = 0.0
        out[a] = 0.0
        top[a] = -np.inf
    for j in members:
        qj, cj = q[j], counts[j]
        for a in range(4):
            if cj[s, a] > 0:
                allowed[a] = True
            x, used = _entry(qj, cj, pess[j], s, a, mode)
            if not used:
                continue
            x *= w[j]
            if n[a] == 0:
                out[a] = x
            elif op == 0:
                out[a] += x
            elif op == 1:
                out[a] = max(out[a], x)
            elif op == 2:
                out[a] = min(out[a], x)
            top[a] = max(top[a], x)
            n[a] += 1
    if op == 3:  # log-sum-exp, shifted by the largest term for stability
        for a in range(4):
            out[a] = 0.0
        for j in members:
            qj, cj = q[j], counts[j]
            for a in range(4):
                x, used = _entry(qj, cj, pess[j], s, a, mode)
                if used:
                    out[a] += np.exp((x * w[j] - top[a]) / temp)
        for a in range(4):
            if n[a] > 0:
                out[a] = top[a] + temp * np.log(out[a])
    for a in range(4):
        if n[a] == 0:
            out[a] = -np.inf


@numba.njit(cache=True)
def _act(
    q, counts, w, pess, members, s, op, mode, restrict, fallback, n_samples, temp, u, vals,
    allowed, spare, work,
):  # fmt: skip
    """The composed action in state ``s`` (``u``: this state's uniforms for sampling).

    Leaves the state's composed values in ``vals`` and ``allowed``; ``spare`` is scratch.
    """
    _values(q, counts, w, pess, members, s, op, mode, temp, vals, allowed, work)
    any_allowed = allowed[0] or allowed[1] or allowed[2] or allowed[3]
    if n_samples > 0 and any_allowed:
        total = 0
        for a in range(4):
            for j in members:
                total += counts[j][s, a]
        best = -1
        for k in range(n_samples):  # inverse-CDF draw from the datasets' action counts
            target = u[k] * total
            a = 0
            run = 0.0
            for b in range(4):
                c = 0
                for j in members:
                    c += counts[j][s, b]
                run += c
                if target < run:
                    a = b
                    break
            if best < 0 or vals[a] > vals[best] or (vals[a] == vals[best] and a < best):
                best = a
        return best
    best = -1
    for a in range(4):
        ok = allowed[a] if restrict else vals[a] > -np.inf
        if ok and (best < 0 or vals[a] > vals[best]):
            best = a
    if best >= 0:
        return best
    if fallback == 1:
        return 0
    # `allowed` does not depend on the mode, so the raw pass may rewrite it unchanged
    _values(q, counts, w, pess, members, s, op, _RAW, temp, spare, allowed, work)
    best = 0
    for a in range(1, 4):
        if spare[a] > spare[best]:
            best = a
    return best


@numba.njit(cache=True)
def _fill(q, counts, w, pess, members, op, mode, restrict, fallback, n_samples, temp, uniforms,
          states, actions, values, allowed):  # fmt: skip
    """Compute action, values and allowed actions of each state in ``states``, in place."""
    spare = np.zeros(4)
    work = np.zeros((2, 4))
    for s in states:
        actions[s] = _act(
            q, counts, w, pess, members, s, op, mode, restrict, fallback, n_samples, temp,
            uniforms[s], values[s], allowed[s], spare, work,
        )  # fmt: skip


@numba.njit(cache=True)
def _rollouts(
    q, counts, w, pess, members, op, mode, restrict, fallback, n_samples, temp, uniforms,
    keys, nxt, comps, done, target, starts, horizon, penalty,
):  # fmt: skip
    """Roll the composed policy through the recorded transitions from each start.

    Returns per start: return under ``target``, steps, whether it ended (terminal or
    horizon) inside the data; a rollout that picks an unrecorded pair stops there and
    is charged ``penalty``.
    """
    n = starts.shape[0]
    returns = np.zeros(n)
    steps = np.zeros(n, dtype=np.int64)
    inside = np.zeros(n, dtype=np.bool_)
    vals = np.zeros(4)
    ok = np.zeros(4, dtype=np.bool_)
    spare = np.zeros(4)
    work = np.zeros((2, 4))
    for i in range(n):
        s = starts[i]
        total = 0.0
        finished = True
        for t in range(horizon):
            a = _act(
                q, counts, w, pess, members, s, op, mode, restrict, fallback, n_samples,
                temp, uniforms[s], vals, ok, spare, work,
            )  # fmt: skip
            key = s * 4 + a
            r = np.searchsorted(keys, key)
            if r >= keys.shape[0] or keys[r] != key:
                total -= penalty
                finished = False
                break
            total += (
                comps[r, 0] * target[0] + comps[r, 1] * target[1]
                + comps[r, 2] * target[2] + comps[r, 3] * target[3]
            )  # fmt: skip
            steps[i] = t + 1
            if done[r]:
                break
            s = nxt[r]
        returns[i] = total
        inside[i] = finished
    return returns, steps, inside


def sample_uniforms(n_states: int, config: ComposeConfig) -> np.ndarray:
    """Per-state uniforms for ``extraction="sample"`` (one column when greedy)."""
    if config.extraction != "sample":
        return np.zeros((n_states, 1))
    return np.random.default_rng(config.seed).random((n_states, config.n_samples))


def _args(comp: Components, members: np.ndarray, config: ComposeConfig) -> tuple[Any, ...]:
    op, mode, restrict, fallback, n, temp = config.codes()
    pess = comp.pessimistic() if config.support == "pessimistic" else np.zeros(len(comp.q))
    qs, cs = comp.typed()
    w = np.asarray(comp.weights, dtype=np.float64)
    return (qs, cs, w, pess, members, op, mode, restrict, fallback, n, temp)


class ComposedQ:
    """The composed Q-function of some components, tabulated lazily: a state's action and
    values are computed the first time it is asked for (building costs almost nothing)."""

    def __init__(self, comp: Components, config: ComposeConfig, members: np.ndarray) -> None:
        """Compose ``comp``'s policies ``members`` under ``config``."""
        n = comp.n_states
        self._args = _args(comp, np.asarray(members, dtype=np.int64), config)
        self._uniforms = sample_uniforms(n, config)
        self._done = np.zeros(n, dtype=bool)
        self.actions = np.zeros(n, dtype=np.int8)
        self.values = np.zeros((n, 4))
        self.allowed = np.zeros((n, 4), dtype=bool)

    @classmethod
    def from_arrays(cls, actions: np.ndarray, values: np.ndarray, allowed: np.ndarray) -> ComposedQ:
        """A fully tabulated composed Q-function (as saved)."""
        self = cls.__new__(cls)
        self._args, self._uniforms = None, None
        self._done = np.ones(len(actions), dtype=bool)
        self.actions, self.values, self.allowed = actions, values, allowed
        return self

    def ensure(self, states: np.ndarray) -> None:
        """Tabulate every state of ``states`` not tabulated yet."""
        todo = np.unique(states[~self._done[states]])
        if len(todo):
            _fill(*self._args, self._uniforms, todo, self.actions, self.values, self.allowed)
            self._done[todo] = True

    def all(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, values, allowed)`` of every state."""
        self.ensure(np.arange(len(self._done)))
        return self.actions, self.values, self.allowed


def compose_table(
    comp: Components, config: ComposeConfig, members: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(actions (S,), values (S, 4), allowed (S, 4))`` of the composed policy in every state."""
    chosen = np.arange(len(comp.q)) if members is None else np.asarray(members, dtype=np.int64)
    return ComposedQ(comp, config, chosen).all()


def compose_values(
    q: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray | None = None,
    config: ComposeConfig | None = None,
) -> tuple[np.ndarray, int]:
    """Composed values (shape ``(4,)``) and action for one state's ``(m, 4)`` Q and counts."""
    qs = [row[None, :] for row in np.asarray(q, dtype=np.float64)]
    cs = [row[None, :] for row in np.asarray(counts, dtype=np.int32)]
    w = np.ones(len(qs)) if weights is None else np.asarray(weights, dtype=np.float64)
    actions, values, _ = compose_table(Components(qs, cs, w), config or ComposeConfig())
    return values[0], int(actions[0])


def score_rollouts(
    comp: Components,
    members: np.ndarray,
    config: ComposeConfig,
    emp: Any,
    target: np.ndarray,
    starts: np.ndarray,
    horizon: int,
    penalty: float,
    uniforms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offline rollouts of the composed policy in the empirical model ``emp``; see ``_rollouts``."""
    return _rollouts(
        *_args(comp, np.asarray(members, dtype=np.int64), config), uniforms,
        emp.keys, emp.next_state, emp.components, emp.terminated,
        np.asarray(target, dtype=np.float64), np.asarray(starts, dtype=np.int64), horizon,
        float(penalty),
    )  # fmt: skip
