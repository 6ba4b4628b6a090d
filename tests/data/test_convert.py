"""d3rlpy beside lever_gym: its gym notice silenced where lever_gym imports it, and d3rlpy's
own ``get_minari`` on a default library dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from lever_gym.data.convert import to_d3rlpy, without_notice

ROOT = Path(__file__).resolve().parents[2]
NOTICE = "Gym has been unmaintained"
DATASET = "lever/8x8-s0/PathGold-q_learning-g0-b10000-r0-e10000-v0"


def run(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with this checkout on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


def test_lever_gym_imports_d3rlpy_without_gyms_notice():
    plain = run("import d3rlpy")
    assert plain.returncode == 0 and NOTICE in plain.stderr  # what d3rlpy alone prints
    quiet = run(
        "from lever_gym.data.convert import import_d3rlpy\n"
        "import sys\nd3rlpy = import_d3rlpy()\n"
        "print('gym' in sys.modules, d3rlpy.__version__)\n"
        "import d3rlpy.datasets\n"  # later imports of d3rlpy and gym stay quiet too
    )
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout.split() == ["True", "2.8.1"]
    assert NOTICE not in quiet.stderr and quiet.stderr.strip() == ""


def test_only_the_notice_is_removed():
    notice = "Gym has been unmaintained since 2022.\nPlease upgrade."
    text = f"a warning\n{notice}\nanother line\n"
    assert without_notice(text, notice) == "a warning\nanother line\n"
    assert without_notice(text, None) == text
    assert without_notice("nothing\n", notice) == "nothing\n"


def test_d3rlpy_get_minari_loads_a_default_library_dataset(monkeypatch):
    """d3rlpy's own loader reads a library dataset with the policy's recorded rewards; its
    observations are each episode's T + 1 concatenated against T actions, so from the second
    episode on they no longer pair with their actions. ``to_d3rlpy`` aligns and relabels."""
    import minari

    from lever_gym.data.convert import import_d3rlpy

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(ROOT / "datasets"))
    import_d3rlpy()
    from d3rlpy.datasets import get_minari

    mdp, env = get_minari(DATASET)
    assert env.unwrapped.objective.name == "PathGold" and env.spec.max_episode_steps == 64
    episodes = list(minari.load_dataset(DATASET).iterate_episodes())
    assert len(mdp.episodes) == len(episodes) and len(episodes) > 1
    own = np.concatenate([ep.rewards for ep in episodes])
    np.testing.assert_array_equal(np.concatenate([e.rewards[:, 0] for e in mdp.episodes]), own)
    first, second = mdp.episodes[0], mdp.episodes[1]
    np.testing.assert_array_equal(first.observations, episodes[0].observations[:-1])
    assert not np.array_equal(second.observations, episodes[1].observations[:-1])
    ours = to_d3rlpy(DATASET, "Gold")  # relabelled: gold only, aligned
    np.testing.assert_array_equal(ours.episodes[1].observations, episodes[1].observations[:-1])
    gold = episodes[0].infos["reward_components"][1:, 1].astype(np.float32)
    np.testing.assert_array_equal(ours.episodes[0].rewards[:, 0], gold)
