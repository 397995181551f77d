"""The degradation model of the paper's Eq. 1, ``S_LR = M_d(↓s S_HR) + ε``.

This module so far holds the down-sampling ↓s for whole-slab factors on NumPy label maps; the
differentiable layers (``Downsample``, ``SliceShift``) and the error term ε follow in the degradation
issue.
"""

from __future__ import annotations

import numpy as np

from cardiosr.errors import InputError
from cardiosr.volume import LabelVolume


def downsample_slices(volume: LabelVolume, factor: int = 5) -> LabelVolume:
    """↓s along the slice axis: keep the centre slice of every slab of ``factor`` slices.

    A clinical stack of 10 mm slices is made from a 2 mm volume with ``factor=5``: LR slice ``i`` is HR
    slice ``factor*i + factor//2`` (the centre of its slab), and the LR affine places it exactly there
    in world coordinates, with a slice spacing of ``factor`` HR spacings.

    Parameters
    ----------
    volume:
        High-resolution label map, internal ``(D, H, W)`` order.
    factor:
        Integer down-sampling factor along ``D`` (an odd factor puts LR slices on HR slice centres).

    Returns
    -------
    LabelVolume
        ``(D // factor, H, W)`` labels with their own affine.

    Examples
    --------
    >>> import numpy as np
    >>> hr = LabelVolume(np.zeros((64, 8, 8), np.uint8), np.diag([2.0, 1.25, 1.25, 1.0]))
    >>> lr = downsample_slices(hr, 5)
    >>> lr.shape, lr.spacing.tolist(), lr.affine[0, 3]
    ((12, 8, 8), [10.0, 1.25, 1.25], 4.0)
    """
    factor = int(factor)
    n_lr = volume.shape[0] // factor
    if factor < 1 or n_lr < 1:
        raise InputError(f"cannot down-sample {volume.shape[0]} slices by a factor of {factor}", volume.path)
    first = factor // 2
    index = first + factor * np.arange(n_lr)
    affine = volume.affine.copy()
    affine[:3, 3] = volume.affine[:3, 3] + volume.affine[:3, 0] * first
    affine[:3, 0] = volume.affine[:3, 0] * factor
    return volume.with_array(volume.array[index].copy(), affine)
