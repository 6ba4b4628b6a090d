"""Minari to d3rlpy: library datasets as a d3rlpy ``MDPDataset``, rewards relabelled.

d3rlpy's own ``get_minari`` pairs each episode's T+1 observations with its T actions and
so misaligns them; this conversion drops the final observation of every episode instead.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from lever_gym.data.storage import open_dataset, read_episodes
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError
from lever_gym.objective import Objective, weighted

D3RLPY_FIELDS = (
    "observations",
    "actions",
    "infos/reward_components",
    "terminations",
    "truncations",
)


def to_d3rlpy(datasets: Iterable[Any] | Any, objective: Any) -> Any:
    """A d3rlpy ``MDPDataset`` of one or many library datasets, rewards relabelled.

    ``datasets``: ``MinariDataset`` objects (a library's come checked: ``Library.dataset``) or
    dataset ids under ``MINARI_DATASETS_PATH``, opened with ``open_dataset`` (their metadata
    checked before Minari reads it). Rewards are the ``reward_components`` weighted by
    ``objective`` (anything ``Objective.parse`` reads). Observation ``t`` pairs with action
    ``t`` (the final observation of each episode is dropped); ``terminated`` maps to
    d3rlpy's terminals and ``truncated and not terminated`` to its timeouts.
    """
    import minari
    from minari.storage import get_dataset_path

    d3rlpy = import_d3rlpy()
    from d3rlpy.dataset import MDPDataset

    w = Objective.parse(objective).weights
    items = [datasets] if isinstance(datasets, str | minari.MinariDataset) else list(datasets)
    if not items:
        raise ConfigError("to_d3rlpy needs at least one dataset; got none.")
    obs, act, comps, term, trunc = [], [], [], [], []
    dims = set()
    for item in items:
        ds = open_dataset(get_dataset_path(item) / "data") if isinstance(item, str) else item
        for ep in read_episodes(ds, D3RLPY_FIELDS):
            o = ep["observations"]
            obs.append(o[:-1])
            act.append(ep["actions"])
            comps.append(ep["infos/reward_components"][1:])
            term.append(ep["terminations"])
            trunc.append(ep["truncations"])
            dims.add(o.shape[1])
    if len(dims) > 1:
        raise ConfigError(
            f"datasets mix observation sizes {sorted(dims)}: combine datasets of one grid size."
        )
    terminated = np.concatenate(term)
    return MDPDataset(
        observations=np.concatenate(obs).astype(np.float32, copy=False),
        actions=np.concatenate(act).astype(np.int64, copy=False),
        rewards=weighted(np.concatenate(comps), w).astype(np.float32),
        terminals=terminated.astype(np.float32),
        timeouts=(np.concatenate(trunc) & ~terminated).astype(np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=N_ACTIONS,
    )


def import_d3rlpy() -> Any:
    """d3rlpy, imported without the notice its ``gym`` dependency prints (``quiet_gym``), or
    an error naming the extra that installs it."""
    try:
        quiet_gym()
        import d3rlpy
    except ImportError as e:
        raise ConfigError(
            "the offline-RL baselines need d3rlpy and torch: pip install -c constraints.txt "
            "-e '.[baselines]' from a clone of lever_gym (constraints.txt keeps torch on its "
            "CPU build; without it pip pulls several GB of CUDA packages)."
        ) from e
    return d3rlpy


def quiet_gym() -> None:
    """Import the ``gym`` package that d3rlpy imports, without the notice gym prints to stderr
    on import, "Gym has been unmaintained since 2022 ..." (the ``gym_notices`` text for its
    version). Anything else written to stderr meanwhile is
    passed on; a missing ``gym`` is left for d3rlpy's own import to report."""
    if "gym" in sys.modules:
        return
    caught = io.StringIO()
    try:
        with contextlib.redirect_stderr(caught):
            importlib.import_module("gym")
    except ImportError:
        pass
    finally:
        sys.stderr.write(without_notice(caught.getvalue(), _gym_notice()))


def _gym_notice() -> str | None:
    """The notice ``gym`` prints for its version (``gym_notices``), if both are imported."""
    notices = getattr(sys.modules.get("gym_notices.notices"), "notices", None)
    version = getattr(sys.modules.get("gym"), "__version__", None)
    return notices.get(version) if isinstance(notices, dict) else None


def without_notice(text: str, notice: str | None) -> str:
    """``text`` with the line(s) ``print(notice)`` wrote removed once (``notice`` ``None``:
    ``text`` unchanged)."""
    return text.replace(f"{notice}\n", "", 1) if notice else text
