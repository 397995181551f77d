"""Affines, slice-axis detection, the anatomical canonical grid and the long-axis slicing operator R.

Conventions
-----------
* World coordinates are the NIfTI RAS+ millimetres of the input file; every array travels with the 4×4
  affine that maps its voxel indices to them.
* Internal axis order is ``(D, H, W)``: ``D`` the through-plane (slice) axis of the short-axis stack,
  ``H``/``W`` the in-plane row/column.
* The **canonical grid** is the prior's grid: 64×128×128 voxels of 2×1.25×1.25 mm, centred on the
  centre of mass of the heart labels. Its ``D`` axis is the stack's slice axis ordered from apex to base
  (decided from the anatomy); in-plane it is rotated about ``D`` so that the LV→RV direction is the one
  the published prior was trained with, and its handedness is that of the reference data. The map from
  the input's world to the canonical grid is rigid (axis reversal + rotation about the slice axis) plus a
  crop and a resampling, so mapping back is exact and outputs always lie in the input's world frame.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from cardiosr.errors import GeometryWarning, InputError
from cardiosr.labels import LV, MYO, N_CLASSES, RV, one_hot
from cardiosr.threads import thread_map
from cardiosr.volume import LabelVolume

#: Canonical (prior) grid shape ``(D, H, W)`` in voxels.
CANONICAL_SHAPE: tuple[int, int, int] = (64, 128, 128)
#: Canonical voxel size ``(D, H, W)`` in mm.
CANONICAL_SPACING: tuple[float, float, float] = (2.0, 1.25, 1.25)
#: Voxel size of high-resolution outputs written in the input's world frame, in mm.
HR_SPACING: tuple[float, float, float] = (2.0, 1.25, 1.25)

#: Direction of the LV→RV centroid vector in the canonical (H, W) plane, as ``atan2(w, h)`` in degrees.
#: Measured on ``srheart-demo/demo_HR.nii.gz`` (the published prior's training orientation), whose array
#: is already apex→base; ``tests/test_geometry.py`` re-measures it when the shared data is present.
REFERENCE_LV_TO_RV_ANGLE_DEG = -142.58
#: Sign of det[e_D, e_H, e_W] (unit world directions of the canonical axes) in the reference data.
REFERENCE_HANDEDNESS = -1.0
#: Typical world (RAS+) direction from base to apex of a heart: towards the patient's left, anterior and
#: inferior. Only used to check the affine against the anatomy.
APEX_DIRECTION_RAS = np.array([-1.0, 1.0, -1.0]) / np.sqrt(3.0)


def unit_columns(affine: np.ndarray) -> np.ndarray:
    """The affine's three voxel axes as unit world vectors (columns of a 3×3 matrix)."""
    m = np.asarray(affine, float)[:3, :3]
    return m / np.linalg.norm(m, axis=0)


def apex_to_base_score(labels: np.ndarray) -> float:
    """How strongly the anatomy says that slice index increases from apex to base, in [-1, 1].

    Three cues, each a signed number in [-1, 1] with positive meaning "base at the high-index end",
    are averaged (shift-invariant: only per-slice areas are used, so breathing offsets do not matter):

    * the heart's cross-section grows towards the base (area-weighted mean slice position);
    * the RV is widest at the base (RV-area-weighted mean slice position);
    * the apex end has slices where myocardium closes the LV (myocardium with little or no LV cavity).

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels.

    Returns
    -------
    float
        Positive: apex at index 0. Negative: apex at the last index. Near 0: undecided.
    """
    areas = np.stack([(labels == k).reshape(labels.shape[0], -1).sum(1) for k in (LV, MYO, RV)], 1)
    total = areas.sum(1).astype(float)
    heart = np.flatnonzero(total > 0)
    if heart.size < 2:
        return 0.0
    first, last = heart[0], heart[-1]
    t = (np.arange(labels.shape[0]) - 0.5 * (first + last)) / (0.5 * (last - first))
    votes = [float((t * total).sum() / total.sum()) * 2.0]
    if areas[:, 2].sum() > 0:
        votes.append(float((t * areas[:, 2]).sum() / areas[:, 2].sum()) * 2.0)
    cap = np.flatnonzero((areas[:, 1] > 0) & (areas[:, 0] < 0.1 * areas[:, 1]))
    if cap.size:
        votes.append(-float(np.mean(t[cap])))
    return float(np.clip(np.mean(np.clip(votes, -1.0, 1.0)), -1.0, 1.0))


