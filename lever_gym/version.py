"""The package version (one place; the root package and every writer read it here)."""

__version__ = "0.1.0"
