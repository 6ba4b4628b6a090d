"""Stage 5, the library: records and config, files, embeddings, the index, store, build."""