@dataclass
class CanonicalFrame:
    """The canonical grid of one input, and how it was decided.

    Attributes
    ----------
    affine:
        4×4 affine of the canonical grid (canonical voxel index → the input's world, mm).
    shape:
        Canonical grid shape ``(D, H, W)``.
    flipped:
        True if the input's slice index runs base→apex (so canonical ``D`` runs against it).
    rotation_deg:
        Angle of the in-plane rotation about the slice axis, from the input's ``H`` axis to the
        canonical ``H`` axis, in degrees.
    centre:
        World position (mm) of the heart's centre of mass, the centre of the canonical grid.
    warnings:
        One-line warnings raised while deciding the frame (also issued as :class:`GeometryWarning`).
    """

    affine: np.ndarray
    shape: tuple[int, int, int] = CANONICAL_SHAPE
    flipped: bool = False
    rotation_deg: float = 0.0
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    warnings: list[str] = field(default_factory=list)

    @property
    def spacing(self) -> np.ndarray:
        """Canonical voxel size in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)


def _centroid_world(labels: np.ndarray, affine: np.ndarray, values: tuple[int, ...]) -> np.ndarray | None:
    idx = np.argwhere(np.isin(labels, values))
    if idx.size == 0:
        return None
    return (affine @ np.r_[idx.mean(0), 1.0])[:3]


def _bbox_centre_world(labels: np.ndarray, affine: np.ndarray, spacing: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Centre of the heart's bounding box along the columns of ``rot`` (each voxel counted as its extent)."""
    idx = np.argwhere(labels > 0).astype(float)
    world = idx @ np.asarray(affine, float)[:3, :3].T + np.asarray(affine, float)[:3, 3]
    along = world @ rot  # coordinates along the canonical axes, mm
    half = 0.5 * np.abs(rot.T @ (unit_columns(affine) * spacing)).sum(1)  # half a voxel's extent on each axis
    centre_along = 0.5 * ((along.min(0) - half) + (along.max(0) + half))
    return rot @ centre_along


def _warn(frame_warnings: list[str], message: str) -> None:
    frame_warnings.append(message)
    warnings.warn(message, GeometryWarning, stacklevel=3)


