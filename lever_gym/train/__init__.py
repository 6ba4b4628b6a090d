"""Stage 3, training: tabular Q-learning and SARSA (numba) and the tabular policy."""
