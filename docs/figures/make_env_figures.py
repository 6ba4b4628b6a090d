"""Draw the environment pictures of the docs into docs/figures/: the generated layouts of
seed 0 (8x8, 16x16, 32x32), the 16x16 detour layout, and three randomised worlds, each at
its start state with the colour legend. Same bytes on every run.
Run: python docs/figures/make_env_figures.py"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

import lever_gym  # noqa: F401  (registers the ids)
from lever_gym.envs.layout import DETOUR_LAYOUT_SEED
from lever_gym.envs.render import legend_figure

OUT = Path(__file__).resolve().parent
PICTURES = {
    "env_8x8.png": ("LeverGrid-8x8-Path-v0", 16),
    "env_16x16.png": ("LeverGrid-16x16-Path-v0", 14),
    "env_32x32.png": ("LeverGrid-32x32-Path-v0", 12),
    "env_16x16_detour.png": ("LeverGrid-16x16-Detour-Path-v0", 14),
}
"""File name: (id, tile size). The start state of the id's layout."""
RANDOM_ID, RANDOM_SEEDS, RANDOM_TILE = "LeverGrid-Random-8x8-Path-v0", (0, 1, 2), 16
"""Three worlds of the random 8x8 id, from these reset seeds."""


def start_frame(env: gym.Env, seed: int) -> tuple[np.ndarray, dict]:
    """The first frame and info of an episode reset with ``seed``."""
    _, info = env.reset(seed=seed)
    return env.render(), info


def save(frames: list[np.ndarray], titles: list[str], name: str) -> None:
    """Write ``frames`` with the legend to ``OUT / name``, without a timestamp or version."""
    fig = legend_figure(frames, titles)
    fig.savefig(OUT / name, metadata={"Software": None})
    print(f"wrote {OUT / name}")


def main() -> None:
    for name, (eid, tile) in PICTURES.items():
        env = gym.make(eid, render_mode="rgb_array", tile_size=tile)
        frame, _ = start_frame(env, seed=0)
        spec = env.spec.kwargs
        size = spec["size"]
        title = f"{size}x{size}, layout_seed {spec['layout_seed']}"
        if spec["layout_seed"] == DETOUR_LAYOUT_SEED:
            title += " (detour)"
        save([frame], [title], name)
    env = gym.make(RANDOM_ID, render_mode="rgb_array", tile_size=RANDOM_TILE)
    frames, titles = [], []
    for seed in RANDOM_SEEDS:
        frame, info = start_frame(env, seed)
        frames.append(frame)
        titles.append(f"seed {seed}: layout {info['layout_seed']}")
    save(frames, titles, "env_random_8x8.png")


if __name__ == "__main__":
    main()
