"""Fidelity to the acquired slices: fuse the prior's result with the motion-corrected stack (beyond the paper).

A shape prior that cannot represent a heart exactly should not overrule the slices that were acquired.
After the optimisation has estimated the shifts ``d``, both the stack and the prior's result are turned into
signed distance maps (mm, negative inside) per structure on the canonical grid: the stack by shape-based
interpolation (:func:`cardiosr.interpolation.interpolated_signed_distances`) of its slices' distance maps,
each moved back by ``-d`` (motion-corrected: the distances are moved with linear interpolation, so a boundary
moves by a fraction of a pixel, as moving the labels cannot) and, between two slices that both hold a
structure, offset so that its section's area is the linear interpolation of theirs (``area_matched``;
:func:`cardiosr.interpolation.match_areas`: plain shape-based interpolation shrinks sections whose
neighbours are offset or differ in shape), with the myocardium taken between the interpolated epicardium
and LV blood pool (``nested_myocardium``; :func:`cardiosr.interpolation.nest_myocardium`: a wall
interpolated on its own thins or breaks where its sections are offset), and the prior's result by
Euclidean distance transforms (:func:`scipy.ndimage.distance_transform_edt`). They are blended with a
weight ``w`` that depends on where a voxel lies along the stack:

* ``w = 0`` within ``flat`` slice spacings (:data:`FLAT_FRACTION`) of an acquired slice's centre plane,
  where the stack's distances are that slice's own: the result there is the data;
* ``w`` rises linearly to ``weight`` midway between two slices (and on an unsegmented slice): the prior
  shapes what was not acquired, by as much as ``weight`` says;
* ``w = 1`` outside the stack's slab or field of view: only the prior extrapolates.

The RV blood pool takes its own weight (``rv_weight``; :func:`structure_weights`): the prior's RV, learned
from two real hearts and phantoms, is its least exact structure.

Each voxel then takes the structure of lowest blended distance (background where all are positive).
On and between two acquired slices whose myocardium both enclose the LV blood pool in-plane, the background
and RV next to LV blood pool in-plane then become myocardium (``closed_wall``; :func:`close_lv_wall`): two
offset rings blend into a thinner one, or into none where they do not overlap, and on a slice's own plane a
wall one pixel thick, moved by a sub-pixel shift and resampled onto the grid, can break.
With long-axis views, the planes parallel to the slices that lie beyond the heart's end by the views (past its
last slice with heart labels, towards a slice without or out of the stack, where no view shows heart:
:func:`cardiosr.view_ends.heart_end_planes`) then hold no heart (``view_ends_mm``).
``weight = 0`` without ``area_matched`` and ``nested_myocardium`` is shape-based interpolation of the
motion-corrected stack inside the slab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from cardiosr.geometry import CANONICAL_SPACING, CanonicalFrame, box_on_grid, sub_grid_affine
from cardiosr.interpolation import flatten_near_slices, interpolated_signed_distances, labels_from_signed_distances
from cardiosr.labels import LV, MYO, RV, STRUCTURES, one_hot
from cardiosr.metrics import exposed_lv
from cardiosr.optimise import shift_slices
from cardiosr.threads import thread_map
from cardiosr.view_ends import heart_end_planes
from cardiosr.volume import LabelVolume

#: Half-width of the plateau around each acquired slice where the fused result is that slice, as a fraction
#: of the slice spacing (0.25 mm on 10 mm stacks, 0.5 mm with 20 mm gaps). Without it, 1–2 mm from a slice
#: the interpolated distances can already be pulled far by the next slice (one pixel of RV there: tens of mm),
#: and the result sampled on the slice (Eq. 1) loses it. Measured on real anatomy (``docs/benchmarks.md``,
#: section *fusion-plateau*): every ACDC file's consistency ≥ 0.97 with 20 mm gaps, protocol (a) within 0.0005.
FLAT_FRACTION = 0.025


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
    sa: LabelVolume,
    frame: CanonicalFrame,
    weight: float,
    missing: list[int] | tuple[int, ...] = (),
    flat: float = FLAT_FRACTION,
) -> np.ndarray:
    """``(D, H, W)`` weight of the prior on the canonical grid (see the module docstring); 0 within ``flat``
    slice spacings of a slice's centre plane."""
    from cardiosr.geometry import voxel_coordinates

    coords = voxel_coordinates(sa.affine, frame.affine, frame.shape)  # stack indices of canonical voxels
    t = coords[..., 0]
    n = sa.shape[0]
    frac = np.abs(flatten_near_slices(t, flat) - np.rint(t))  # 0 on a slice, 0.5 midway
    w = weight * 2.0 * frac
    nearest = np.clip(np.rint(t).astype(int), 0, n - 1)
    if len(missing):
        w = np.where(np.isin(nearest, list(missing)), weight, w)
    size = np.asarray(sa.shape[1:], float)
    inside = (t >= -0.5) & (t <= n - 0.5) & np.all((coords[..., 1:] >= -0.5) & (coords[..., 1:] <= size - 0.5), -1)
    return np.where(inside, w, 1.0).astype(np.float32)


