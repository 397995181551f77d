"""Slice shifts read where the short-axis slices cross the long-axis views (beyond the paper).

A long-axis view is acquired in one breath-hold and cuts every short-axis slice along a line. Along that
line the view shows the heart as it lies in the view's world position, and slice ``k`` shows the same
heart moved by its breathing shift ``d_k``: the content at world point ``x`` of the slice is the heart's at
``x − d_k``. So ``d_k`` is the in-plane translation that makes the slice's labels along the line agree best
with the view's, whatever shape the heart has: no shape prior enters, so a prior's preference for one
shape over another (a tilt of the long axis, section *prior-tilt-bias* of ``docs/benchmarks.md``) cannot
pull it. A view measures the component of ``d_k`` along its line directly (the labels slide along it)
and the component across it only through how the cross-section changes from one chord to the next; two
views at an angle (the two- and four-chamber views are about 90° apart) measure both. A view is taken where its
header puts it: one acquired in its own breath-hold moves every slice alike along its lines (a common
translation), but across them and along the long axis it cuts the heart elsewhere, which biases the shifts it
measures (the README's *the long-axis views' crossings*: about 0.015 mean Dice on real hearts at the paper's
normal breathing amplitude).

:func:`view_alignment_shifts` scores every candidate shift of a slice by the Dice of LV, MYO and RV along
each line where it crosses a view (summed over the structures, averaged over the lines: the frames of a cine
share their shifts, so every frame's lines add evidence), on a 1 mm grid within ``reach_mm`` and then a
0.25 mm grid around the best, and takes the mean of the candidates that share the best score (labels are
sampled by nearest neighbour, so the score is flat over fractions of a pixel). A small penalty on the
distance from a reference estimate (a stack-only estimate: :func:`cardiosr.slice_alignment.alignment_shifts`)
decides between equal scores, so a component the views cannot tell keeps the reference's value; a slice no
view crosses with at least ``MIN_LINE_POINTS`` heart points, or with less than ``MIN_SLICE_AREA_MM2`` of heart
(an apical or basal slice with a few pixels of heart), gets the mean shift of the slices the views see: no
motion of its own, as a stack-only estimate is least reliable on such slices (on the voxelised biv-me heart
the slice alignment put its basal slice of 29 pixels 8 mm off). The reference is in a gauge of its own (a
stack-only estimate: the zero-mean gauge) and the views fix the world position, so the penalty pulls towards
the reference moved by its offset from the best scores, along the directions the lines measure.
:func:`unmeasured_directions` gives, per slice, the directions of its shift that no view measures: the
only ones a later search of the shifts moves (:func:`cardiosr.optimise.init.keep_measured`).

Why written here: image registration libraries (SimpleITK, ``skimage.registration``) align one image to
another of the same dimension; here each slice is matched to one-dimensional profiles in other images'
planes, through the scanner's world coordinates. The idea is that of segmentation-based motion correction of
multi-view cardiac MR (e.g. Sinclair et al., 2017), which no maintained library implements.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cardiosr.labels import LV, MYO, RV
from cardiosr.volume import LabelVolume

#: Largest shift searched per slice and axis, mm (severe motion in the paper's model reaches about 13 mm).
VIEW_REACH_MM = 15.0
#: Points (1 mm apart) of view labels a crossing line needs to count as seeing the slice.
MIN_LINE_POINTS = 4
#: Heart area (mm²) a slice needs for its own shift to be read: a speck of heart moves any way without
#: changing the score much (on the voxelised biv-me heart a basal slice of 29 pixels, 45 mm², came out 10 mm off).
MIN_SLICE_AREA_MM2 = 100.0
#: Smallest angle (degrees) between crossing lines for both in-plane directions of a slice's shift to count as
#: measured (:func:`unmeasured_directions`): with lines at angle θ the weaker direction carries (1 − cos θ) of
#: the evidence; the two- and four-chamber views cross at about 90°.
MEASURED_ANGLE_DEG = 45.0
#: Penalty per mm² of distance from the reference estimate, in units of the score (Dice summed over three
#: structures): small enough to decide only between equal scores (1 mm costs 0.001, a one-pixel slide of a
#: 50 mm chord about 0.05).
TIE_WEIGHT = 1e-3
#: :func:`view_motion_evidence` (gain of the crossings' score over no motion) above which the views corroborate
#: motion in the motion test by themselves (:func:`cardiosr.optimise.motion_test.views_show_motion`): above the
#: largest value per-slice freedom found without motion on the 480 motion-free stacks of
#: ``benchmarks/view_evidence.py`` (0.14, on real hearts with views in their own breath-holds; at most 0.08 with
#: still views); 14 of its 480 normal-motion draws lay at or below it.
VIEW_MOTION_EVIDENCE_ALONE = 0.15
#: :func:`view_motion_evidence` above which the views corroborate motion when the stack's own loss gains too (the
#: fixed estimate's relative gain over ``d = 0`` above τs): 8 of those 480 motion-free stacks lay above it (real
#: hearts with moved views; the three run through ``enhance`` had gained −0.070 to −0.012 at the decision), 2 of
#: the normal-motion draws at or below it.
VIEW_MOTION_EVIDENCE = 0.12


def crossing_line(
    sa: LabelVolume, view: LabelVolume, k: int, *, step_mm: float = 1.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the centre plane of slice ``k`` of ``sa`` crosses ``view``: the points' pixel coordinates in the
    slice ``(n, 2)`` (rows, columns) and the view's labels there ``(n,)``, points ``step_mm`` apart; ``None``
    when the planes are parallel or the line misses the view.

    Examples
    --------
    >>> sa = LabelVolume(np.zeros((3, 10, 10), np.uint8), np.diag([10.0, 1.0, 1.0, 1.0]))  # slices at x = 0, 10, 20
    >>> la = np.zeros((1, 30, 10), np.uint8); la[0, :, 4] = 1
    >>> plane = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 5], [0, 0, 0, 1.0]])  # the plane z = 5 mm
    >>> ij, labels = crossing_line(sa, LabelVolume(la, plane), 1)
    >>> ij.round(6).tolist()[:3], labels.tolist()
    ([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    """
    to_slice = np.linalg.inv(sa.affine) @ view.affine  # view voxel (0, a, b) → stack voxel (k, i, j)
    c0, c1, c2 = to_slice[0, 3], to_slice[0, 1], to_slice[0, 2]
    norm = float(np.hypot(c1, c2))
    if norm < 1e-9:
        return None
    normal = np.array([c1, c2]) / norm
    along = np.array([-normal[1], normal[0]])
    rows, cols = view.shape[1:]
    mm_per_unit = float(np.linalg.norm(view.affine[:3, 1:3] @ along))
    t = np.arange(-(rows + cols), rows + cols, step_mm / mm_per_unit)
    ab = normal * (k - c0) / norm + t[:, None] * along  # view pixel coordinates on the line
    keep = (ab[:, 0] > -0.5) & (ab[:, 0] < rows - 0.5) & (ab[:, 1] > -0.5) & (ab[:, 1] < cols - 0.5)
    if not keep.any():
        return None
    ab = ab[keep]
    labels = view.array[0][np.rint(ab[:, 0]).astype(int), np.rint(ab[:, 1]).astype(int)]
    ij = ab @ to_slice[1:3, 1:3].T + to_slice[1:3, 3]
    return ij, labels


