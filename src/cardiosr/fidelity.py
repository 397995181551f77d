"""Fidelity to the acquired slices: fuse the prior's result with the motion-corrected stack (beyond the paper).

A shape prior that cannot represent a heart exactly should not overrule the slices that were acquired.
After the optimisation has estimated the shifts ``d``, the stack is moved back by ``-d`` (motion-corrected)
and both are turned into signed distance maps (mm, negative inside) per structure on the canonical grid:
the corrected stack by shape-based interpolation (:func:`cardiosr.interpolation.interpolated_signed_distances`)
and the prior's result by Euclidean distance transforms (:func:`scipy.ndimage.distance_transform_edt`). They
are blended with a weight ``w`` that depends on where a voxel lies along the stack:

* ``w = 0`` on an acquired slice's centre plane: the result there is the data;
* ``w`` rises linearly to ``weight`` midway between two slices (and on an unsegmented slice): the prior
  shapes what was not acquired, by as much as ``weight`` says;
* ``w = 1`` outside the stack's slab or field of view: only the prior extrapolates.

Each voxel then takes the structure of lowest blended distance (background where all are positive).
``weight = 0`` is shape-based interpolation of the motion-corrected stack inside the slab.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cardiosr.geometry import CANONICAL_SPACING, CanonicalFrame
from cardiosr.interpolation import interpolated_signed_distances, labels_from_signed_distances
from cardiosr.labels import N_CLASSES, STRUCTURES
from cardiosr.optimise import shift_slices
from cardiosr.threads import thread_map
from cardiosr.volume import LabelVolume


def signed_distance_volume(labels: np.ndarray, spacing=CANONICAL_SPACING) -> np.ndarray:
    """``(3, D, H, W)`` signed distance (mm, negative inside) to each structure of a 3D label map.

    An absent structure gets a large positive distance (the grid's diagonal).

    Examples
    --------
    >>> a = np.zeros((1, 5, 5), np.uint8); a[0, 1:4, 1:4] = 1
    >>> signed_distance_volume(a, (1.0, 1.0, 1.0))[0, 0, 2].tolist()
    [0.5, -0.5, -1.5, -0.5, 0.5]
    """
    spacing = tuple(float(s) for s in spacing)
    far = float(np.linalg.norm(np.asarray(labels.shape) * np.asarray(spacing)))
    out = np.empty((len(STRUCTURES), *labels.shape), np.float32)
    masks = [labels == value for value, _ in STRUCTURES]
    # the two distance transforms of every structure, on the cores at once (scipy releases the GIL)
    jobs = [(i, inside) for i, mask in enumerate(masks) if mask.any() for inside in (True, False)]
    distances = thread_map(lambda job: ndimage.distance_transform_edt(masks[job[0]] == job[1], sampling=spacing), jobs)
    half = 0.5 * float(np.mean(spacing[1:]))  # the boundary lies half a voxel between inside and outside
    out[:] = far
    for k in range(0, len(jobs), 2):
        i = jobs[k][0]
        out[i] = np.where(masks[i], half - distances[k], distances[k + 1] - half)
    return out


def fusion_weight(
    sa: LabelVolume, frame: CanonicalFrame, weight: float, missing: list[int] | tuple[int, ...] = ()
) -> np.ndarray:
    """``(D, H, W)`` weight of the prior on the canonical grid (see the module docstring)."""
    from cardiosr.geometry import voxel_coordinates

    coords = voxel_coordinates(sa.affine, frame.affine, frame.shape)  # stack indices of canonical voxels
    t = coords[..., 0]
    n = sa.shape[0]
    frac = np.abs(t - np.rint(t))  # 0 on a slice's centre plane, 0.5 midway
    w = weight * 2.0 * frac
    nearest = np.clip(np.rint(t).astype(int), 0, n - 1)
    if len(missing):
        w = np.where(np.isin(nearest, list(missing)), weight, w)
    size = np.asarray(sa.shape[1:], float)
    inside = (t >= -0.5) & (t <= n - 0.5) & np.all((coords[..., 1:] >= -0.5) & (coords[..., 1:] <= size - 0.5), -1)
    return np.where(inside, w, 1.0).astype(np.float32)


def fuse_with_stack(
    probs: np.ndarray, frame: CanonicalFrame, sa: LabelVolume, shifts_mm: np.ndarray, *, weight: float
) -> np.ndarray:
    """Fuse the prior's result with the motion-corrected stack (module docstring): one-hot ``(4, D, H, W)``.

    Parameters
    ----------
    probs:
        ``(4, D, H, W)`` class probabilities on the canonical grid (the optimisation's result).
    frame:
        The canonical frame of ``sa``.
    sa:
        The short-axis stack as acquired (internal labels and order).
    shifts_mm:
        ``(D_sa, 2)`` estimated shifts in mm (content moved by ``+d``); ``NaN`` is read as 0.
    weight:
        Weight of the prior midway between slices, in [0, 1].
    """
    missing = sa.missing_slices()
    corrected = shift_slices(sa, -np.nan_to_num(np.asarray(shifts_mm, float)))
    data_sdf, _ = interpolated_signed_distances(corrected, frame.shape, frame.affine, missing=missing)
    prior_sdf = _prior_signed_distances(probs.argmax(0).astype(np.uint8), data_sdf)
    w = fusion_weight(sa, frame, weight, missing)[None]
    labels = labels_from_signed_distances((1.0 - w) * data_sdf + w * prior_sdf)
    return (np.arange(N_CLASSES).reshape(-1, 1, 1, 1) == labels[None]).astype(np.float32)


def _prior_signed_distances(labels: np.ndarray, data_sdf: np.ndarray) -> np.ndarray:
    """:func:`signed_distance_volume` of the prior's labels where the fusion can need it, for a third of the cost.

    The distance transforms run on the bounding box (one voxel of margin) of the prior's structures and of
    the voxels the data put inside a structure (``data_sdf <= 0``). Inside that box every distance is exact:
    all of a structure's voxels, and its boundary, lie in it. Outside it both maps are positive, so any
    positive prior distance gives the same fused label (background); the grid's diagonal is used.
    """
    region = (labels > 0) | (data_sdf.min(0) <= 0)
    far = float(np.linalg.norm(np.asarray(labels.shape) * np.asarray(CANONICAL_SPACING)))
    out = np.full((len(STRUCTURES), *labels.shape), far, np.float32)
    if not region.any():
        return out
    box = tuple(
        slice(max(0, int(i.min()) - 1), min(n, int(i.max()) + 2))
        for i, n in zip(np.nonzero(region), labels.shape, strict=True)
    )
    out[(slice(None), *box)] = signed_distance_volume(labels[box])
    return out
