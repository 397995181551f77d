"""Learned shape priors G: z ↦ S on the canonical grid (paper §2.2–2.3): models, checkpoints, training.

Names are imported on first use, so that the torch-free ``config`` and ``metadata`` can be read alone.
"""

from __future__ import annotations

from cardiosr.lazy import lazy_exports

_WHERE = {
    "DCGAN3D": "networks",
    "VAE3D": "networks",
    "GenerativePrior": "networks",
    "build_model": "networks",
    "canonical_placement": "metadata",
    "default_prior_path": "checkpoint",
    "load_prior": "checkpoint",
    "read_metadata": "checkpoint",
    "save_prior": "checkpoint",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