def _scores(
    items: Sequence[tuple[np.ndarray, Sequence[tuple[np.ndarray, np.ndarray]], Sequence[float]]],
    candidates: np.ndarray,
) -> np.ndarray:
    """Mean over the frames ``items`` (each ``(labels, lines, spacing)``) of the mean over its ``lines`` of the
    Dice of LV, MYO and RV (summed) between the view's labels and the slice's ``labels`` moved by each candidate
    shift ``(m, 2)`` mm: ``(m,)``.

    Frames whose lines run through the same points (a cine's views share their geometry) share the lookup of
    where each candidate moves them; only the labels read there differ.
    """
    lookups: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    total = np.zeros(len(candidates))
    for labels, lines, spacing in items:
        rows, cols = labels.shape
        step = candidates / np.asarray(spacing, float)[None]
        score = np.zeros(len(candidates))
        for ij, view_labels in lines:
            key = (ij.tobytes(), rows, cols, step.tobytes())
            if key not in lookups:
                at = ij[None] + step[:, None]  # the heart at x lies at x + d in a slice moved by d
                i, j = np.rint(at[..., 0]).astype(np.intp), np.rint(at[..., 1]).astype(np.intp)
                inside = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
                lookups[key] = (np.where(inside, i * cols + j, 0), ~inside)
            flat, outside = lookups[key]
            moved = labels.ravel()[flat]
            moved[outside] = 0
            for value in (LV, MYO, RV):
                a, b = moved == value, view_labels == value
                both = np.count_nonzero(a[:, b], axis=1)
                score += 2.0 * both / np.maximum(np.count_nonzero(a, axis=1) + np.count_nonzero(b), 1.0)
        total += score / max(len(lines), 1)
    return total / max(len(items), 1)


