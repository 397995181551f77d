"""The package version (one definition; ``cardiosr.__version__`` re-exports it)."""

__version__ = "0.1.0"
