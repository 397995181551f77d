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

import torch
from safetensors.torch import load_file

from cardiosr.errors import InputError
from cardiosr.io import read_safetensors_metadata, save_safetensors
from cardiosr.prior import srheart
from cardiosr.prior.metadata import METADATA_KEY, check_metadata
from cardiosr.prior.networks import GenerativePrior, build_model

#: File name of a prior inside a training folder.
PRIOR_FILE = "prior.safetensors"


def default_prior_path() -> Path:
    """Path of the default prior shipped inside the package (see ``docs/prior.md``)."""
    return Path(str(resources.files("cardiosr.prior") / "default" / PRIOR_FILE))


def save_prior(model: GenerativePrior, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``metadata`` to ``path`` (``.safetensors``) atomically."""
    return save_safetensors(model, path, METADATA_KEY, metadata)


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