def canonical_frame(
    volume: LabelVolume,
    shape: tuple[int, int, int] = CANONICAL_SHAPE,
    spacing: tuple[float, float, float] = CANONICAL_SPACING,
    centre_voxel: Sequence[float] | None = None,
    centring: str = "mass",
    snap_slices: bool = False,
) -> CanonicalFrame:
    """Decide the canonical grid of a short-axis label map.

    Parameters
    ----------
    volume:
        Short-axis label map in internal ``(D, H, W)`` order (any resolution).
    shape, spacing:
        Canonical grid shape (voxels) and voxel size (mm), ``(D, H, W)``.
    centre_voxel:
        Where the heart's centre of mass lands on the grid, in voxel coordinates ``(D, H, W)``; the grid
        centre by default. A prior trained on differently centred crops says so in its metadata
        (``grid.heart_centre_voxel``).
    centring:
        Which point of the heart is put at ``centre_voxel``: ``'mass'`` (centre of mass of the heart
        labels, cardiosr priors) or ``'bbox'`` (centre of their bounding box along the grid's axes, as
        the published SRHeart crops; ``grid.centring`` in a prior's metadata).
    snap_slices:
        Move the grid along its slice axis by at most half a canonical slice (1 mm) so that the input's
        slices lie on canonical slice planes, when the slice spacing is a whole number of canonical slices
        (10 mm stacks: every 5th plane). Eq. 1's ↓s then reads one canonical slice per input slice, which
        halves the decoding of the latent search (:class:`~cardiosr.degradation.ShiftedResampling`).

    Returns
    -------
    CanonicalFrame

    Raises
    ------
    InputError
        If the map holds no heart labels.

    Notes
    -----
    The slice direction is ordered apex→base by :func:`apex_to_base_score`. If the affine's slice
    direction disagrees with the usual apex direction (patient's left, anterior, inferior), the anatomy
    is followed and a :class:`GeometryWarning` says so. The in-plane rotation puts the LV→RV centroid
    direction at :data:`REFERENCE_LV_TO_RV_ANGLE_DEG`; the canonical axes keep the reference handedness
    :data:`REFERENCE_HANDEDNESS` so that the map is rigid in world space.
    """
    labels, affine = volume.array, volume.affine
    where = volume.path or "input"
    notes: list[str] = []
    centre = _centroid_world(labels, affine, (LV, MYO, RV))
    if centre is None:
        raise InputError("contains no heart labels (LV, MYO or RV); nothing to process", volume.path)
    axes = unit_columns(affine)
    slice_dir = axes[:, 0]

    score = apex_to_base_score(labels)
    affine_says_base_high = float(slice_dir @ APEX_DIRECTION_RAS) < 0.0
    if abs(score) < 0.05:
        base_high = affine_says_base_high
        _warn(notes, f"{where}: the anatomy does not show which end is the apex; following the affine")
    else:
        base_high = score > 0
        if base_high != affine_says_base_high:
            _warn(
                notes,
                f"{where}: the affine's slice direction puts the apex on the wrong side (expected towards "
                "the patient's left, anterior, inferior); following the anatomy (is the array flipped "
                "along the slice axis, or the world not RAS?)",
            )
    e_d = slice_dir if base_high else -slice_dir

    lv_c = _centroid_world(labels, affine, (LV,))
    rv_c = _centroid_world(labels, affine, (RV,))
    in_plane_h = axes[:, 1] - (axes[:, 1] @ e_d) * e_d
    in_plane_h /= np.linalg.norm(in_plane_h)
    v = None if lv_c is None or rv_c is None else (rv_c - lv_c) - ((rv_c - lv_c) @ e_d) * e_d
    if v is None or np.linalg.norm(v) < 1.0:
        _warn(notes, f"{where}: no distinct LV and RV to orient the heart in-plane; keeping the input's rows")
        # Keep the input's row direction as the LV→RV reference direction.
        v = in_plane_h
    v_hat = v / np.linalg.norm(v)
    q = -REFERENCE_HANDEDNESS * np.cross(v_hat, e_d)  # det[e_d, v_hat, q] == REFERENCE_HANDEDNESS
    theta = np.deg2rad(REFERENCE_LV_TO_RV_ANGLE_DEG)
    e_h = np.cos(theta) * v_hat - np.sin(theta) * q
    e_w = np.sin(theta) * v_hat + np.cos(theta) * q

    rot = np.stack([e_d, e_h, e_w], 1)
    canon = np.eye(4)
    canon[:3, :3] = rot * np.asarray(spacing, float)
    if centre_voxel is None:
        centre_voxel = (np.asarray(shape, float) - 1.0) / 2.0
    if centring == "bbox":
        centre = _bbox_centre_world(labels, affine, volume.spacing, rot)
    elif centring != "mass":
        raise ValueError(f"centring must be 'mass' or 'bbox', got {centring!r}")
    canon[:3, 3] = centre - canon[:3, :3] @ np.asarray(centre_voxel, float)
    if snap_slices:
        canon[:3, 3] += _slice_snap_mm(volume, e_d, canon[:3, 3], float(spacing[0])) * e_d
    in_plane_w = np.cross(e_d, in_plane_h)
    rotation = float(np.degrees(np.arctan2(e_h @ in_plane_w, e_h @ in_plane_h)))
    return CanonicalFrame(
        affine=canon,
        shape=tuple(int(n) for n in shape),  # type: ignore[arg-type]
        flipped=not base_high,
        rotation_deg=rotation,
        centre=centre,
        warnings=notes,
    )


