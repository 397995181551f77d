"""Direct interpolation baselines of the paper's §2.1: nearest-neighbour and shape-based up-sampling.

Both take the low-resolution stack as it is (no motion correction) and fill any target grid in the same
world space, given by its shape and affine (the canonical grid, or a ground truth's grid):

* :func:`nearest_upsample`: ``S_NN = ↑s S_LR``, every target voxel takes the label of the stack voxel it
  falls in;
* :func:`shape_based_interpolation`: Raya & Udupa's shape-based interpolation: per structure, a signed
  distance map of every slice (mm, in-plane), interpolated linearly between slice centres; each voxel
  takes the structure of lowest distance, background where every distance is positive.

Target voxels outside the stack's slab (beyond the outer faces of its first and last voxels) are background.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from cardiosr.geometry import voxel_coordinates
from cardiosr.labels import LV, MYO, RV, STRUCTURES
from cardiosr.threads import thread_map
from cardiosr.volume import LabelVolume


def _stack_coordinates(lr: LabelVolume, shape: tuple[int, int, int], affine: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stack voxel coordinates ``(3, *shape)`` of every target voxel, and the mask of those inside the stack."""
    coords = np.moveaxis(voxel_coordinates(lr.affine, affine, shape), -1, 0)
    n = np.asarray(lr.shape, float).reshape(3, 1, 1, 1)
    inside = np.all((coords >= -0.5) & (coords <= n - 0.5), axis=0)
    return coords, inside


def nearest_upsample(lr: LabelVolume, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """Nearest-neighbour up-sampling of a stack onto a target grid (the paper's NN baseline).

    Parameters
    ----------
    lr:
        The low-resolution stack (internal labels, with its affine).
    shape, affine:
        The target grid: shape ``(D, H, W)`` in voxels and its 4×4 voxel → world (mm) affine.

    Returns
    -------
    numpy.ndarray
        ``uint8`` internal labels of shape ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> lr = LabelVolume(np.array([1, 2, 3], np.uint8).reshape(3, 1, 1), np.diag([10.0, 1, 1, 1]))
    >>> hr = np.diag([2.0, 1, 1, 1]); hr[0, 3] = -4.0  # 2 mm slices from -4 to 24 mm
    >>> nearest_upsample(lr, (15, 1, 1), hr).ravel().tolist()
    [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]
    """
    coords, inside = _stack_coordinates(lr, shape, affine)
    n = np.asarray(lr.shape).reshape(3, 1, 1, 1)
    # round half up (floor(x + 0.5)) so that a voxel on a boundary between two slices is taken consistently
    idx = np.clip(np.floor(coords + 0.5).astype(int), 0, n - 1)
    out = lr.array[idx[0], idx[1], idx[2]]
    return np.where(inside, out, 0).astype(np.uint8)


def signed_distance_slices(
    lr: LabelVolume,
    value: int | Sequence[int],
    absent_mm: float | None = None,
    *,
    basal_mm: float | None = None,
    base_last: bool = True,
) -> np.ndarray:
    """In-plane signed distance (mm) to the boundary of one structure, slice by slice.

    ``value``: the structure's label, or several labels taken as one region (e.g. ``(LV, MYO)``, the region
    inside the epicardium). Negative inside, positive outside (distances from
    :func:`scipy.ndimage.distance_transform_edt` with the in-plane voxel size). A slice without the
    structure gets ``+absent_mm`` everywhere (default: the slice spacing), so the structure ends within one
    slice spacing of its last slice.

    ``basal_mm`` (default: ``absent_mm``) is given instead to the slices beyond the structure's basal end
    (the slices after its last slice when ``base_last``, else before its first) when the slice just beyond
    that end still holds another structure: the heart goes on there, so the structure was stopped at a
    valve plane on a section of nearly full size (short-axis annotators stop the RV at the tricuspid and
    pulmonary valves while the LV outflow tract runs on) and ends bluntly, near the slice without it. Where
    nothing lies beyond (the heart's own end, or the stack's first or last slice) the end keeps ``absent_mm``.

    Examples
    --------
    A square RV on slices 0–1 of three, base last; slice 2 holds the LV (the heart goes on) or nothing:

    >>> a = np.zeros((3, 5, 5), np.uint8); a[:2, 1:4, 1:4] = 3; a[:, 2, 4] = 1
    >>> lr = LabelVolume(a, np.diag([10.0, 1, 1, 1]))
    >>> plain, blunt = signed_distance_slices(lr, 3, 5.0), signed_distance_slices(lr, 3, 5.0, basal_mm=1.0)
    >>> float(plain[2, 0, 0]), float(blunt[2, 0, 0])
    (5.0, 1.0)
    >>> a[2] = 0
    >>> float(signed_distance_slices(LabelVolume(a, lr.affine), 3, 5.0, basal_mm=1.0)[2, 0, 0])
    5.0
    """
    spacing = lr.spacing
    absent = float(spacing[0]) if absent_mm is None else float(absent_mm)
    basal = absent if basal_mm is None else float(basal_mm)
    region = np.isin(lr.array, np.atleast_1d(value))
    beyond_base: set[int] = set()
    first_beyond = basal_end_slice(lr, value, base_last=base_last) if basal != absent else None
    if first_beyond is not None:
        beyond_base = set(range(first_beyond, lr.shape[0]) if base_last else range(first_beyond + 1))
    out = np.empty(lr.shape, np.float32)
    for k in range(lr.shape[0]):
        mask = region[k]
        if not mask.any():
            out[k] = basal if k in beyond_base else absent
            continue
        inside = ndimage.distance_transform_edt(mask, sampling=spacing[1:])
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing[1:])
        # the boundary lies half a voxel between the last inside and the first outside voxel
        half = 0.5 * float(np.mean(spacing[1:]))
        out[k] = np.where(mask, half - inside, outside - half)
    return out


