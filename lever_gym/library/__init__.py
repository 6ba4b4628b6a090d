"""Stage 5, the library: records and config, files, embeddings, the index, store, build; the
neural library (``format.neural``, ``build.neural``, ``neural_store``)."""
