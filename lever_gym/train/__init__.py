"""Stage 3, training: tabular Q-learning and SARSA (numba) and the tabular policy; online DQN
over randomised worlds, networks as schemas and named arrays, the offline ψ and behaviour heads."""
