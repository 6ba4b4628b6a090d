"""Neural members composed on held-out layouts (issue: beyond the table).

Run: python benchmarks/bench_neural.py [--library DIR] [--rebuild] [--layouts N]
(writes benchmarks/results/neural.md and docs/results/neural.txt, which `lever-gym report`
puts on the results page; builds the library into DIR, default
``datasets-neural/``, the shipped default neural library, unless one of the same config
is there).

Protocol, fixed before any figure was seen:
- Library: one DQN member per building block of the paper's six setups (7 members), each
  trained on randomised 8x8 layouts of seeds 0..19,999 in the ``view`` mode (7x7 window),
  with its Minari dataset (ε-greedy episodes over the same range) and ψ/behaviour heads.
- Units: held-out 8x8 layouts of seeds 1,000,000 + i (outside every member's range) × the
  library seed (one seed: 0). Each method acts on every state of the layout; its score is
  the exact return within the env's time limit from the start, normalised so that the
  uniform random policy is 0 and the finite-horizon optimum (the true ceiling, exact value
  iteration on the layout's model, used for scoring only) is 1.
- Methods per setup (members: the setup's parts): lever GPI over ψ·w with the behaviour
  (BCQ τ) and nearest-neighbour supports, the paper's Q-sum, the best single member chosen
  from data, d3rlpy DiscreteCQL, DiscreteBCQ and DiscreteBC on the union of the members'
  datasets relabelled to the objective (the tabular page's settings: ``eval.baselines``),
  and a scratch DQN trained on the objective itself with the env steps of two
  members (the budget of the two-part setups; the three- and four-part setups spent more).
- Signed tasks (``experiments.neural.neural_tasks``): the first two of each family in the
  results page's declared distribution, composed from the four primitive members, scored
  against the stationary reference, every method but the scratch DQN.
- Times: the composition (retrieval, reading the networks, building the support) against
  the d3rlpy fits, side by side in this run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from lever_gym.eval.baselines import offline_rl
from lever_gym.experiments.neural import (
    COMPOSED,
    HELD_OUT,
    SIGNED_PER_FAMILY,
    composed_scores,
    held_out,
    neural_tasks,
    score,
)  # fmt: skip
from lever_gym.experiments.stats import holm, intervals, paired_test
from lever_gym.library.build.executor import run_jobs
from lever_gym.library.build.neural import build_neural_library
from lever_gym.library.format.neural import DEFAULT_NEURAL_CONFIG as CONFIG
from lever_gym.library.locate import checkout_neural_library
from lever_gym.library.neural_store import NeuralLibrary
from lever_gym.objective import Objective
from lever_gym.reuse.decompose import SETUPS, setup_target
from lever_gym.train.dqn import DQNConfig, train_dqn

from _common import RESULTS, machine

WORLDS = CONFIG.worlds
OFFLINE_STEPS = 10_000


def library(path: Path, rebuild: bool) -> tuple[NeuralLibrary, float | None]:
    """The benchmark's library at ``path`` (built unless one of ``CONFIG`` is there)."""
    manifest = path / "manifest.json"
    same = manifest.is_file() and json.loads(manifest.read_text())["config"] == CONFIG.to_dict()
    if same and not rebuild:
        return NeuralLibrary.load(path), None
    start = time.perf_counter()
    build_neural_library(path, CONFIG, workers=2, progress=True)
    return NeuralLibrary.load(path), time.perf_counter() - start


OFFLINE = {"cql": "d3rlpy CQL", "bcq": "d3rlpy BCQ", "bc": "d3rlpy BC"}
TASKS = neural_tasks(WORLDS.size)
SCRATCH = "scratch DQN (2 members' steps)"


