"""Helpers shared by tests."""

from __future__ import annotations

import numpy as np

from cardiosr.degradation import long_axis_view  # noqa: F401 - the tests' simulated views
from cardiosr.volume import LabelVolume


def reoriented_copy(vol: LabelVolume) -> LabelVolume:
    """The same heart with its in-plane axes swapped and one reversed (affine updated: same world)."""
    array = np.flip(np.transpose(vol.array, (0, 2, 1)), 2).copy()
    new_to_old = np.array([[1, 0, 0, 0], [0, 0, -1, vol.shape[1] - 1], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    return LabelVolume(array, vol.affine @ new_to_old, vol.convention)
