"""Draw docs/figures/method.png: a layout, the support of the chosen datasets, and the
composed policy's path. Run: python docs/figures/make_method_figure.py"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import lever_gym
from lever_gym.envs.render import render_rgb
from lever_gym.reuse.composed import LeverComposedPolicy

OUT = Path(__file__).resolve().parent / "method.png"


def main() -> None:
    lib = lever_gym.Library.load()
    policy = LeverComposedPolicy.from_library(
        lib, "LeverGrid-16x16-PathGoldHazardLever-v0", layout=(16, 1)
    )
    model = policy.model
    n = model.layout.size
    keys = policy.covered_keys
    cells = model.space.cell_of(keys >> 2)
    covered = np.bincount(cells, minlength=n * n).reshape(n, n)
    s = model.start_state
    path = [model.space.cell_of(s)]
    for _ in range(n * n):
        a = (
            policy.composed.actions[s]
            if policy.composed._done[s]
            else policy(model.space.observe(s))
        )
        if model.terminated[s, a]:
            path.append(model.space.cell_of(model.next_state[s, a]))
            break
        s = int(model.next_state[s, a])
        path.append(model.space.cell_of(s))
    rows, cols = np.divmod(np.array(path, dtype=int), n)
    fig, axes = plt.subplots(1, 3, figsize=(13, 5.0))
    axes[0].imshow(render_rgb(model, model.start_state))
    axes[0].set_title("LeverGrid 16x16, layout 1 (start: black disc)")
    im = axes[1].imshow(covered, cmap="viridis")
    axes[1].set_title("support: recorded state-actions per cell\n(union of the chosen datasets)")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[2].imshow(render_rgb(model, model.start_state))
    axes[2].plot(cols * 16 + 8, rows * 16 + 8, color="black", lw=2)
    chosen = ", ".join(p.split("/")[1].split("-")[0] for p in policy.info["chosen"]["policies"])
    axes[2].set_title(f"composed policy's path\n(sum of {chosen}, on their support)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
