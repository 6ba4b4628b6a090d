"""Stage 6, reuse: decomposition, retrieval, offline scoring, composition, the composed policy;
neural members composed on any layout (``neural``, ``neural_pipeline``)."""