def _slice_snap_mm(volume: LabelVolume, e_d: np.ndarray, origin: np.ndarray, step_mm: float) -> float:
    """How far (mm, along ``e_d``) to move a canonical grid's origin so that the stack's slices lie on its
    slice planes; 0 when the slice spacing is not a whole number of canonical slices."""
    positions = [
        float(e_d @ (volume.affine[:3, :3] @ np.array([k, 0.0, 0.0]) + volume.affine[:3, 3] - origin)) for k in (0, 1)
    ]
    per_slice = abs(positions[1] - positions[0]) / step_mm
    if volume.shape[0] < 2 or abs(per_slice - round(per_slice)) > 1e-3 or round(per_slice) < 1:
        return 0.0
    planes = positions[0] / step_mm
    return (planes - round(planes)) * step_mm


def sub_grid_affine(affine: np.ndarray, start: Sequence[float]) -> np.ndarray:
    """The voxel → world affine of the sub-grid that starts at voxel ``start`` of the grid of ``affine``.

    Examples
    --------
    >>> sub_grid_affine(np.diag([2.0, 1.0, 1.0, 1.0]), [3, 0, 1])[:3, 3].tolist()
    [6.0, 0.0, 1.0]
    """
    out = np.asarray(affine, float).copy()
    out[:3, 3] = out[:3, :3] @ np.asarray(start, float) + out[:3, 3]
    return out


def box_on_grid(
    shape: Sequence[int], affine: np.ndarray, grid_shape: Sequence[int], grid_affine: np.ndarray
) -> tuple[slice, ...] | None:
    """The box of a grid's voxels that lie within a voxel (and a voxel of margin) of another grid.

    ``shape``, ``affine``: the other grid (e.g. a crop); ``grid_shape``, ``grid_affine``: the grid whose voxels
    are boxed (voxel → world, mm). ``None`` when no voxel is that close.

    Examples
    --------
    >>> box_on_grid((2, 1, 1), np.diag([2.0, 1, 1, 1]), (10, 3, 3), np.eye(4))
    (slice(0, 6, None), slice(0, 3, None), slice(0, 3, None))
    """
    corners = np.array(np.meshgrid(*[(-1.0, float(n)) for n in shape], indexing="ij")).reshape(3, -1)
    to_grid = np.linalg.inv(np.asarray(grid_affine, float)) @ np.asarray(affine, float)
    inside = to_grid[:3, :3] @ corners + to_grid[:3, 3:4]
    lo = np.clip(np.floor(inside.min(1)).astype(int) - 1, 0, np.asarray(grid_shape))
    hi = np.clip(np.ceil(inside.max(1)).astype(int) + 2, 0, np.asarray(grid_shape))
    if np.any(hi <= lo):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def resample_probabilities(
    probs: np.ndarray,
    src_affine: np.ndarray,
    dst_shape: tuple[int, int, int],
    dst_affine: np.ndarray,
) -> np.ndarray:
    """Resample class probabilities ``(C, D, H, W)`` onto another grid by trilinear interpolation.

    Outside the source grid the first channel (background) is 1 and the others 0. Linear interpolation
    between voxel centres is done by :func:`scipy.ndimage.affine_transform` (``mode='grid-constant'``,
    so values fade to the background over half a voxel beyond the edge of the source).

    Parameters
    ----------
    probs:
        ``(C, D, H, W)`` class probabilities (or one-hot) on the source grid.
    src_affine, dst_affine:
        4×4 voxel-to-world affines (mm) of the source and destination grids.
    dst_shape:
        Destination grid shape.

    Returns
    -------
    numpy.ndarray
        ``(C, *dst_shape)`` float32.
    """
    out = np.zeros((probs.shape[0], *dst_shape), dtype=np.float32)
    out[0] = 1.0
    # Where the source is pure background it equals what lies beyond its edge: resample the rest alone
    # (a voxel of margin keeps the interpolation exact), e.g. the heart's box of a fused one-hot result.
    other = (probs[0] != 1) | (probs[1:] != 0).any(0)
    if not other.any():
        return out
    index = np.nonzero(other)
    lo = [max(int(i.min()) - 1, 0) for i in index]
    hi = [min(int(i.max()) + 2, n) for i, n in zip(index, probs.shape[1:], strict=True)]
    probs = probs[(slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))]
    src_affine = sub_grid_affine(src_affine, lo)
    dst_to_src = np.linalg.inv(src_affine) @ np.asarray(dst_affine, float)
    # Only the destination voxels within a voxel of the source grid can differ from the background:
    # transform that box alone (same result, much less work when the source is a small crop).
    box = box_on_grid(probs.shape[1:], src_affine, dst_shape, dst_affine)
    if box is None:
        return out
    lo = np.array([b.start for b in box])
    hi = np.array([b.stop for b in box])
    offset = dst_to_src[:3, :3] @ lo + dst_to_src[:3, 3]

    def channel(c: int) -> None:
        out[(c, *box)] = ndimage.affine_transform(
            np.asarray(probs[c], dtype=np.float32),
            dst_to_src[:3, :3],
            offset=offset,
            output_shape=tuple(int(n) for n in hi - lo),
            order=1,
            mode="grid-constant",
            cval=1.0 if c == 0 else 0.0,
            prefilter=False,
        )

    thread_map(channel, range(probs.shape[0]))
    return out


