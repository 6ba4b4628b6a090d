"""Stage 6, reuse: decomposition, retrieval, offline scoring, composition, the composed policy."""
