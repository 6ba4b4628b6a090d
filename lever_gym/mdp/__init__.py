"""Stage 2, exact MDP tools: value iteration, greedy rollouts, the empirical model."""