def resample_labels(
    labels: np.ndarray,
    src_affine: np.ndarray,
    dst_shape: tuple[int, int, int],
    dst_affine: np.ndarray,
    n_classes: int = N_CLASSES,
) -> np.ndarray:
    """Resample a label map onto another grid: per-class linear interpolation, then argmax.

    Unlike nearest-neighbour resampling of label values this keeps boundaries smooth and never invents
    a label between two others. See :func:`resample_probabilities` for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((3, 4, 4), np.uint8); lab[:, 1:3, 1:3] = 1
    >>> resample_labels(lab, np.eye(4), (3, 4, 4), np.eye(4)).tolist() == lab.tolist()
    True
    """
    return (
        resample_probabilities(one_hot(labels, n_classes), src_affine, dst_shape, dst_affine).argmax(0).astype(np.uint8)
    )


def to_canonical(
    volume: LabelVolume,
    frame: CanonicalFrame | None = None,
    centre_voxel: Sequence[float] | None = None,
    centring: str = "mass",
) -> tuple[LabelVolume, CanonicalFrame]:
    """Map a short-axis label map onto its canonical grid.

    Parameters
    ----------
    volume:
        Label map in internal order, any resolution (a thick-slice stack is interpolated linearly
        between slice centres, per class).
    frame:
        A frame from :func:`canonical_frame`; decided from ``volume`` if not given.
    centre_voxel, centring:
        Passed to :func:`canonical_frame` when ``frame`` is not given.

    Returns
    -------
    (LabelVolume, CanonicalFrame)
        The canonical label map (shape ``frame.shape``, affine ``frame.affine``) and the frame.

    Examples
    --------
    >>> from cardiosr.phantom import generate_phantom
    >>> canon, frame = to_canonical(generate_phantom(0)[0])
    >>> canon.array.shape, frame.flipped
    ((64, 128, 128), False)
    """
    frame = canonical_frame(volume, centre_voxel=centre_voxel, centring=centring) if frame is None else frame
    array = resample_labels(volume.array, volume.affine, frame.shape, frame.affine)
    return (
        LabelVolume(array, frame.affine.copy(), volume.convention, (0, 1, 2), volume.path, volume.header),
        frame,
    )


def hr_grid(
    like: LabelVolume, spacing: tuple[float, float, float] = HR_SPACING
) -> tuple[tuple[int, int, int], np.ndarray]:
    """A grid along ``like``'s own axes with voxel size ``spacing``, covering the same slab.

    The new grid keeps ``like``'s axis directions and covers the same physical extent (from the outer
    face of its first voxel to the outer face of its last), centred on the same point. For an input that
    already has voxel size ``spacing`` the grid is the input's grid exactly.

    Returns
    -------
    (shape, affine)
    """
    old_spacing = like.spacing
    new_spacing = np.asarray(spacing, float)
    n_old = np.asarray(like.shape, float)
    n_new = np.maximum(1, np.rint(n_old * old_spacing / new_spacing)).astype(int)
    # An axis that already has (within 0.1 %) the requested voxel size keeps its own grid exactly.
    same = (n_new == n_old) & (np.abs(old_spacing - new_spacing) <= 1e-3 * new_spacing)
    new_spacing = np.where(same, old_spacing, new_spacing)
    first = 0.5 * (n_old - 1) * old_spacing - 0.5 * (n_new - 1) * new_spacing  # mm along each axis
    axes = unit_columns(like.affine)
    affine = np.eye(4)
    affine[:3, :3] = axes * new_spacing
    affine[:3, 3] = like.affine[:3, 3] + axes @ first
    return tuple(int(n) for n in n_new), affine  # type: ignore[return-value]