def basal_end_slice(lr: LabelVolume, value: int | Sequence[int], *, base_last: bool = True) -> int | None:
    """The first slice beyond a structure's basal end when it still holds the heart, else ``None``.

    The base is the stack's last slice side when ``base_last``, else its first. ``None`` when the structure
    is absent, reaches the stack's end, or the slice just beyond its basal end holds no label (the heart's
    own end).

    Examples
    --------
    >>> a = np.zeros((4, 3, 3), np.uint8); a[:2, 1, 1] = 3; a[:3, 0, 0] = 1
    >>> lr = LabelVolume(a, np.eye(4))
    >>> basal_end_slice(lr, 3), basal_end_slice(lr, 1), basal_end_slice(lr, 3, base_last=False)
    (2, None, None)
    """
    present = np.nonzero(np.isin(lr.array, np.atleast_1d(value)).any((1, 2)))[0]
    if not len(present):
        return None
    beyond = present[-1] + 1 if base_last else present[0] - 1
    if not 0 <= beyond < lr.shape[0] or not lr.array[beyond].any():
        return None
    return int(beyond)


def shape_based_interpolation(
    lr: LabelVolume, shape: tuple[int, int, int], affine: np.ndarray, absent_mm: float | None = None
) -> np.ndarray:
    """Shape-based interpolation (Raya & Udupa 1990) of a stack onto a target grid (the paper's SBI baseline).

    Parameters
    ----------
    lr:
        The low-resolution stack (internal labels, with its affine).
    shape, affine:
        The target grid: shape ``(D, H, W)`` in voxels and its 4×4 voxel → world (mm) affine.
    absent_mm:
        Signed distance given to a slice where a structure is absent (mm; default the slice spacing).

    Returns
    -------
    numpy.ndarray
        ``uint8`` internal labels of shape ``shape``: per voxel the structure whose interpolated signed
        distance is lowest, background where all are positive.

    Examples
    --------
    Two slices of the same disc give the disc in between:

    >>> import numpy as np
    >>> yy, xx = np.mgrid[:21, :21]
    >>> disc = ((yy - 10) ** 2 + (xx - 10) ** 2 <= 36).astype(np.uint8)
    >>> lr = LabelVolume(np.stack([disc, disc]), np.diag([10.0, 1, 1, 1]))
    >>> hr = np.diag([2.0, 1, 1, 1])
    >>> out = shape_based_interpolation(lr, (6, 21, 21), hr)
    >>> bool((out == disc[None]).all())
    True
    """
    sdf, inside = interpolated_signed_distances(lr, shape, affine, absent_mm)
    labels = labels_from_signed_distances(sdf)
    return np.where(inside, labels, 0).astype(np.uint8)


