"""Stage 1, the environment: layouts, the exact tabular model, the env, observation modes,
rendering, ids."""
