"""cardiosr: joint motion correction and super-resolution of cardiac MR segmentations."""

__version__ = "0.1.0"