def _crossings(stacks, views) -> tuple[np.ndarray, dict]:
    """The slices with heart labels in any frame ``(D,)`` and, for every slice a view sees, every frame's
    ``(labels, crossing lines, pixel spacing)``."""
    frames = [stacks] if isinstance(stacks, LabelVolume) else list(stacks)
    per_frame = [list(views)] if isinstance(stacks, LabelVolume) else [list(v) for v in views]
    if len(per_frame) != len(frames):
        raise ValueError(f"{len(frames)} stacks but views for {len(per_frame)}")
    depth = frames[0].shape[0]
    heart = np.zeros(depth, bool)
    for frame in frames:
        heart |= frame.array.reshape(depth, -1).any(1)
    work = {}
    for k in np.nonzero(heart)[0]:
        items = []
        for frame, frame_views in zip(frames, per_frame, strict=True):
            if (frame.array[k] > 0).sum() * float(np.prod(frame.spacing[1:])) >= MIN_SLICE_AREA_MM2:
                lines = [line for view in frame_views if (line := crossing_line(frame, view, int(k))) is not None]
                lines = [line for line in lines if int((line[1] > 0).sum()) >= MIN_LINE_POINTS]
                if lines:
                    items.append((frame.array[k], lines, frame.spacing[1:]))
        if items:
            work[int(k)] = items
    return heart, work


def _direction(ij: np.ndarray, spacing) -> np.ndarray:
    """The unit direction (rows, columns; mm) of a crossing line's points ``ij``."""
    u = (ij[-1] - ij[0]) * np.asarray(spacing, float)
    return u / max(float(np.linalg.norm(u)), 1e-9)


def unmeasured_directions(
    stacks: LabelVolume | Sequence[LabelVolume],
    views: Sequence[LabelVolume] | Sequence[Sequence[LabelVolume]],
) -> np.ndarray:
    """Per slice, the projection ``(D, 2, 2)`` onto the in-plane directions of its shift that no view measures
    (:func:`view_alignment_shifts`): the identity for a slice no view sees, 0 for one whose crossing lines run
    in two directions at least :data:`MEASURED_ANGLE_DEG` apart (two views), and the projection across the
    line for one seen along a single direction (one view). A search of the shifts from the views' estimate moves
    only these components.

    Examples
    --------
    >>> lab = np.zeros((20, 40, 40), np.uint8); lab[2:18, 12:28, 10:20] = 1; lab[2:18, 12:28, 20:30] = 3
    >>> hr = LabelVolume(lab, np.diag([2.0, 1.5, 1.5, 1.0]))
    >>> from cardiosr.degradation import long_axis_view
    >>> four, two = long_axis_view(hr, pixel_mm=1.0, size=80), long_axis_view(hr, view="2ch", pixel_mm=1.0, size=80)
    >>> stack = LabelVolume(lab[1::5].copy(), np.diag([10.0, 1.5, 1.5, 1.0]))
    >>> unmeasured_directions(stack, [four, two])[1].round(6).tolist()   # both directions measured
    [[0.0, 0.0], [0.0, 0.0]]
    >>> unmeasured_directions(stack, [four])[1].round(6).tolist()       # the 4ch line runs along the columns
    [[1.0, 0.0], [0.0, 0.0]]
    >>> unmeasured_directions(stack, [four])[0].round(6).tolist()       # slice 0 holds no heart: unseen
    [[1.0, 0.0], [0.0, 1.0]]
    """
    heart, work = _crossings(stacks, views)
    free = np.tile(np.eye(2), (len(heart), 1, 1))
    threshold = 1.0 - np.cos(np.radians(MEASURED_ANGLE_DEG))
    for k, items in work.items():
        us = [_direction(ij, spacing) for _, lines, spacing in items for ij, _ in lines]
        # two equally seen directions at angle θ give eigenvalues (1 ± cos θ) / 2
        values, vectors = np.linalg.eigh(np.mean([np.outer(u, u) for u in us], axis=0))
        weak = vectors[:, values < threshold / 2.0]
        free[k] = weak @ weak.T
    return free


