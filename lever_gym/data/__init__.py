"""Stage 4, data: behaviour episodes, their Minari storage, and the d3rlpy conversion."""
