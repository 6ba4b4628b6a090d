"""A forward-backward representation of recorded data (Touati & Ollivier, 2021), tabular.

The "direct" family of zero-shot RL: learn once from reward-free transitions, then give a
policy for any reward by one embedding. Here the transitions are one empirical model (a
layout's pooled datasets); rewards live on recorded pairs (LeverGrid's reward components are
on transitions), so the measure is over recorded rows:
``M^π(i, j) = Σ_t γ^t Pr(row_t = j | row_0 = i)`` under policy π.

* **Fit (no rewards).** ``B`` (n, d) is the best rank-``d`` backward embedding of the data's
  own successor measure, that of the behaviour policy μ (each recorded state's action
  frequencies), in the FB loss's metric: ``F B^T ≈ M^μ / ρ`` in ``ρ ⊗ ρ``-weighted squares,
  ρ the data's row frequencies. Its minimiser is the truncated SVD of
  ``D^{1/2} M^μ D^{-1/2}`` (``D = diag ρ``); ``B^T D B = I``. ``fit_error`` is the relative
  weighted error left at rank ``d`` (0 at full rank).
* **Zero-shot.** For a reward ``r`` (per row) the task embedding is ``z = B^T D r``. For any
  policy π the loss's exact ``F`` on the span of ``B`` is ``F_π = M^π B``, so
  ``F_π z = Q^π(r̃)`` with ``r̃ = B z``, the reward projected on ``B``. The FB policy
  ``π_z = argmax F_{π_z} z`` is then the fixed point of policy iteration on ``r̃`` over the
  recorded actions (the tabular ideal of FB's forward network, support-constrained as in
  conservative FB); ``FALLBACK_ACTION`` in unrecorded states. At full rank it is batch-
  constrained discounted planning on the true rewards.

The solves use scipy's sparse LU (the ``bench`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError
from lever_gym.mdp.batch import DEFAULT_GAMMA, SupportTables, solve_discounted
from lever_gym.mdp.empirical import EmpiricalModel
from lever_gym.objective import Objective, weighted

DENSE_ROWS = 1_500
"""Up to this many recorded rows the measure is factored densely (exact at any rank); above
it, by ARPACK (``scipy.sparse.linalg.svds``) at ranks below the row count."""
BLOCK = 512
"""Columns of the measure solved at once when its norm is summed."""


def _scipy() -> tuple[Any, Any]:
    """``scipy.sparse`` and ``scipy.sparse.linalg``, or an error naming the extra."""
    try:
        import scipy.sparse as sparse
        import scipy.sparse.linalg as linalg
    except ImportError as e:  # pragma: no cover - the dev install has scipy
        raise ConfigError(
            "the forward-backward comparator needs scipy; install it with "
            "`pip install 'lever-gym[bench]'`."
        ) from e
    return sparse, linalg


def next_rows(tables: SupportTables, probabilities: np.ndarray) -> Any:
    """(n_rows, n_rows) sparse ``P_π(i, j)``: the chance that row ``j`` follows row ``i`` when
    the next state acts with ``probabilities`` (``(n_states_recorded, A)``, rows sum to 1 over
    recorded actions). A row whose next state the data does not continue has none."""
    sparse, _ = _scipy()
    emp = tables.empirical
    n_rows = len(emp.keys)
    here = np.searchsorted(tables.states, emp.state_of_rows())
    after = tables.onward[here, emp.actions_of_rows()]  # index of the next state, or n
    rows, cols, vals = [], [], []
    for a in range(tables.row.shape[1]):
        go = after < tables.n
        nxt = np.where(go, after, 0)
        j = tables.row[nxt, a]
        keep = go & (j >= 0) & (probabilities[nxt, a] > 0)
        rows.append(np.flatnonzero(keep))
        cols.append(j[keep])
        vals.append(probabilities[nxt, a][keep])
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    return sparse.csc_matrix((v, (r, c)), shape=(n_rows, n_rows))


def behaviour(tables: SupportTables) -> np.ndarray:
    """(n_states_recorded, A) the data's behaviour policy: each state's recorded action
    frequencies."""
    counts = np.zeros(tables.row.shape)
    rec = tables.row >= 0
    counts[rec] = tables.empirical.counts[tables.row[rec]]
    return counts / counts.sum(axis=1, keepdims=True)


def measure(tables: SupportTables, probabilities: np.ndarray, gamma: float) -> np.ndarray:
    """(n_rows, n_rows) dense ``M^π = (I - γ P_π)^{-1}`` (small models only: tests)."""
    p = next_rows(tables, probabilities).toarray()
    return np.linalg.inv(np.eye(len(p)) - checks.gamma(gamma) * p)


@dataclass(frozen=True, eq=False)
class ForwardBackward:
    """A fitted backward embedding of one empirical model and the zero-shot policy it gives."""

    tables: SupportTables
    density: np.ndarray
    """(n_rows,) ρ, the data's row frequencies."""
    backward: np.ndarray
    """(n_rows, rank) ``B``, with ``B^T D B = I``."""
    singular: np.ndarray
    """(rank,) the singular values the fit keeps."""
    gamma: float
    fit_error: float
    """``‖A - A_d‖_F / ‖A‖_F`` for ``A = D^{1/2} M^μ D^{-1/2}`` (0 at full rank)."""

    @classmethod
    def fit(
        cls,
        empirical: EmpiricalModel,
        rank: int,
        gamma: float = DEFAULT_GAMMA,
        seed: int = 0,
    ) -> ForwardBackward:
        """Fit ``B`` at ``rank`` (at most the row count) on ``empirical``'s transitions alone
        (no reward is read); ``seed`` starts ARPACK's iteration."""
        _, linalg = _scipy()
        tables = SupportTables.of(empirical)
        n = len(empirical.keys)
        if n == 0:
            raise ConfigError("the forward-backward fit needs recorded transitions; got none.")
        rank = min(checks.positive_int(rank, "rank"), n)
        gamma = checks.gamma(gamma)
        density = empirical.counts / empirical.counts.sum()
        root = np.sqrt(density)
        system = (_identity(n) - gamma * next_rows(tables, behaviour(tables))).tocsc()
        lu = linalg.splu(system)
        total = _squared_norm(lu, root, n)
        if n <= DENSE_ROWS or rank >= n - 1:
            a = root[:, None] * lu.solve(np.diag(1.0 / root))
            _, s, vt = np.linalg.svd(a)
            s, v = s[:rank], vt[:rank].T
        else:
            op = linalg.LinearOperator(
                (n, n), dtype=np.float64,
                matvec=lambda x: root * lu.solve(np.ravel(x) / root),
                rmatvec=lambda y: lu.solve(root * np.ravel(y), trans="T") / root,
            )  # fmt: skip
            start = np.random.default_rng(seed).standard_normal(n)
            _, s, vt = linalg.svds(op, k=rank, v0=start)
            order = np.argsort(s)[::-1]
            s, v = s[order], vt[order].T
        peak = v[np.argmax(np.abs(v), axis=0), np.arange(rank)]
        v = v * np.where(peak < 0, -1.0, 1.0)  # each vector's sign fixed: same fit, same bytes
        left = max(total - float(np.sum(s**2)), 0.0)
        return cls(tables, density, v / root[:, None], s, gamma, float(np.sqrt(left / total)))

    @property
    def rank(self) -> int:
        """The embedding's dimension."""
        return self.backward.shape[1]

    def rewards(self, objective: Objective) -> np.ndarray:
        """(n_rows,) reward of each recorded row under ``objective``."""
        return weighted(self.tables.empirical.components, Objective.parse(objective).weights)

    def embed(self, objective: Objective) -> np.ndarray:
        """(rank,) the task embedding ``z = B^T D r``."""
        return self.backward.T @ (self.density * self.rewards(objective))

    def projected(self, objective: Objective) -> np.ndarray:
        """(n_rows,) ``r̃ = B z``, the reward the representation sees."""
        return self.backward @ self.embed(objective)

    def projection_error(self, objective: Objective) -> float:
        """``‖r - r̃‖_ρ / ‖r‖_ρ`` (0 where the reward is 0 on the data)."""
        r = self.rewards(objective)
        norm = float(np.sqrt(np.sum(self.density * r**2)))
        gap = float(np.sqrt(np.sum(self.density * (r - self.projected(objective)) ** 2)))
        return gap / norm if norm > 0 else 0.0

    def forward(self, probabilities: np.ndarray) -> np.ndarray:
        """(n_rows, rank) ``F_π = M^π B``, the FB loss's exact forward embedding of policy π
        (``probabilities`` as ``next_rows``) on the span of ``B``."""
        _, linalg = _scipy()
        p = next_rows(self.tables, probabilities)
        lu = linalg.splu((_identity(p.shape[0]) - self.gamma * p).tocsc())
        return np.asarray(lu.solve(self.backward))

    def actions(self, objective: Objective) -> np.ndarray:
        """(n_states_recorded,) ``π_z`` for ``objective``: discounted policy iteration on the
        projected reward over the recorded actions (``tables.states`` order)."""
        table = np.full(self.tables.row.shape, -np.inf)
        rec = self.tables.row >= 0
        table[rec] = self.projected(objective)[self.tables.row[rec]]
        return solve_discounted(table, self.tables.onward, self.gamma)


def _identity(n: int) -> Any:
    sparse, _ = _scipy()
    return sparse.identity(n, format="csc")


def _squared_norm(lu: Any, root: np.ndarray, n: int) -> float:
    """``‖D^{1/2} M D^{-1/2}‖_F^2`` from ``lu`` (of ``I - γ P``), ``BLOCK`` columns at a time."""
    total = 0.0
    for lo in range(0, n, BLOCK):
        cols = np.arange(lo, min(lo + BLOCK, n))
        rhs = np.zeros((n, len(cols)))
        rhs[cols, np.arange(len(cols))] = 1.0 / root[cols]
        total += float(np.sum((root[:, None] * lu.solve(rhs)) ** 2))
    return total