def offline_job(job: tuple[str, str, int, str, int]) -> tuple[str, list[float], float]:
    """A d3rlpy learner (``algo``) on the union of one task's member datasets, relabelled:
    its scores on the held-out layouts and its fit time."""
    root, name, n, algo, steps = job
    lib = NeuralLibrary.load(root)
    task = TASKS[name]
    datasets = [lib.dataset(m.id) for m in lib.members if m.objective in task.parts]
    fitted = offline_rl(datasets, task.objective, algo, n_steps=steps, threads=1)
    return (
        name,
        [score(fitted.policy.predict, lay, WORLDS, task.objective, task.ceiling)
         for lay in held_out(WORLDS, n)],
        fitted.seconds,
    )  # fmt: skip


def scratch_job(job: tuple[str, int]) -> tuple[str, list[float], float]:
    """A DQN trained on the objective itself with the env steps of two members: its scores
    on the held-out layouts and its training time."""
    name, n = job
    config = DQNConfig(**{**CONFIG.dqn.__dict__, "env_steps": 2 * CONFIG.dqn.env_steps, "seed": 7})
    trained = train_dqn(name, config)
    target = Objective.parse(name)
    return (
        name,
        [score(trained.policy.predict, lay, WORLDS, target) for lay in held_out(WORLDS, n)],
        trained.seconds,
    )


def baseline_job(job: tuple[str, Any]) -> tuple[str, list[float], float]:
    """One baseline fit (``("offline", ...)`` or ``("dqn", ...)``), for ``run_jobs``."""
    kind, args = job
    return offline_job(args) if kind == "offline" else scratch_job(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, default=checkout_neural_library())
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--layouts", type=int, default=20)
    parser.add_argument("--offline-steps", type=int, default=OFFLINE_STEPS)
    args = parser.parse_args()
    lib, build_seconds = library(args.library.resolve(), args.rebuild)
    n = args.layouts
    layouts = held_out(WORLDS, n)
    started = time.perf_counter()
    targets = sorted({setup_target(s).name for s in SETUPS})
    jobs = [("offline", (str(lib.root), t, n, a, args.offline_steps))
            for a in OFFLINE for t in TASKS]  # fmt: skip
    jobs += [("dqn", (t, n)) for t in targets]
    done = run_jobs(baseline_job, jobs, workers=2)
    offline: dict[str, dict[str, tuple[list[float], float]]] = {a: {} for a in OFFLINE}
    scratch = {}
    for (kind, job), (key, sc, t) in zip(jobs, done, strict=True):
        if kind == "offline":
            offline[job[3]][key] = (sc, t)
        else:
            scratch[key] = (sc, t)
    baseline_seconds = time.perf_counter() - started

    scores, compose_seconds = composed_scores(lib, layouts, tasks=TASKS)
    for name in TASKS:
        for algo, method in OFFLINE.items():
            scores[name, method] = offline[algo][name][0]
    for setup in SETUPS:
        scores[setup, SCRATCH] = scratch[setup_target(setup).name][0]
    write(lib, build_seconds, scores, compose_seconds, offline, scratch, baseline_seconds,
          args.offline_steps)  # fmt: skip