def interpolated_signed_distances(
    lr: LabelVolume,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    absent_mm: float | None = None,
    missing: Sequence[int] = (),
    flat: float = 0.0,
    shifts_mm: np.ndarray | None = None,
    *,
    basal_mm: float | None = None,
    base_last: bool = True,
    area_matched: bool = False,
    nested_myocardium: bool = False,
    basal_clearance_mm: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The signed distance maps of shape-based interpolation on a target grid: ``((3, *shape) mm, inside mask)``.

    Per structure (LV, MYO, RV) the slices' in-plane signed distances (:func:`signed_distance_slices`) are
    interpolated linearly between slice centres and in-plane at the target voxels; beyond the end slices
    the end slice's distance is used. Slices listed in ``missing`` (unsegmented slices inside the stack)
    take the linear interpolation of the nearest labelled slices instead of "absent". Within ``flat`` slice
    spacings of a slice's centre plane the slice's own distance is used (:func:`flatten_near_slices`); 0,
    the default, is plain shape-based interpolation. ``shifts_mm`` (``(D, 2)``, mm along rows and columns)
    moves each slice's distance map in-plane first (linear interpolation of the distances, so a boundary
    moves by a fraction of a pixel, as moving the labels cannot). ``basal_mm`` and ``base_last``: the distance
    of a slice beyond the RV's basal end where the heart goes on, and where the base is
    (:func:`signed_distance_slices`); the LV blood pool and myocardium end as anywhere else (giving them the
    same left 62 of ACDC's 20 mm-gap stacks as they were and cost a motion-free biv-me stack 0.001 in a run
    outside the repository; the RV's alone: ``benchmarks/fusion_basal.py``).
    ``area_matched``: between two segmented slices that both hold a structure, each target slice's distances
    are offset so that the section's area is the linear interpolation of theirs (:func:`match_areas`).
    ``nested_myocardium``: the myocardium is the region inside the interpolated epicardium (the LV blood pool
    and myocardium taken as one region) and outside the interpolated LV blood pool, ``max(epi, −LV)``
    (:func:`nest_myocardium`), instead of its own interpolated distances.
    ``basal_clearance_mm`` (with ``basal_mm``): the RV's blunt basal end stops at least this far (mm, along the
    slice axis) before the centre plane of the slice beyond it (:func:`basal_end_slice`), which shows no RV
    over its thickness: the RV's distances there are at least the distance to that plane ``basal_clearance_mm``
    before it. ``None``: no such limit.
    """
    coords, inside = _stack_coordinates(lr, shape, affine)
    n = np.asarray(lr.shape, float).reshape(3, 1, 1, 1)
    coords = np.clip(coords, 0.0, n - 1.0)  # within half a voxel of the ends: the end slice's distance
    if flat > 0.0:
        coords[0] = flatten_near_slices(coords[0], flat)
    present = [k for k in range(lr.shape[0]) if k not in set(missing)]
    regions: list[int | tuple[int, ...]] = [value for value, _ in STRUCTURES]
    if nested_myocardium:
        regions.append((LV, MYO))  # the epicardium
    out = np.empty((len(regions), *shape), np.float32)
    target_pixel_mm2 = float(np.prod(np.linalg.norm(np.asarray(affine)[:3, 1:3], axis=0)))

    def structure(i: int) -> None:
        basal = basal_mm if regions[i] == RV else None
        sdf = signed_distance_slices(lr, regions[i], absent_mm, basal_mm=basal, base_last=base_last)
        if shifts_mm is not None:
            pixels = np.nan_to_num(np.asarray(shifts_mm, float)) / np.asarray(lr.spacing[1:], float)
            for k in range(lr.shape[0]):
                if np.any(pixels[k]):
                    sdf[k] = ndimage.shift(sdf[k], pixels[k], order=1, mode="nearest")
        for k in missing:  # between labelled slices: interpolate their distances
            lo = max(j for j in present if j < k)
            hi = min(j for j in present if j > k)
            t = (k - lo) / (hi - lo)
            sdf[k] = (1.0 - t) * sdf[lo] + t * sdf[hi]
        # linear along the slice axis, linear in-plane: order-1 spline interpolation at the target voxels
        out[i] = ndimage.map_coordinates(sdf, coords, order=1, mode="nearest")
        if basal is not None and basal_clearance_mm is not None:
            beyond = basal_end_slice(lr, regions[i], base_last=base_last)
            if beyond is not None:  # the RV stops basal_clearance_mm before the slice beyond its blunt end
                towards = 1.0 if base_last else -1.0
                stop = (coords[0] - beyond) * towards * float(lr.spacing[0]) + float(basal_clearance_mm)
                np.maximum(out[i], stop, out=out[i])
        if area_matched:
            areas = np.isin(lr.array, np.atleast_1d(regions[i])).sum((1, 2)) * float(np.prod(lr.spacing[1:]))
            match_areas(out[i], coords[0], inside, areas, present, target_pixel_mm2)

    thread_map(structure, range(len(regions)))  # scipy releases the GIL: the structures at once
    if nested_myocardium:
        return nest_myocardium(out[: len(STRUCTURES)], out[len(STRUCTURES)]), inside
    return out, inside


def nest_myocardium(sdf: np.ndarray, epicardium: np.ndarray) -> np.ndarray:
    """Replace the myocardium's signed distances by ``max(epicardium, −LV)`` (in place; returns ``sdf``).

    The myocardium is a wall between two nested surfaces. Interpolated on its own, a wall whose sections are
    offset by more than its thickness, or change from a ring to a cap, thins or breaks between the slices
    (the mean of two ring distance maps is negative only where both rings nearly are). The region inside the
    epicardium (LV blood pool and myocardium together) and the LV blood pool are solid, so their
    interpolations stay whole; the wall is what lies inside the one and outside the other.

    Parameters
    ----------
    sdf:
        ``(3, D, H, W)`` signed distances (mm, negative inside) of the structures in the order of
        :data:`cardiosr.labels.STRUCTURES` (LV, MYO, RV).
    epicardium:
        ``(D, H, W)`` signed distances (mm) of the LV blood pool and myocardium taken as one region.

    Examples
    --------
    A disc of radius 5 inside a disc of radius 8: the wall is the ring between them.

    >>> yy, xx = np.mgrid[-10:11, -10:11]
    >>> r = np.hypot(yy, xx)[None]
    >>> sdf = np.stack([r - 5, np.full(r.shape, 99.0), np.full(r.shape, 99.0)])
    >>> wall = nest_myocardium(sdf, r - 8)[1]
    >>> [bool(wall[0, 10, 10 + i] < 0) for i in (0, 4, 6, 7, 9)]
    [False, False, True, True, False]
    """
    lv = [i for i, (value, _) in enumerate(STRUCTURES) if value == LV][0]
    myo = [i for i, (value, _) in enumerate(STRUCTURES) if value == MYO][0]
    sdf[myo] = np.maximum(epicardium, -sdf[lv])
    return sdf


def match_areas(
    sdf: np.ndarray,
    t: np.ndarray,
    inside: np.ndarray,
    areas: np.ndarray,
    present: Sequence[int],
    pixel_mm2: float,
) -> None:
    """Offset each target slice's interpolated distances so that the section's area is the linear
    interpolation of the areas of the two stack slices around it (in place).

    Shape-based interpolation shrinks a section between two slices whose sections are offset or differ in
    shape (the mean of two distance maps is negative only where both are nearly so); a structure's area
    varies smoothly along a heart. Only target slices between two segmented slices that both hold the
    structure are changed: a structure's ends keep shape-based interpolation. The target grid's slices are
    taken to be parallel to the stack's, as the canonical grid's are: a target slice's position along the
    stack is the mean of ``t`` over it.

    Parameters
    ----------
    sdf:
        ``(D, H, W)`` interpolated signed distances of one structure on the target grid, mm.
    t:
        ``(D, H, W)`` the stack's (fractional) slice index of every target voxel.
    inside:
        ``(D, H, W)`` target voxels inside the stack's field of view.
    areas:
        The structure's area in every stack slice, mm².
    present:
        The segmented stack slices.
    pixel_mm2:
        The target grid's in-plane pixel area, mm².

    Examples
    --------
    Two squares of 36 pixels offset by 4 pixels: plain interpolation gives a smaller section midway; matched
    areas give nearly 36 pixels again (pixels at equal distances go in or out together).

    >>> a = np.zeros((2, 20, 20)); a[0, 5:11, 5:11] = 1; a[1, 5:11, 9:15] = 1
    >>> from scipy import ndimage
    >>> d = np.stack([ndimage.distance_transform_edt(1 - x) - ndimage.distance_transform_edt(x) for x in a])
    >>> mid = (0.5 * (d[0] + d[1]))[None]
    >>> int((mid < 0).sum())
    24
    >>> match_areas(mid, np.full(mid.shape, 0.5), np.ones(mid.shape, bool), np.array([36.0, 36.0]), [0, 1], 1.0)
    >>> int((mid < 0).sum())
    32
    """
    segmented = set(int(k) for k in present)
    for j in range(sdf.shape[0]):
        if not inside[j].any():
            continue
        position = float(np.mean(t[j][inside[j]]))
        k = int(np.floor(position))
        if k + 1 >= len(areas) or k < 0 or not {k, k + 1} <= segmented or areas[k] == 0 or areas[k + 1] == 0:
            continue
        f = position - k
        wanted = int(round(((1.0 - f) * areas[k] + f * areas[k + 1]) / pixel_mm2))
        values = np.sort(sdf[j][inside[j]], axis=None)
        if not 0 < wanted < len(values):
            continue
        sdf[j] -= 0.5 * (values[wanted - 1] + values[wanted])


def flatten_near_slices(t: np.ndarray, flat: float) -> np.ndarray:
    """Move slice coordinates within ``flat`` (slice spacings) of a slice centre onto it, stretching the rest.

    ``t`` is a (fractional) slice index. Its distance ``f`` to the nearest slice centre (0 … 0.5) becomes
    ``0.5 · max(0, f − flat) / (0.5 − flat)``: 0 within ``flat`` of the centre, unchanged midway, linear in
    between. Interpolating at the new coordinates keeps each slice's value on a plateau around its centre.

    Examples
    --------
    >>> flatten_near_slices(np.array([0.0, 0.1, 0.3, 0.5, 0.9, 1.0]), 0.1).round(3).tolist()
    [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    """
    flat = min(max(float(flat), 0.0), 0.499)
    centre = np.rint(t)
    f = t - centre
    stretched = 0.5 * np.maximum(np.abs(f) - flat, 0.0) / (0.5 - flat)
    return centre + np.sign(f) * stretched


def labels_from_signed_distances(sdf: np.ndarray) -> np.ndarray:
    """Per voxel the structure of lowest signed distance, background where all are positive (``uint8``)."""
    best = sdf.argmin(0)
    labels = np.asarray([value for value, _ in STRUCTURES], np.uint8)[best]
    return np.where(sdf.min(0) < 0, labels, 0).astype(np.uint8)
