"""The metadata of a Minari dataset, as ``minari.create_dataset_from_buffers`` writes it.

Minari 0.5 builds it with a private helper; lever_gym writes the same keys in the same
order from the same arguments with Minari's public names only (``minari.__version__``,
Gymnasium's ``EnvSpec.to_json``), so ``minari.load_dataset`` reads the result as its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import minari
from gymnasium.envs.registration import EnvSpec


def dataset_metadata(
    dataset_id: str,
    eval_env: str | gym.Env | EnvSpec,
    *,
    algorithm_name: str | None,
    author: str | set[str] | None,
    author_email: str | set[str] | None,
    code_permalink: str | None,
    description: str | None,
    requirements: Sequence[str] | None,
    ref_scores: tuple[float, float] | None,
) -> dict[str, Any]:
    """The metadata keys ``minari.create_dataset_from_buffers`` (minari 0.5) adds after the
    spaces and the env spec, in its order, for these arguments; a key whose value is
    ``None`` is left out, as Minari leaves it out, and sets are stored sorted."""
    eval_spec: EnvSpec | None
    if isinstance(eval_env, str):
        eval_spec = gym.spec(eval_env)
    else:
        eval_spec = eval_env.spec if isinstance(eval_env, gym.Env) else eval_env
    given: list[tuple[str, Any]] = [
        ("dataset_id", dataset_id),
        ("code_permalink", code_permalink),
        ("author", author),
        ("author_email", author_email),
        ("algorithm_name", algorithm_name),
        ("description", description),
        ("minari_version", minari.__version__),
        ("eval_env_spec", None if eval_spec is None else eval_spec.to_json()),
    ]
    if ref_scores is not None:
        given += [("ref_max_score", ref_scores[1]), ("ref_min_score", ref_scores[0]),
                  ("num_episodes_average_score", 100)]  # fmt: skip
    given.append(("requirements", None if requirements is None else list(requirements)))
    out: dict[str, Any] = {}
    for key, value in given:
        if value is None:
            continue
        if key in ("author", "author_email"):  # Minari stores a set: here a sorted list
            value = sorted({value} if isinstance(value, str) else value)
        out[key] = value
    return out
