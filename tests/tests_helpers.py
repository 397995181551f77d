"""Helpers shared by tests."""

from __future__ import annotations

import numpy as np

from cardiosr.geometry import resample_labels, unit_columns
from cardiosr.volume import LabelVolume


def reoriented_copy(vol: LabelVolume) -> LabelVolume:
    """The same heart with its in-plane axes swapped and one reversed (affine updated: same world)."""
    array = np.flip(np.transpose(vol.array, (0, 2, 1)), 2).copy()
    new_to_old = np.array([[1, 0, 0, 0], [0, 0, -1, vol.shape[1] - 1], [0, 1, 0, 0], [0, 0, 0, 1.0]])
    return LabelVolume(array, vol.affine @ new_to_old, vol.convention)


def long_axis_view(hr: LabelVolume, offset_mm: float = 0.0, pixel: float = 1.5, size: int = 140) -> LabelVolume:
    """A four-chamber-like view of ``hr``: the plane through the heart containing the slice axis and LV→RV."""
    axes = unit_columns(hr.affine)
    idx = np.argwhere(hr.array > 0).mean(0)
    centre = (hr.affine @ np.r_[idx, 1.0])[:3]
    lv = (hr.affine @ np.r_[np.argwhere(hr.array == 1).mean(0), 1.0])[:3]
    rv = (hr.affine @ np.r_[np.argwhere(hr.array == 3).mean(0), 1.0])[:3]
    e_d = axes[:, 0]
    v = (rv - lv) - ((rv - lv) @ e_d) * e_d
    v /= np.linalg.norm(v)
    normal = np.cross(e_d, v)
    affine = np.eye(4)
    affine[:3, 0] = normal * 2.0
    affine[:3, 1] = e_d * pixel
    affine[:3, 2] = v * pixel
    affine[:3, 3] = centre + offset_mm * normal - (size - 1) / 2 * pixel * (e_d + v)
    labels = resample_labels(hr.array, hr.affine, (1, size, size), affine)
    return LabelVolume(labels, affine)