def from_canonical(
    canonical: np.ndarray,
    frame: CanonicalFrame,
    like: LabelVolume,
    spacing: tuple[float, float, float] = HR_SPACING,
) -> LabelVolume:
    """Map a canonical-grid result back to the input's world frame at high resolution.

    Parameters
    ----------
    canonical:
        ``(D, H, W)`` internal labels, or ``(C, D, H, W)`` class probabilities, on ``frame``'s grid.
    frame:
        The frame the input was mapped with.
    like:
        The input: the output keeps its axis directions, on-disk axis order, label convention and header.
    spacing:
        Output voxel size in mm along ``like``'s ``(D, H, W)`` (default 2×1.25×1.25 mm).

    Returns
    -------
    LabelVolume
        Labels on :func:`hr_grid` of ``like``; outside the canonical crop everything is background.
    """
    shape, affine = hr_grid(like, spacing)
    canonical = np.asarray(canonical)
    if canonical.ndim == 3:
        array = resample_labels(canonical, frame.affine, shape, affine)
    else:
        array = resample_probabilities(canonical, frame.affine, shape, affine).argmax(0).astype(np.uint8)
    return like.with_array(array, affine)


def voxel_coordinates(src_affine: np.ndarray, dst_affine: np.ndarray, dst_shape: tuple[int, ...]) -> np.ndarray:
    """Voxel coordinates in the ``src`` grid of every voxel centre of the ``dst`` grid.

    Returns a read-only array of shape ``(*dst_shape, 3)``. The last few are kept (:func:`functools.lru_cache`):
    the frames of a cine ask for the same grids over and over.

    Examples
    --------
    >>> voxel_coordinates(np.diag([2.0, 1.0, 1.0, 1.0]), np.eye(4), (3, 1, 1))[:, 0, 0, 0].tolist()
    [0.0, 0.5, 1.0]
    >>> voxel_coordinates(np.eye(4), np.eye(4), (1, 1, 1)).flags.writeable  # shared: never changed in place
    False
    """
    key = (np.asarray(src_affine, float).tobytes(), np.asarray(dst_affine, float).tobytes())
    return _voxel_coordinates(*key, tuple(int(n) for n in dst_shape))


@functools.lru_cache(maxsize=4)
def _voxel_coordinates(src: bytes, dst: bytes, dst_shape: tuple[int, ...]) -> np.ndarray:
    m = np.linalg.inv(np.frombuffer(src).reshape(4, 4)) @ np.frombuffer(dst).reshape(4, 4)
    idx = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in dst_shape], indexing="ij"), -1)
    out = idx @ m[:3, :3].T + m[:3, 3]
    out.setflags(write=False)
    return out


