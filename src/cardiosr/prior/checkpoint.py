"""Prior checkpoints: weights in ``safetensors`` plus JSON metadata; loading never runs code.

A cardiosr prior is one ``.safetensors`` file. Its header carries the metadata as JSON under the key
``"cardiosr_prior"`` (architecture and its arguments, latent size, β, grid shape and spacing, label
order, training data, metrics); training also writes the same JSON beside it as ``prior.json`` for
people to read. safetensors holds only tensors and strings, so a model file cannot execute code.

:func:`load_prior` accepts, as ``spec``:

- ``None`` or ``"default"``: the prior shipped inside the package;
- a ``.safetensors`` file, or a folder holding ``prior.safetensors`` (the output of ``train-prior``);
- ``srheart:PATH``: a published SRHeart ``GenVAE3D`` ``state_dict`` (see :mod:`cardiosr.prior.srheart`);
  a ``.pt``/``.pth`` file in that format is also recognised without the prefix.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SHAPE, CANONICAL_SPACING
from cardiosr.io import read_safetensors_metadata, save_safetensors
from cardiosr.labels import STRUCTURES
from cardiosr.prior.networks import ARCHITECTURES, GenerativePrior, build_model

#: Header key of the metadata JSON inside a ``.safetensors`` prior.
METADATA_KEY = "cardiosr_prior"
#: Version of the metadata layout.
FORMAT_VERSION = 1
#: Label order every prior must use (channel i = internal label i).
LABEL_ORDER = ["background", *(name for _, name in STRUCTURES)]
#: File name of a prior inside a training folder.
PRIOR_FILE = "prior.safetensors"


def default_prior_path() -> Path:
    """Path of the default prior shipped inside the package (see ``docs/prior.md``)."""
    return Path(str(resources.files("cardiosr.prior") / "default" / PRIOR_FILE))


def make_metadata(model: GenerativePrior, architecture: str, **extra: Any) -> dict[str, Any]:
    """Metadata describing ``model``: architecture, its arguments, grid, labels; ``extra`` adds keys (beta, ...).

    ``grid.heart_centre_voxel`` is where the training crops put the heart's centre (the grid centre for
    cardiosr priors) and ``grid.centring`` which centre (``'mass'``; published SRHeart crops: ``'bbox'``);
    :func:`canonical_options` turns them into the arguments of :func:`cardiosr.geometry.to_canonical`.
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


def canonical_options(meta: dict[str, Any]) -> dict[str, Any]:
    """``centre_voxel`` and ``centring`` of a prior's grid, for :func:`cardiosr.geometry.to_canonical`.

    Examples
    --------
    >>> canonical_options({"grid": {"heart_centre_voxel": [31.5, 63.5, 63.5], "centring": "bbox"}})
    {'centre_voxel': [31.5, 63.5, 63.5], 'centring': 'bbox'}
    """
    grid = meta.get("grid", {})
    return {"centre_voxel": grid.get("heart_centre_voxel"), "centring": grid.get("centring", "mass")}


def save_prior(model: GenerativePrior, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``metadata`` to ``path`` (``.safetensors``) atomically."""
    return save_safetensors(model, path, METADATA_KEY, metadata)


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


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata stored in a ``.safetensors`` prior (header only; weights are not read)."""
    return read_safetensors_metadata(path, METADATA_KEY, "prior")


def _load_safetensors(path: Path, device: str | torch.device) -> tuple[GenerativePrior, dict[str, Any]]:
    meta = read_metadata(path)
    check_metadata(meta, str(path))
    try:
        model = build_model(meta["architecture"], meta["model"])
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"prior metadata does not describe a model ({exc})", path) from None
    state = load_file(str(path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise InputError(f"weights do not match the architecture in the metadata: {first}", path) from None
    return model.to(device).eval(), meta


def load_prior(
    spec: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> tuple[GenerativePrior, dict[str, Any]]:
    """Load a prior in ``eval()`` mode with its metadata (see the module docstring for ``spec``).

    The metadata is also attached to the model as ``model.metadata``, so that a loaded prior passed on
    (for example to :func:`cardiosr.enhance`) keeps its grid centring.

    Raises :class:`~cardiosr.errors.InputError` (one line) for a missing or unreadable file, a grid or
    label order that differs from the canonical one, or weights that do not fit the architecture.

    Examples
    --------
    >>> prior, meta = load_prior()  # the shipped default
    >>> prior.latent_dim == meta["latent_dim"], meta["labels"]
    (True, ['background', 'LV', 'MYO', 'RV'])
    """
    model, meta = _load_any(spec, device)
    model.metadata = meta
    return model, meta


def _load_any(spec: str | os.PathLike | None, device: str | torch.device) -> tuple[GenerativePrior, dict[str, Any]]:
    from cardiosr.prior import srheart

    if spec is None or str(spec) == "default":
        path = default_prior_path()
        if not path.is_file():
            raise InputError("the default prior is missing from this installation (reinstall cardiosr)", path)
        return _load_safetensors(path, device)
    text = str(spec)
    if text.startswith(srheart.PREFIX):
        return srheart.load_srheart(text[len(srheart.PREFIX) :], device=device)
    path = Path(text)
    if path.is_dir():
        path = path / PRIOR_FILE
    if not path.exists():
        raise InputError("no such prior file", path)
    if path.suffix in (".pt", ".pth"):
        return srheart.load_srheart(path, device=device)
    return _load_safetensors(path, device)