def view_alignment_shifts(
    stacks: LabelVolume | Sequence[LabelVolume],
    views: Sequence[LabelVolume] | Sequence[Sequence[LabelVolume]],
    *,
    reference: np.ndarray | None = None,
    reach_mm: float = VIEW_REACH_MM,
) -> np.ndarray:
    """In-plane shift of every slice (mm) that makes the stack agree with the long-axis views where they cross.

    Parameters
    ----------
    stacks:
        The short-axis stack (internal labels, slices along axis 0), or the frames of a cine (one geometry),
        whose slices share their shifts.
    views:
        The long-axis views (single slices in the same world space as the stack): for one stack a sequence of
        views, for a cine one sequence per frame (empty for a frame without views).
    reference:
        ``(D, 2)`` shifts (mm, any gauge) kept, moved into the views' world position, for a component no view
        measures (default 0).
    reach_mm:
        Largest shift searched per slice and axis, mm.

    Returns
    -------
    numpy.ndarray
        ``(D, 2)`` shifts along the stack's rows and columns, mm (the slice content was moved by ``+d``, the
        convention of :class:`~cardiosr.degradation.SliceShift`), in the views' world position (no gauge is
        imposed: the views fix it); 0 for slices without heart labels in any frame.

    Examples
    --------
    >>> lab = np.zeros((20, 40, 40), np.uint8); lab[2:18, 12:28, 10:20] = 1; lab[2:18, 12:28, 20:30] = 3
    >>> hr = LabelVolume(lab, np.diag([2.0, 1.5, 1.5, 1.0]))
    >>> from cardiosr.degradation import long_axis_view
    >>> views = [long_axis_view(hr, pixel_mm=1.0, size=80), long_axis_view(hr, view="2ch", pixel_mm=1.0, size=80)]
    >>> stack = LabelVolume(lab[1::5].copy(), np.diag([10.0, 1.5, 1.5, 1.0]) @ np.eye(4))
    >>> stack.affine[0, 3] = 2.0                                    # slices at z = 2, 12, 22, 32 mm
    >>> stack.array[2] = np.roll(stack.array[2], 2, axis=0)          # slice 2 moved by 2 rows of 1.5 mm
    >>> d = view_alignment_shifts(stack, views)
    >>> bool(abs(d[2, 0] - 3.0) < 0.5), bool(np.abs(np.delete(d, 2, 0)).max() < 0.75)  # within half a pixel
    (True, True)
    """
    depth = (stacks if isinstance(stacks, LabelVolume) else stacks[0]).shape[0]
    reference = np.zeros((depth, 2)) if reference is None else np.asarray(reference, float)
    heart, work = _crossings(stacks, views)
    d = np.array(reference, float)
    if work:
        # the views fix the world position, the reference is in a gauge of its own: the offset between the
        # two, along the directions the lines measure, from the best scores alone (no pull towards the reference)
        # the 1 mm grid's scores do not depend on the reference: scored once per slice for both passes
        grid = _grid(np.zeros(2), 1.0, reach_mm)
        coarse = {k: _scores(items, grid) for k, items in work.items()}
        best = {
            k: _best_over_frames(items, reference[k], reach_mm, tie_weight=0.0, coarse=coarse[k])
            for k, items in work.items()
        }
        offset = _offset(best, reference, work)
        for k, items in work.items():
            d[k] = _best_over_frames(items, reference[k] + offset, reach_mm, coarse=coarse[k])
        unseen = heart.copy()
        unseen[list(work)] = False
        d[unseen] = d[list(work)].mean(0)
    d[~heart] = 0.0
    return d


def _offset(best: dict[int, np.ndarray], reference: np.ndarray, work) -> np.ndarray:
    """The translation ``c`` (mm) that best moves ``reference`` onto the unpenalised best shifts ``best`` along the
    directions their crossing lines measure (least squares; a direction no line has gets 0)."""
    normal, rhs = np.zeros((2, 2)), np.zeros(2)
    for k, items in work.items():
        for _, lines, spacing in items:
            for ij, _ in lines:
                u = _direction(ij, spacing)
                normal += np.outer(u, u)
                rhs += np.outer(u, u) @ (best[k] - reference[k])
    return np.linalg.pinv(normal, rcond=1e-3) @ rhs


