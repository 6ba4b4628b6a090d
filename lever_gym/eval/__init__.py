"""Stage 7, evaluation: seeded evaluation of any policy, and the baselines."""