def structure_weights(
    sa: LabelVolume,
    frame: CanonicalFrame,
    weight: float,
    rv_weight: float | None,
    missing: list[int] | tuple[int, ...] = (),
    flat: float = FLAT_FRACTION,
) -> np.ndarray:
    """``(3, D, H, W)`` weight of the prior per structure (LV, MYO, RV) on the canonical grid.

    :func:`fusion_weight` with ``weight`` for the LV and the myocardium and with ``rv_weight`` for the RV
    (``None``: ``weight``); 1 for every structure outside the stack's slab or field of view.

    Examples
    --------
    >>> a = np.zeros((3, 8, 8), np.uint8); a[:, 2:6, 2:6] = 3
    >>> sa = LabelVolume(a, np.diag([10.0, 1, 1, 1]))
    >>> frame = CanonicalFrame(affine=np.diag([2.5, 1, 1, 1]), shape=(9, 8, 8))  # a quarter slice apart
    >>> w = structure_weights(sa, frame, 0.5, 0.0).astype(float)
    >>> w[0, :, 4, 4].round(2).tolist()                          # LV: 0 on a slice, 0.5 midway
    [0.0, 0.24, 0.5, 0.24, 0.0, 0.24, 0.5, 0.24, 0.0]
    >>> w[2, :, 4, 4].round(2).tolist()                          # RV: the stack alone
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    w = fusion_weight(sa, frame, weight, missing, flat)
    out = np.repeat(w[None], len(STRUCTURES), 0)
    if rv_weight is not None and rv_weight != weight:
        rv = [i for i, (value, _) in enumerate(STRUCTURES) if value == RV][0]
        out[rv] = fusion_weight(sa, frame, rv_weight, missing, flat)
    return out


def fuse_with_stack(
    probs: np.ndarray, frame: CanonicalFrame, sa: LabelVolume, shifts_mm: np.ndarray, **fusion: Any
) -> np.ndarray:
    """Fuse the prior's result with the motion-corrected stack on the canonical grid: one-hot ``(4, D, H, W)``.

    :func:`fused_labels` on ``frame``'s own grid; ``fusion`` are its keyword-only parameters (``weight``,
    ``absent_mm``, ``basal_mm``, ``basal_clearance_mm``, ``rv_weight``, ``area_matched``, ``nested_myocardium``,
    ``closed_wall``, ``flat``).

    Examples
    --------
    With the prior's weight 0 the fusion between two slices of the same square is that square:

    >>> a = np.zeros((2, 8, 8), np.uint8); a[:, 2:6, 2:6] = 1
    >>> sa = LabelVolume(a, np.diag([10.0, 1, 1, 1]))
    >>> frame = CanonicalFrame(affine=np.diag([2.5, 1, 1, 1]), shape=(5, 8, 8))
    >>> probs = np.zeros((4, 5, 8, 8), np.float32); probs[0] = 1
    >>> keywords = dict(absent_mm=5.0, basal_mm=None, rv_weight=None, area_matched=True, nested_myocardium=True,
    ...                 closed_wall=False, basal_clearance_mm=None)
    >>> fused = fuse_with_stack(probs, frame, sa, np.zeros((2, 2)), weight=0.0, **keywords)
    >>> bool((fused[1, 2] == a[0]).all())
    True
    """
    return one_hot(fused_labels(probs, frame, sa, shifts_mm, **fusion)[0])


def fused_labels(
    probs: np.ndarray,
    frame: CanonicalFrame,
    sa: LabelVolume,
    shifts_mm: np.ndarray,
    grids: Sequence[tuple[tuple[int, int, int], np.ndarray] | None] = (None,),
    *,
    weight: float,
    absent_mm: float,
    basal_mm: float | None,
    rv_weight: float | None,
    area_matched: bool,
    nested_myocardium: bool,
    closed_wall: bool,
    basal_clearance_mm: float | None,
    flat: float = FLAT_FRACTION,
    views: Sequence[LabelVolume] = (),
    view_ends_mm: float | None = None,
) -> list[np.ndarray]:
    """Fuse the prior's result with the motion-corrected stack (module docstring) on grids: ``uint8`` labels.

    Everything is computed on the bounding box of the heart (:func:`_fusion_box`); outside it the fused label
    is background, exactly as on the whole grid. On a grid other than the canonical one the
    prior's signed distances are resampled linearly from the canonical grid and the stack's are computed at
    the grid's own voxels, so the result is not resampled from the canonical grid's 2 mm planes: where a
    structure ends between two slices does not depend on where those planes happen to lie (``enhance`` fuses
    its output on :func:`cardiosr.geometry.hr_grid`, whose planes include the slices' centre planes).

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
    grids:
        The grids to fuse on, each ``(shape, affine)`` (voxel → world, mm) or ``None`` for ``frame``'s own
        (the default: that one alone); the prior's distances are computed once for all.
    weight:
        Weight of the prior midway between slices, in [0, 1].
    absent_mm:
        Signed distance (mm) of a slice without a structure, at most the slice spacing (which is plain
        shape-based interpolation; 0: the structure keeps its last slice's section up to that slice;
        ``enhance`` uses :attr:`cardiosr.optimise.OptimiseOptions.absent_mm`).
    basal_mm:
        The same for the slices beyond the RV's basal end where the heart goes on, at most the slice spacing
        (``None``: ``absent_mm``, the base like any other end;
        :func:`cardiosr.interpolation.interpolated_signed_distances`).
        ``frame.flipped`` says which end of the stack is the base; ``enhance`` uses
        :attr:`cardiosr.optimise.OptimiseOptions.basal_absent_mm`.
    rv_weight:
        The same for the RV blood pool, in [0, 1] (``None``: ``weight``; :func:`structure_weights`;
        ``enhance`` uses :attr:`cardiosr.optimise.OptimiseOptions.rv_fidelity`).
    area_matched:
        Between two slices that both hold a structure, match the stack's interpolated section to the linear
        interpolation of their areas (:func:`cardiosr.interpolation.match_areas`; ``enhance`` uses
        :attr:`cardiosr.optimise.OptimiseOptions.area_matching`).
    nested_myocardium:
        Take the stack's myocardium between the epicardium and the LV blood pool, both interpolated
        (:func:`cardiosr.interpolation.nest_myocardium`; ``enhance`` uses
        :attr:`cardiosr.optimise.OptimiseOptions.nested_myocardium`).
    basal_clearance_mm:
        With ``basal_mm``: the RV's blunt basal end stops at least this far (mm) before the centre plane of
        the slice beyond it, at most half the slice spacing
        (:func:`cardiosr.interpolation.interpolated_signed_distances`; ``None``: no limit; ``enhance`` uses
        :attr:`cardiosr.optimise.OptimiseOptions.basal_clearance_mm`).
    closed_wall:
        On and between two acquired slices that both enclose their LV blood pool (:func:`enclosed_slices`),
        turn the background and RV round blood pool that touches them in-plane into myocardium
        (:func:`close_lv_wall`, :func:`between_enclosed_slices`; ``enhance`` uses
        :attr:`cardiosr.optimise.OptimiseOptions.closed_wall`).
    flat:
        Half-width of the plateau around each acquired slice's centre plane where the result is that slice,
        as a fraction of the slice spacing (default :data:`FLAT_FRACTION`).
    views, view_ends_mm:
        The long-axis views given with the stack, and the margin (mm) of
        :func:`cardiosr.view_ends.heart_end_planes`: the planes beyond the heart's end by the views hold no
        heart (``None`` or no views: off; ``enhance`` uses :attr:`cardiosr.optimise.OptimiseOptions.view_ends_mm`
        with the views of Eq. 4).

    Returns
    -------
    list of numpy.ndarray
        One ``uint8`` label map per grid, in the order of ``grids``.

    Examples
    --------
    A square on two slices 10 mm apart, fused with the prior's weight 0 on a grid of 2 mm planes:

    >>> a = np.zeros((2, 8, 8), np.uint8); a[:, 2:6, 2:6] = 1
    >>> sa = LabelVolume(a, np.diag([10.0, 1, 1, 1]))
    >>> frame = CanonicalFrame(affine=np.diag([2.5, 1, 1, 1]), shape=(5, 8, 8))
    >>> probs = np.zeros((4, 5, 8, 8), np.float32); probs[0] = 1
    >>> keywords = dict(absent_mm=5.0, basal_mm=None, rv_weight=None, area_matched=True, nested_myocardium=True,
    ...                 closed_wall=False, basal_clearance_mm=None)
    >>> grid = ((6, 8, 8), np.diag([2.0, 1, 1, 1]))
    >>> canonical, out = fused_labels(probs, frame, sa, np.zeros((2, 2)), (None, grid), weight=0.0, **keywords)
    >>> canonical.shape, out.shape, int(out[3].sum())
    ((5, 8, 8), (6, 8, 8), 16)
    """
    missing = sa.missing_slices()
    minus = -np.nan_to_num(np.asarray(shifts_mm, float))
    corrected = shift_slices(sa, minus)  # the labels moved back: only to find the box
    labels = probs.argmax(0).astype(np.uint8)
    box = _fusion_box(labels, corrected, frame)
    prior_sdf = None if box is None else signed_distance_volume(labels[box])
    out = []
    for grid in grids:
        shape, affine = (frame.shape, frame.affine) if grid is None else grid
        fused = np.zeros(tuple(int(n) for n in shape), np.uint8)
        out.append(fused)
        if box is None:
            continue
        box_affine = sub_grid_affine(frame.affine, [b.start for b in box])
        target, prior = box, prior_sdf
        if grid is not None:
            target = box_on_grid(prior_sdf.shape[1:], box_affine, fused.shape, affine)
            if target is None:
                continue
            to_box = np.linalg.inv(box_affine) @ sub_grid_affine(affine, [t.start for t in target])
            size = tuple(t.stop - t.start for t in target)
            prior = np.stack(
                thread_map(
                    lambda d, m=to_box, n=size: ndimage.affine_transform(
                        d, m[:3, :3], m[:3, 3], output_shape=n, order=1, mode="nearest"
                    ),
                    list(prior_sdf),
                )
            )
        target_frame = CanonicalFrame(
            affine=sub_grid_affine(affine, [t.start for t in target]), shape=tuple(t.stop - t.start for t in target)
        )
        spacing = float(sa.spacing[0])
        data_sdf, _ = interpolated_signed_distances(
            sa,
            target_frame.shape,
            target_frame.affine,
            min(absent_mm, spacing),
            missing=missing,
            flat=flat,
            shifts_mm=minus,
            basal_mm=None if basal_mm is None else min(basal_mm, spacing),
            base_last=not frame.flipped,
            area_matched=area_matched,
            nested_myocardium=nested_myocardium,
            basal_clearance_mm=None if basal_clearance_mm is None else min(basal_clearance_mm, 0.5 * spacing),
        )
        w = structure_weights(sa, target_frame, weight, rv_weight, missing, flat)
        blended = labels_from_signed_distances((1.0 - w) * data_sdf + w * prior)
        if closed_wall:
            blended = close_lv_wall(blended, between_enclosed_slices(sa, target_frame))
        fused[target] = blended
        if views and view_ends_mm is not None:
            fused[heart_end_planes(fused.shape, affine, sa, views, margin_mm=view_ends_mm)] = 0
    return out


def enclosed_slices(sa: LabelVolume) -> np.ndarray:
    """``(D,)``: the acquired slices whose LV blood pool the myocardium encloses in-plane (it holds LV and no
    LV voxel touches the background or the RV; :func:`cardiosr.metrics.exposed_lv`).

    Examples
    --------
    >>> a = np.zeros((3, 5, 6), np.uint8); a[:, 1:4, 1:5] = 2; a[:2, 2, 2:4] = 1; a[1, 2, 4] = 1
    >>> enclosed_slices(LabelVolume(a, np.eye(4))).tolist()
    [True, False, False]
    """
    return np.asarray(sa.array == LV).any(axis=(1, 2)) & ~exposed_lv(sa.array).any(axis=(1, 2))


def between_enclosed_slices(sa: LabelVolume, frame: CanonicalFrame) -> np.ndarray:
    """``(D, H, W)`` on ``frame``'s grid: the voxels that lie between two consecutive acquired slices of ``sa``
    that both enclose their LV blood pool (:func:`enclosed_slices`), the first one's centre plane included.

    Examples
    --------
    >>> a = np.zeros((3, 5, 6), np.uint8); a[:, 1:4, 1:5] = 2; a[:, 2, 2:4] = 1; a[2, 2, 4] = 1
    >>> frame = CanonicalFrame(affine=np.diag([2.5, 1, 1, 1]), shape=(9, 5, 6))   # 4 planes per 10 mm slice
    >>> between_enclosed_slices(LabelVolume(a, np.diag([10.0, 1, 1, 1])), frame)[:, 0, 0].astype(int).tolist()
    [1, 1, 1, 1, 0, 0, 0, 0, 0]
    """
    from cardiosr.geometry import voxel_coordinates

    t = voxel_coordinates(sa.affine, frame.affine, frame.shape)[..., 0]
    low = np.floor(t).astype(int)
    inside = (low >= 0) & (low + 1 <= sa.shape[0] - 1)
    enclosed = np.append(enclosed_slices(sa), False)  # index n - 1 + 1 for the voxels beyond: not enclosed
    low = np.clip(low, 0, sa.shape[0] - 1)
    return inside & enclosed[low] & enclosed[np.minimum(low + 1, sa.shape[0])]


def close_lv_wall(labels: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Close the myocardial wall round LV blood pool that touches the background or the RV in-plane; a copy.

    Where ``where`` is true, the background and RV voxels among the in-plane 8-neighbours (along ``H`` and
    ``W``, within a slice) of LV blood pool that touches them (:func:`cardiosr.metrics.exposed_lv`) become
    myocardium: a wall one voxel thick along the opening, joined to the wall's ends, so that no blood pool
    touches the background or the RV there and the myocardium stays one piece. The blood pool is left as it
    is. The blend of the stack's and the prior's distances can open the wall between two slices whose walls
    are both closed: two offset rings blend into a thinner one, or into none where they do not overlap.

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels.
    where:
        ``(D, H, W)`` boolean: the voxels that may be changed.

    Returns
    -------
    numpy.ndarray
        The labels with the wall closed.

    Examples
    --------
    >>> a = np.zeros((1, 5, 6), np.uint8); a[0, 1:4, 1:5] = 2; a[0, 2, 2:5] = 1   # the pool reaches out
    >>> closed = close_lv_wall(a, np.ones(a.shape, bool))
    >>> closed[0, 1:4, 3:].tolist()
    [[2, 2, 2], [1, 1, 2], [2, 2, 2]]
    """
    out = np.array(labels, copy=True)
    ring = ndimage.binary_dilation(exposed_lv(labels), structure=np.ones((1, 3, 3), bool))
    out[ring & ((labels == 0) | (labels == RV)) & where] = MYO
    return out


def _fusion_box(labels: np.ndarray, corrected: LabelVolume, frame: CanonicalFrame) -> tuple[slice, ...] | None:
    """The canonical voxels where the fusion can give a structure, as a box (``None``: nowhere).

    A voxel can only be given a structure where the prior has one or the data's interpolated distance is
    negative (the blend of two positive distances is positive). The data's is negative only within a voxel
    (in-plane) of the stack's labelled pixels and within a slice of its labelled slices, or outside the stack
    (where its distances are clamped to the edge values) where the prior's weight is 1 and the data do not
    count. So the box holds the prior's structures and the canonical image of the stack's labelled block grown
    by one voxel and one slice, plus a voxel of margin, which also keeps the prior's distance transforms exact.
    """
    lows, highs = [], []
    if labels.any():
        index = np.nonzero(labels)
        lows.append([int(i.min()) for i in index])
        highs.append([int(i.max()) for i in index])
    data = corrected.array > 0
    if data.any():
        ranges = [np.nonzero(data.any(axis=tuple(a for a in range(3) if a != axis)))[0] for axis in range(3)]
        block = [(r[0] - 1.0, r[-1] + 1.0) for r in ranges]
        corners = np.array(np.meshgrid(*block, indexing="ij")).reshape(3, -1)
        m = np.linalg.inv(frame.affine) @ corrected.affine
        inside = m[:3, :3] @ corners + m[:3, 3:4]
        lows.append(np.floor(inside.min(1)).astype(int).tolist())
        highs.append(np.ceil(inside.max(1)).astype(int).tolist())
    if not lows:
        return None
    lo = np.clip(np.min(lows, 0) - 1, 0, np.asarray(labels.shape) - 1)
    hi = np.clip(np.max(highs, 0) + 1, 0, np.asarray(labels.shape) - 1)
    if np.any(hi < lo):
        return None
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(lo, hi, strict=True))
