"""The saved form of a composed policy: ``policy.json`` (layout, explanation) and
``policy.npz`` (the composed arrays, the time-aware plan), with the checks that reading it
runs before anything is built from it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.layout import Layout
from lever_gym.envs.model import N_ACTIONS, TabularModel, model_for
from lever_gym.errors import LeverGymError, LibraryError
from lever_gym.library.format.contents import array_limit, read_npz
from lever_gym.objective import Objective
from lever_gym.reuse.composition import ComposedQ
from lever_gym.reuse.explain import Explanation
from lever_gym.version import __version__

FORMAT_VERSION = 4
"""Of a saved composed policy; format 3 (no time-aware plan) is read too."""
ARRAYS = ("actions", "values", "allowed", "support_keys")
TIMED_ARRAYS = ("timed_states", "timed_actions")
"""The time-aware plan's arrays (empty for a stationary policy; not in format 3)."""

Plan = tuple[np.ndarray, np.ndarray]
"""A time-aware plan: sorted states and ``(horizon, len(states))`` actions per steps left."""


def pack(
    model: TabularModel,
    composed: ComposedQ,
    covered: np.ndarray,
    explanation: Explanation,
    timed: Plan | None,
) -> tuple[dict[str, Any], bytes]:
    """``policy.json``'s content and ``policy.npz``'s bytes."""
    buffer = io.BytesIO()
    actions, values, allowed = composed.all()
    np.savez_compressed(
        buffer, actions=actions, values=values, allowed=allowed, support_keys=covered,
        timed_states=np.zeros(0, np.int64) if timed is None else timed[0],
        timed_actions=np.zeros((0, 0), np.int8) if timed is None else timed[1],
    )  # fmt: skip
    meta = {
        "format_version": FORMAT_VERSION,
        "lever_gym_version": __version__,
        "layout": model.layout.to_ascii(),
        "shaping": model.shaping,
        "info": explanation.to_dict(),
    }
    return meta, buffer.getvalue()


def unpack(
    meta: Any, raw: bytes, where: str
) -> tuple[TabularModel, Objective, ComposedQ, Explanation, np.ndarray, Plan | None]:
    """What ``pack`` wrote, checked (``where`` names it in errors): the model, objective,
    composed values, explanation, covered keys and time-aware plan; ``LibraryError`` on any
    file that does not fit its layout."""
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in (3, FORMAT_VERSION):
        raise LibraryError(
            f"{where} holds composed-policy format {version!r}; this lever_gym reads "
            f"formats 3 and {FORMAT_VERSION}. Save the policy again with it."
        )
    try:
        model = model_for(
            Layout.from_ascii(meta["layout"]), checks.boolean(meta["shaping"], "shaping")
        )
        explanation = Explanation.from_dict(meta["info"])
        objective = Objective(explanation.weights)
    except (LeverGymError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise LibraryError(f"{where}/policy.json is not a saved composed policy ({e!r}).") from e
    names = ARRAYS + (TIMED_ARRAYS if version == FORMAT_VERSION else ())
    horizon, n = model.layout.n_cells, model.n_states
    read = read_npz(raw, f"{where}/policy.npz", names, array_limit(n * max(horizon, 8)))
    actions, values, allowed, covered = (read[k] for k in ARRAYS)
    ok = (
        actions.shape == (n,) and actions.dtype.kind in "iu"
        and (n == 0 or 0 <= actions.min() <= actions.max() < N_ACTIONS)
        and values.shape == (n, N_ACTIONS) and values.dtype.kind == "f"
        and allowed.shape == (n, N_ACTIONS) and allowed.dtype == bool
        and covered.ndim == 1 and covered.dtype.kind in "iu"
    )  # fmt: skip
    if not ok:
        raise LibraryError(f"{where}/policy.npz does not match its layout; save it again.")
    timed = _timed_plan(read, horizon, n, where) if version == FORMAT_VERSION else None
    if (timed is None) != (explanation.time_aware is None):
        raise LibraryError(
            f"{where}/policy.npz and policy.json disagree on whether the policy is time-aware; "
            "save it again."
        )
    composed = ComposedQ.from_arrays(np.array(actions), np.array(values), np.array(allowed))
    return model, objective, composed, explanation, covered, timed


def _timed_plan(
    read: dict[str, np.ndarray], horizon: int, n_states: int, where: str
) -> Plan | None:
    """The saved time-aware plan (``None`` for a stationary policy)."""
    states, actions = read["timed_states"], read["timed_actions"]
    if states.size == 0 and actions.size == 0:
        return None
    ok = (
        states.ndim == 1 and states.dtype.kind in "iu" and actions.dtype.kind in "iu"
        and actions.shape == (horizon, len(states))
        and states.min() >= 0 and states.max() < n_states and bool(np.all(np.diff(states) > 0))
        and actions.min() >= 0 and actions.max() < N_ACTIONS
    )  # fmt: skip
    if not ok:
        raise LibraryError(f"{where}/policy.npz does not match its layout; save it again.")
    return np.array(states, np.int64), np.array(actions, np.int8)