def _grid(centre: np.ndarray, step: float, half: float) -> np.ndarray:
    """The candidate shifts ``(m, 2)`` mm: a square grid of ``step`` within ``half`` of ``centre`` along each axis."""
    axis = np.arange(-half, half + 1e-9, step)
    return centre + np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def _best_over_frames(
    work, reference: np.ndarray, reach_mm: float, tie_weight: float = TIE_WEIGHT, coarse: np.ndarray | None = None
) -> np.ndarray:
    """The shift of one slice from every frame's lines (the frames share it): a 1 mm grid within ``reach_mm``,
    then a 0.25 mm grid within 1.5 mm of its best, the mean of the candidates with the best score.
    ``coarse``: the 1 mm grid's scores, when already computed."""
    centre = np.zeros(2)
    for step, half in ((1.0, reach_mm), (0.25, 1.5)):
        grid = _grid(centre, step, half)
        score = coarse if step == 1.0 and coarse is not None else _scores(work, grid)
        score = score - tie_weight * ((grid - reference) ** 2).sum(1)
        top = score >= score.max() - 1e-9
        centre = grid[top].mean(0) if step < 1.0 else grid[np.argmax(score)]
    return centre


def view_motion_evidence(
    stack: LabelVolume | Sequence[LabelVolume],
    views: Sequence[LabelVolume] | Sequence[Sequence[LabelVolume]],
    shifts: np.ndarray,
    *,
    reach_mm: float = 6.0,
) -> float | None:
    """How much better the slices agree with the long-axis views where they cross under ``shifts`` (``(D, 2)``
    mm, in the views' world position) than under the best shift shared by every slice (no motion): the gain of
    the crossings' score (Dice of LV, MYO and RV summed, averaged over the slices the views see), searched for
    the shared shift on a 0.5 mm grid within ``reach_mm`` of the slices' mean shift. ``None`` when no view sees
    a slice. ``stack`` and ``views`` as in :func:`view_alignment_shifts`: for a cine, its frames and one sequence
    of views per frame, every frame's lines scored with the shared ``shifts``. Per-slice freedom alone finds some
    gain on a still heart (0.02–0.14 on the motion-free real stacks of ``benchmarks/view_evidence.py``, with views
    still or moved by their own breath-holds); breathing motion gives more (0.10–0.42 with normal motion, 0.59–1.12
    with severe): :data:`VIEW_MOTION_EVIDENCE_ALONE`, :data:`VIEW_MOTION_EVIDENCE`.

    Examples
    --------
    >>> from cardiosr.degradation import long_axis_view
    >>> lab = np.zeros((20, 40, 40), np.uint8); lab[2:18, 12:28, 10:20] = 1; lab[2:18, 12:28, 20:30] = 3
    >>> hr = LabelVolume(lab, np.diag([2.0, 1.5, 1.5, 1.0]))                    # two views, 1 mm pixels:
    >>> views = [long_axis_view(hr, view=v, pixel_mm=1.0, size=80) for v in ("4ch", "2ch")]
    >>> stack = LabelVolume(lab[1::5].copy(), np.diag([10.0, 1.5, 1.5, 1.0])); stack.affine[0, 3] = 2.0
    >>> round(view_motion_evidence(stack, views, np.zeros((4, 2))), 6)        # a still stack: nothing to gain
    0.0
    >>> stack.array[2] = np.roll(stack.array[2], 4, axis=1)                    # slice 2 moved by 6 mm
    >>> d = np.zeros((4, 2)); d[2, 1] = 6.0
    >>> bool(view_motion_evidence(stack, views, d) > VIEW_MOTION_EVIDENCE)
    True
    """
    _, work = _crossings(stack, views)
    if not work:
        return None
    shifts = np.asarray(shifts, float)
    grid = _grid(shifts[list(work)].mean(0), 0.5, reach_mm)
    at, shared = 0.0, np.zeros(len(grid))
    for k, items in work.items():
        at += _scores(items, shifts[k][None])[0]
        shared += _scores(items, grid)
    return float((at - shared.max()) / len(work))
