"""A library's README: what it holds, written from its manifest."""

from __future__ import annotations

from lever_gym.library.store import Library


def library_readme(library: Library) -> str:
    """Markdown summary of the library (the content of its README.md)."""
    cfg = library.config
    lines = [
        "# lever_gym policy library",
        "",
        f"{len(library)} policies, each with its Minari dataset "
        f"({sum(r.n_transitions for r in library)} transitions in all). "
        f"Schema {library.manifest['schema_version']}, "
        f"lever_gym {library.manifest['lever_gym_version']}.",
        "",
        f"- sizes: {list(cfg.sizes)}; layout seeds: {list(cfg.layout_seeds)}",
        f"- building blocks: {', '.join(cfg.objectives)}",
        f"- gammas: {list(cfg.gammas)}; budgets (episodes): {list(cfg.budgets)}; "
        f"replicas: {cfg.replicas}; snapshots per run: {cfg.snapshots}",
        f"- trainer: {cfg.algorithm}, alpha {cfg.alpha}, keyed by {cfg.key}, "
        f"random starts: {cfg.random_start}; master seed {cfg.seed}",
        f"- datasets: {cfg.data.episodes} episodes per policy, epsilon {cfg.data.epsilon}, "
        f"random starts: {cfg.data.random_start}",
        "",
        "Use it with `MINARI_DATASETS_PATH=<this folder>` and `minari.load_dataset(id)`, or",
        "`lever_gym.Library.load(<this folder>)`. Regenerate it bit for bit (every file the",
        "manifest lists) with `lever-gym build-library` and the options above.",
        "",
        "| dataset id | greedy return | episodes | transitions |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{r.dataset_id}` | {r.greedy_return:.2f} | {r.n_episodes} | {r.n_transitions} |"
        for r in library
    ]
    return "\n".join(lines) + "\n"
