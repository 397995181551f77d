"""Published SRHeart priors: load a ``GenVAE3D`` ``state_dict`` into :class:`~cardiosr.prior.networks.VAE3D`.

The published checkpoints (e.g. ``VAECE_zdim_32_epoch_100_beta_1.00E-03_alpha.pt``) are plain
``state_dict`` files: four stride-2 ``Conv3d`` layers (keys ``encoder.{0,3,6,9}``, batch norm at
``encoder.{1,4,7,10}``, ReLU after the last), ``fc11``/``fc12`` (mean/log-variance), ``fc2``, and four
``ConvTranspose3d`` (``decoder.{1,4,7,10}``, batch norm at ``decoder.{2,5,8}``). The same tensors also
appear as ``conv1..4``/``deconv1..4``. Channel order is background, LV, MYO, RV, as ours.

They are read with ``torch.load(..., weights_only=True)``, so a file that needs code to unpickle is
refused. Width, depth and latent size are read from the tensor shapes.
"""

from __future__ import annotations

import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SHAPE
from cardiosr.prior.metadata import make_metadata
from cardiosr.prior.networks import VAE3D, bottleneck_shape, channels_per_level

#: ``--prior`` prefix that selects this loader.
PREFIX = "srheart:"
#: The published crops put the centre of the heart's bounding box at the grid centre (voxels, D/H/W):
#: measured on ``srheart-demo/demo_HR``, whose bounding-box centre is (32, 64, 64.5) while its centre of
#: mass is (39.9, 64.3, 67.7).
SRHEART_HEART_CENTRE_VOXEL = (31.5, 63.5, 63.5)
SRHEART_CENTRING = "bbox"
_REQUIRED = ("fc11.weight", "fc12.weight", "fc2.weight", "encoder.0.weight")


def is_srheart_state_dict(state: Any) -> bool:
    """Whether ``state`` looks like a published ``GenVAE3D`` state_dict."""
    return isinstance(state, dict) and all(k in state for k in _REQUIRED)


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename published keys to :class:`VAE3D` keys (dropping the ``conv*``/``deconv*`` aliases)."""
    renamed: dict[str, torch.Tensor] = {}
    fc = {"fc11": "fc_mu", "fc12": "fc_logvar", "fc2": "fc_decode"}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in fc:
            renamed[f"{fc[head]}.{rest}"] = value
        elif head == "encoder":
            renamed[key] = value
        elif head == "decoder":
            index, _, leaf = rest.partition(".")
            # Their decoder starts with a parameter-free reshape, ours does not: indices shift by one.
            renamed[f"decoder.{int(index) - 1}.{leaf}"] = value
    return renamed


def _beta_from_name(name: str) -> float | None:
    match = re.search(r"beta_([0-9.]+E[-+]?[0-9]+)", name, re.IGNORECASE)
    return float(match.group(1)) if match else None


def load_srheart(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[VAE3D, dict[str, Any]]:
    """Load a published ``GenVAE3D`` checkpoint as a :class:`VAE3D` in ``eval()`` mode, with metadata.

    Raises :class:`~cardiosr.errors.InputError` if the file is missing, needs code to unpickle, is not a
    GenVAE3D state_dict, or was trained on a grid other than the canonical 64×128×128.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such prior file", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError("refusing to load: the file needs code to unpickle (not a plain state_dict)", path) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"not a readable PyTorch checkpoint ({' '.join(str(exc).split())[:120]})", path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not is_srheart_state_dict(state):
        raise InputError("not a published SRHeart GenVAE3D state_dict (no encoder/fc11/fc12/fc2 tensors)", path)
    width = int(state["encoder.0.weight"].shape[0])
    levels = sum(1 for k in state if re.fullmatch(r"encoder\.\d+\.weight", k) and state[k].dim() == 5)
    latent_dim, flat = (int(n) for n in state["fc11.weight"].shape)
    channels = channels_per_level(width, levels, None)
    expected = channels[-1] * math.prod(bottleneck_shape(CANONICAL_SHAPE, levels))
    if flat != expected:
        raise InputError(
            f"published prior has a {flat}-feature bottleneck; the canonical grid {CANONICAL_SHAPE} needs {expected}",
            path,
        )
    model = VAE3D(latent_dim, width, levels, max_channels=None, encoder_final_activation="relu")
    try:
        model.load_state_dict(convert_state_dict(state), strict=True)
    except RuntimeError as exc:
        raise InputError(f"state_dict does not fit GenVAE3D ({str(exc).splitlines()[0]})", path) from None
    meta = make_metadata(
        model,
        "vae",
        beta=_beta_from_name(path.name),
        source={"format": "srheart-genvae3d", "path": str(path)},
        training={"data": "published SRHeart checkpoint (real high-resolution segmentations)"},
    )
    # The published crops are centred on the heart's bounding box, not on its centre of mass: encoding
    # and decoding demo_HR gives Dice LV/MYO/RV 0.964/0.884/0.943 centred so, 0.950/0.837/0.928 centred
    # on the mass (with the mass at slice 40, where the bounding-box centring puts it for that heart).
    meta["grid"]["heart_centre_voxel"] = list(SRHEART_HEART_CENTRE_VOXEL)
    meta["grid"]["centring"] = SRHEART_CENTRING
    return model.to(device).eval(), meta
