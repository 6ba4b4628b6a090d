"""Checks of a ``LeverGridVectorEnv``'s inputs: its actions, and the memory it will take,
before it allocates anything.

Per env, the vector env holds its state arrays, its batched spaces' bounds, one numpy
generator once seeded, and the arrays of a reset and a step result; measured with
``tracemalloc`` at 20,000 envs (holding a reset and two step results): 1,672 bytes per env
on 8x8 (observation dimension 21), 2,118 on 16x16 (41) and 2,845 on 32x32 (73), which
``BYTES_PER_ENV + BYTES_PER_OBS_DIM * obs_dim + BYTES_PER_COMPONENT * n_components`` bounds.
A randomised world also keeps the tables of every layout in use, at most
``min(num_envs + KEPT_MODELS, hi - lo)`` of them: those in use and those ``model_for`` keeps
(``KEPT_BYTES_PER_STATE`` a state: about 20 MiB on 16x16, 330 MiB on 64x64).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

import lever_gym.checks as checks
from lever_gym.checks import shown
from lever_gym.envs.grid import LeverGridEnv
from lever_gym.envs.model import KEPT_MODELS, N_ACTIONS
from lever_gym.envs.vector_kernels import first_invalid
from lever_gym.errors import ActionError, ConfigError, SeedError

BYTES_PER_ENV = 1100
BYTES_PER_OBS_DIM = 24
BYTES_PER_COMPONENT = 16
KEPT_BYTES_PER_STATE = 165
"""Bytes a layout's tabular model keeps per state (its tables and success flags)."""
MAX_VECTOR_BYTES = 4 * 2**30
"""Default limit on a vector env's estimated memory; ``$LEVER_GYM_MAX_VECTOR_BYTES``
overrides it."""
MAX_VECTOR_BYTES_VAR = "LEVER_GYM_MAX_VECTOR_BYTES"


def vector_bytes(
    num_envs: int, obs_dim: int, n_components: int, worlds: int = 0, states: int = 0
) -> int:
    """Estimated bytes of ``num_envs`` envs with observations of ``obs_dim`` and
    ``n_components`` reward components, plus ``worlds`` layouts of ``states`` states kept."""
    per_env = BYTES_PER_ENV + BYTES_PER_OBS_DIM * obs_dim + BYTES_PER_COMPONENT * n_components
    return num_envs * per_env + worlds * states * KEPT_BYTES_PER_STATE


def max_vector_bytes() -> int:
    """The limit: ``$LEVER_GYM_MAX_VECTOR_BYTES`` or ``MAX_VECTOR_BYTES``."""
    text = os.environ.get(MAX_VECTOR_BYTES_VAR)
    if text is None:
        return MAX_VECTOR_BYTES
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(
            f"{MAX_VECTOR_BYTES_VAR} must be a positive number of bytes; got {text!r}. Unset "
            f"it for the default ({MAX_VECTOR_BYTES:,} bytes)."
        )
    return int(text)


def check_vector_size(
    num_envs: int, obs_dim: int, n_components: int, worlds: int = 0, states: int = 0
) -> None:
    """Raise ``ConfigError`` before anything is allocated if the vector env would take more
    than ``max_vector_bytes()`` (see ``vector_bytes``)."""
    need, limit = vector_bytes(num_envs, obs_dim, n_components, worlds, states), max_vector_bytes()
    if need > limit:
        kept = f" and {_count(worlds)} layouts' tables kept" if worlds else ""
        fewer = (
            "fewer envs, a narrower layout_seeds range or a smaller size"
            if worlds
            else "fewer envs"
        )
        raise ConfigError(
            f"num_envs={_count(num_envs)}{kept} would take about {_count(need >> 30)} GiB, above "
            f"the limit of {limit / 2**30:.1f} GiB. Use {fewer}, or raise the limit with "
            f"{MAX_VECTOR_BYTES_VAR}=<bytes>."
        )


def _count(n: int) -> str:
    """``n`` with thousands separators, or as the power of two below it past 10**15 (an
    integer of any size)."""
    return f"{n:,}" if n < 10**15 else f"2^{n.bit_length() - 1} (or more)"


def check_actions(actions: np.ndarray | Sequence[int], n: int) -> np.ndarray:
    """``actions`` for ``n`` envs as int64 of shape ``(n,)``; ``ActionError`` (a
    ``ConfigError``) unless all are integers in 0..3 (no booleans, no time values)."""
    if isinstance(actions, list | tuple) and len(actions) == n:
        flags = [i for i, x in enumerate(actions) if isinstance(x, bool | np.bool_)]
        if flags:
            raise ActionError(
                f"actions must be integers in 0..{N_ACTIONS - 1}, one per env; got the "
                f"boolean {actions[flags[0]]!r} for env {flags[0]} (booleans are no actions)."
            )
    try:
        a = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
    except (TypeError, ValueError) as e:  # ragged lists, undecodable bytes
        raise ActionError(
            f"actions must be an integer array of shape ({n},); got {shown(actions)} ({e})."
        ) from e
    if a.shape != (n,) or a.dtype.kind not in "iu":
        raise ActionError(
            f"actions must be an integer array of shape ({n},), one action in "
            f"0..{N_ACTIONS - 1} per env (as action_space.sample() gives); got "
            f"shape {a.shape}, dtype {a.dtype}."
        )
    cast = a if a.dtype == np.int64 else a.astype(np.int64)
    bad = first_invalid(cast, N_ACTIONS)
    if bad >= 0:
        raise ActionError(
            f"actions must be integers in 0..{N_ACTIONS - 1}; got {a[bad].item()!r} for env {bad}."
        )
    return cast


def checked_size(template: LeverGridEnv, num_envs: int, max_episode_steps: object) -> int:
    """The time limit (default ``size**2``), checked, once the env's memory is within bounds."""
    size = template.layout.size
    if max_episode_steps is None:
        max_episode_steps = size * size
    if not checks.is_int(max_episode_steps) or not 1 <= max_episode_steps < 2**63:
        raise ConfigError(
            f"max_episode_steps must be a positive integer below 2**63 (the TimeLimit); "
            f"got {checks.shown(max_episode_steps)}."
        )
    lo, hi = getattr(template, "layout_seeds", None) or (0, 0)
    check_vector_size(
        num_envs,
        template.observer.obs_dim,
        len(template.weights),
        worlds=min(num_envs + KEPT_MODELS, hi - lo),  # in use, and the models kept
        states=template.model.n_states,
    )
    return int(max_episode_steps)


def check_seeds(seed: object, n: int) -> list[int | None]:
    """Per-env seeds of ``n`` envs: ``None`` for all, ``int`` -> ``seed + i``, or a list of
    ``n`` (``None`` allowed); ``SeedError`` otherwise."""
    if seed is None:
        return [None] * n
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        first = checks.reset_seed(seed, "seed")
        return [first + i for i in range(n)]
    if isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) == n:
        return [
            None if s is None else checks.reset_seed(s, f"seed[{i}]") for i, s in enumerate(seed)
        ]
    raise SeedError(
        f"seed must be None, an integer (env i gets seed + i) or a list of {n} seeds "
        f"(one per env, None allowed); got {seed!r}."
    )
