"""The compute device: ``auto``, ``cpu`` or ``cuda``, resolved once with a one-line error when unusable."""

from __future__ import annotations

import torch

from cardiosr.errors import InputError

#: The device choices of every verb (``auto``: CUDA when present, else CPU).
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` on a machine without a GPU is an :class:`InputError`.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r} (use auto, cpu or cuda)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but this machine has no usable CUDA GPU")
    return resolved