def signed_section(scores: dict) -> list[str]:
    """The signed tasks by family: mean, share of cells below 0.5 and the worst cell."""
    signed = [t for t in TASKS.values() if t.family != "setup"]
    families = list(dict.fromkeys(t.family for t in signed))
    names = [*COMPOSED, "best single", *OFFLINE.values()]
    lines = [
        "",
        f"Signed tasks ({', '.join(t.name for t in signed)}: the first "
        f"{SIGNED_PER_FAMILY} of each family in the results page's declared distribution, "
        "members Path, Gold, Hazard and Lever), normalised by the stationary reference; "
        "per family: mean, share of (unit, task) cells below 0.5, worst cell. No scratch "
        "DQN here (one costs about 600 s per task).",
        "",
        "| method | " + " | ".join(families) + " |",
        "|---" * (len(families) + 1) + "|",
    ]
    for name in names:
        cells = []
        for fam in families:
            got = np.concatenate([scores[t.name, name] for t in signed if t.family == fam])
            cells.append(f"{got.mean():.3f}; {np.mean(got < 0.5):.0%}; {got.min():.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write(
    lib: NeuralLibrary,
    build_seconds: float | None,
    scores: dict,
    compose_seconds: list[float],
    offline: dict[str, dict[str, tuple[list[float], float]]],
    scratch: dict,
    baseline_seconds: float,
    steps: int,
) -> None:
    """benchmarks/results/neural.md from the measured scores and times."""
    setups = list(SETUPS)
    names = [*COMPOSED, "best single", *OFFLINE.values(), SCRATCH]
    lines = ["# Neural members composed on held-out 8x8 layouts", ""]
    lines += [f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}.", ""]
    record = lib.index
    built = f"{build_seconds:.0f} s in this run" if build_seconds else "reused"
    lines += [
        f"- Library: {len(lib.members)} DQN members ({', '.join(m.objective for m in lib.members)})"
        f", 8x8 layouts 0..19,999, view 7x7, {CONFIG.dqn.env_steps:,} env steps each; build "
        f"{record['build_seconds']:.0f} s on 2 workers ({built}); "
        f"{sum(f.stat().st_size for f in lib.root.rglob('*') if f.is_file()) / 2**20:.1f} MiB.",
        f"- Units: {len(next(iter(scores.values())))} held-out layouts (seeds {HELD_OUT:,}+) × "
        "library seed 0; scores normalised random 0, finite-horizon optimum 1.",
        "",
        "| method | " + " | ".join(setups) + " | mean [95% CI] | IQM [95% CI] |",
        "|---" * (len(setups) + 3) + "|",
    ]
    for name in names:
        matrix = np.array([scores[s, name] for s in setups]).T
        mean, iqm = intervals(matrix, seed=0)
        cells = [f"{matrix[:, j].mean():.3f}" for j in range(len(setups))]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} | {iqm} |")
    lines += ["", "Paired over units (all setups pooled), Holm-corrected Wilcoxon:", ""]
    lead = "lever gpi (behaviour)"
    others = [n for n in names if n != lead]
    pooled = {n: np.concatenate([scores[s, n] for s in setups]) for n in names}
    tests = holm([paired_test(pooled[lead], pooled[n]) for n in others])
    lines += ["| lever gpi (behaviour) vs | mean diff | wins | losses | p (Holm) |",
              "|---|---|---|---|---|"]  # fmt: skip
    for n, t in zip(others, tests, strict=True):
        lines.append(f"| {n} | {t.mean_difference:+.3f} | {t.wins} | {t.losses} | "
                     f"{t.p_holm:.2g} |")  # fmt: skip
    fails = {n: float(np.mean(pooled[n] < 0.5)) for n in names}
    lines += ["", "Share of (unit, setup) cells below 0.5 and the worst cell:", ""]
    lines += [f"- {n}: {fails[n]:.1%}, worst {pooled[n].min():.3f}" for n in names]
    lines += signed_section(scores)
    med = float(np.median(compose_seconds))
    fits = {a: float(np.median([t for _, t in offline[a].values()])) for a in OFFLINE}
    lines += [
        "",
        f"- Time to a composed policy: median {med * 1000:.1f} ms over {len(compose_seconds)} "
        f"compositions; d3rlpy fits ({steps:,} steps, 1 thread), median: "
        + ", ".join(f"{OFFLINE[a]} {t:.1f} s ({t / med:,.0f}x)" for a, t in fits.items())
        + ".",
        f"- Scratch DQN ({2 * CONFIG.dqn.env_steps:,} env steps): "
        + ", ".join(f"{o} {t:.0f} s" for o, (_, t) in sorted(scratch.items()))
        + f"; baselines took {baseline_seconds:.0f} s on 2 workers.",
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / "neural.md").write_text(text)
    (RESULTS.parents[1] / "docs" / "results" / "neural.txt").write_text(text)  # for the page
    print(text)


if __name__ == "__main__":
    main()
