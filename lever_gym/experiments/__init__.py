"""Stage 8, experiments: the benchmark suite and its report; the neural protocol (``neural``)."""
