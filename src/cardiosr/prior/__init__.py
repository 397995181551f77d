"""Learned shape priors G: z ↦ S on the canonical grid (paper §2.2–2.3): models, checkpoints, training."""

from cardiosr.prior.checkpoint import default_prior_path, load_prior, read_metadata, save_prior
from cardiosr.prior.metadata import canonical_options
from cardiosr.prior.networks import DCGAN3D, VAE3D, GenerativePrior, build_model

__all__ = [
    "DCGAN3D",
    "VAE3D",
    "GenerativePrior",
    "build_model",
    "canonical_options",
    "default_prior_path",
    "load_prior",
    "read_metadata",
    "save_prior",
]
