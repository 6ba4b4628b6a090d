"""The library's file format and integrity: the build config and policy records, the
manifest's schema, paths kept inside the root, checked reads and atomic writes, and checks
of what every file holds (arrays, index files, Annoy forests)."""