class LongAxisSlicer(torch.nn.Module):
    """The slicing operator R of the paper's Eq. 4: sample a canonical volume on a long-axis plane.

    ``L_LA(z, d) = CE(R(G(z)), S_LA)``: R maps class probabilities on the canonical grid to the pixel
    grid of a long-axis view, through world coordinates (both views share one world space, given by
    their NIfTI affines), with trilinear interpolation (``torch.nn.functional.grid_sample``), so it is
    differentiable with respect to the volume.

    Parameters
    ----------
    volume_affine:
        4×4 affine of the canonical grid (e.g. ``CanonicalFrame.affine``).
    volume_shape:
        Canonical grid shape ``(D, H, W)``.
    view_affine:
        4×4 affine of the long-axis view in internal order (its singleton slice axis first).
    view_shape:
        ``(H_LA, W_LA)`` pixel grid of the view.

    Attributes
    ----------
    inside:
        ``(H_LA, W_LA)`` bool tensor: the view pixels that fall inside the canonical grid.
    corner_voxels, corner_inverse, corner_weights:
        The same interpolation as index lists, for reading a few voxels instead of the whole volume
        (:meth:`sample_voxels`): the ``(m, 3)`` canonical voxels ``(d, h, w)`` that the inside pixels read,
        and for each inside pixel (row by row) its 8 corners as ``(n_inside, 8)`` positions in that list and
        ``(n_inside, 8)`` trilinear weights (0 for a corner beyond the grid, as ``grid_sample``'s zero padding).

    Examples
    --------
    With ``frame`` from :func:`canonical_frame` and a four-chamber view read by
    :func:`cardiosr.io.load_labels`::

        la = load_labels("la_4ch.nii.gz", "mnms")            # internal shape (1, 256, 256)
        R = LongAxisSlicer(frame.affine, frame.shape, la.affine, la.shape[1:])
        R(probs)                                              # (B, 4, 64, 128, 128) -> (B, 4, 256, 256)
    """

    grid: torch.Tensor
    inside: torch.Tensor

    def __init__(
        self,
        volume_affine: np.ndarray,
        volume_shape: tuple[int, int, int],
        view_affine: np.ndarray,
        view_shape: tuple[int, int],
    ) -> None:
        super().__init__()
        coords = voxel_coordinates(volume_affine, view_affine, (1, *view_shape))[0]  # (H_LA, W_LA, 3) d,h,w
        size = np.asarray(volume_shape, float)
        # grid_sample with align_corners=True maps -1/+1 to the centres of the first/last voxel; its
        # last axis is ordered (x, y, z) = (W, H, D).
        normalised = 2.0 * coords / (size - 1.0) - 1.0
        inside = np.all(np.abs(normalised) <= 1.0 + 1e-6, axis=-1)
        grid = torch.from_numpy(normalised[..., ::-1].copy()).float()[None, None]  # (1, 1, H, W, 3)
        self.register_buffer("grid", grid)
        self.register_buffer("inside", torch.from_numpy(inside))
        voxels, inverse, weights = _trilinear_corners(coords[inside], volume_shape)
        self.register_buffer("corner_voxels", torch.from_numpy(voxels))
        self.register_buffer("corner_inverse", torch.from_numpy(inverse))
        self.register_buffer("corner_weights", torch.from_numpy(weights))

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        """Sample ``(B, C, D, H, W)`` probabilities on the view: returns ``(B, C, H_LA, W_LA)``."""
        grid = self.grid.to(dtype=volume.dtype).expand(volume.shape[0], -1, -1, -1, -1)
        out = torch.nn.functional.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return out[:, :, 0]

    def sample_voxels(self, values: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on the inside pixels alone, from the volume's values at :attr:`corner_voxels` only.

        ``(B, C, m)`` values → ``(B, C, n_inside)``, the inside pixels row by row: ``forward(volume)[..., inside]``
        to float rounding, where ``values`` is ``volume`` at :attr:`corner_voxels`.
        """
        corners = values[:, :, self.corner_inverse]  # (B, C, n_inside, 8)
        return (corners * self.corner_weights.to(values.dtype)).sum(-1)


def _trilinear_corners(coords: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8 corners of trilinear interpolation at ``(n, 3)`` voxel coordinates of a grid of ``shape``:
    unique ``(m, 3)`` voxels, ``(n, 8)`` positions in them and ``(n, 8)`` weights (0 beyond the grid)."""
    size = np.asarray(shape)
    base = np.floor(coords).astype(np.int64)
    frac = (coords - base).astype(np.float32)
    offsets = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])  # (8, 3)
    corner = base[:, None, :] + offsets[None]  # (n, 8, 3)
    weights = np.prod(np.where(offsets[None] == 1, frac[:, None, :], 1.0 - frac[:, None, :]), axis=-1)
    beyond = np.any((corner < 0) | (corner >= size), axis=-1)
    weights[beyond] = 0.0
    corner = np.clip(corner, 0, size - 1)
    flat = np.ravel_multi_index(tuple(corner.reshape(-1, 3).T), tuple(size))
    unique, inverse = np.unique(flat, return_inverse=True)
    voxels = np.stack(np.unravel_index(unique, tuple(size)), axis=1).astype(np.int64)
    return voxels, inverse.reshape(-1, 8).astype(np.int64), weights.astype(np.float32)
