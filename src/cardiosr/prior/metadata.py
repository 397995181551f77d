"""Prior metadata: what a checkpoint says about its model, grid and labels (no weights).

Kept apart from :mod:`cardiosr.prior.checkpoint` so that both loaders (our ``.safetensors`` and the published
SRHeart ``state_dict``) can describe their model without importing each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SHAPE, CANONICAL_SPACING
from cardiosr.labels import STRUCTURES
from cardiosr.prior.networks import ARCHITECTURES, GenerativePrior

#: Header key of the metadata JSON inside a ``.safetensors`` prior.
METADATA_KEY = "cardiosr_prior"
#: Version of the metadata layout.
FORMAT_VERSION = 1
#: Label order every prior must use (channel i = internal label i).
LABEL_ORDER = ["background", *(name for _, name in STRUCTURES)]


def make_metadata(model: GenerativePrior, architecture: str, **extra: Any) -> dict[str, Any]:
    """Metadata describing ``model``: architecture, its arguments, grid, labels; ``extra`` adds keys (beta, ...).

    ``grid.heart_centre_voxel`` is where the training crops put the heart's centre (the grid centre for
    cardiosr priors) and ``grid.centring`` which centre (``'mass'``; published SRHeart crops: ``'bbox'``);
    :func:`canonical_placement` turns them into the arguments of :func:`cardiosr.geometry.to_canonical`.
    """
    meta: dict[str, Any] = {
        "format": "cardiosr-prior",
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "model": model.config(),
        "latent_dim": model.latent_dim,
        "grid": {
            "shape": list(model.grid_shape),
            "spacing_mm": list(CANONICAL_SPACING),
            "heart_centre_voxel": [(n - 1) / 2 for n in model.grid_shape],
            "centring": "mass",
        },
        "labels": LABEL_ORDER,
    }
    meta.update(extra)
    return meta


def canonical_placement(meta: dict[str, Any]) -> dict[str, Any]:
    """``centre_voxel`` and ``centring`` of a prior's grid, for :func:`cardiosr.geometry.to_canonical`.

    Examples
    --------
    >>> canonical_placement({"grid": {"heart_centre_voxel": [31.5, 63.5, 63.5], "centring": "bbox"}})
    {'centre_voxel': [31.5, 63.5, 63.5], 'centring': 'bbox'}
    """
    grid = meta.get("grid", {})
    return {"centre_voxel": grid.get("heart_centre_voxel"), "centring": grid.get("centring", "mass")}


def check_metadata(meta: dict[str, Any], source: str) -> None:
    """Raise :class:`InputError` unless ``meta`` describes a prior on the canonical grid with our label order."""
    if meta.get("architecture") not in ARCHITECTURES:
        raise InputError(f"unknown prior architecture {meta.get('architecture')!r}", source)
    grid = meta.get("grid", {})
    shape, spacing = grid.get("shape"), grid.get("spacing_mm")
    if shape is None or list(shape) != list(CANONICAL_SHAPE):
        raise InputError(f"prior grid {shape} does not match the canonical grid {list(CANONICAL_SHAPE)} voxels", source)
    if spacing is None or not np.allclose(spacing, CANONICAL_SPACING, atol=1e-3):
        raise InputError(
            f"prior spacing {spacing} mm does not match the canonical spacing {list(CANONICAL_SPACING)} mm", source
        )
    if meta.get("labels") != LABEL_ORDER:
        raise InputError(f"prior label order {meta.get('labels')} is not {LABEL_ORDER}", source)
