"""Where the heart ends, read from the long-axis views (beyond the paper).

A short-axis stack says only that the heart ends somewhere between its last slice with heart labels and the
next slice without (10 mm, or 20 mm where slices are missing): the fusion's interpolation
(:mod:`cardiosr.fidelity`) carries the heart about halfway into that gap, and the prior beyond the stack.
A long-axis view crosses every plane of that gap along a line and shows whether the heart is still there.
:func:`heart_end_planes` gives the planes of an output grid, parallel to the slices, that lie in such a gap
(or beyond the stack), not next to a slice with heart labels, and where every view that crosses them shows
no heart label along its line, within a margin along the slice normal for the view's own breath-hold; the
fusion clears them
(:func:`cardiosr.fidelity.fused_labels`, ``view_ends_mm``). A plane between two acquired slices that both
hold the heart is never cleared: there the stack itself says the heart goes on.

Why written here: it reads the views' labels where their planes cross other planes
(:func:`cardiosr.view_alignment.crossing_line`), through the scanner's world coordinates, which no imaging
library offers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cardiosr.view_alignment import crossing_line
from cardiosr.volume import LabelVolume


def heart_end_planes(
    shape: Sequence[int],
    affine: np.ndarray,
    sa: LabelVolume,
    views: Sequence[LabelVolume],
    *,
    margin_mm: float,
) -> np.ndarray:
    """``(shape[0],)`` bool: the planes of a grid (along its first axis) beyond the heart's end by the views.

    Parameters
    ----------
    shape, affine:
        The grid (voxel → world, mm). Its planes along the first axis must be parallel to the stack's slices
        (the canonical grid and :func:`cardiosr.geometry.hr_grid` are); otherwise no plane is returned.
    sa:
        The short-axis stack as acquired (internal labels, slices along axis 0).
    views:
        Long-axis views (single slices) in the stack's world space.
    margin_mm:
        A plane is kept when a view shows a heart label on any plane within this distance (mm) of it
        (``enhance``: :attr:`cardiosr.optimise.OptimiseOptions.view_ends_mm`, where the default is chosen).

    Returns
    -------
    numpy.ndarray
        True for a plane that does not lie between two acquired slices that both hold heart labels nor within
        one plane spacing of a slice with heart labels (the planes the slice is reproduced from, Eq. 1), that
        at least one view crosses, and where no view shows a heart label within ``margin_mm``.

    Examples
    --------
    A heart on slices 1 and 2 of a stack whose slices lie 10 mm apart along x, and a view (the plane z = 10 mm)
    that shows it from x = 5 to 25 mm; the grid's planes lie 2 mm apart from x = 0:

    >>> sa = LabelVolume(np.zeros((4, 20, 20), np.uint8), np.diag([10.0, 1.0, 1.0, 1.0]))
    >>> sa.array[1:3, 5:15, 5:15] = 1
    >>> la = np.zeros((1, 40, 20), np.uint8); la[0, 5:26, 5:15] = 1      # rows: x (mm), columns: y (mm)
    >>> plane = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 10], [0, 0, 0, 1.0]])
    >>> view = LabelVolume(la, plane)
    >>> grid = np.diag([2.0, 1.0, 1.0, 1.0])
    >>> np.flatnonzero(heart_end_planes((16, 20, 20), grid, sa, [view], margin_mm=0.0)).tolist()  # x mm / 2
    [0, 1, 2, 13, 14, 15]
    >>> np.flatnonzero(heart_end_planes((16, 20, 20), grid, sa, [view], margin_mm=2.0)).tolist()
    [0, 1, 14, 15]
    """
    planes = np.zeros(int(shape[0]), bool)
    to_sa = np.linalg.inv(sa.affine) @ np.asarray(affine, float)  # grid voxel → stack voxel
    if not views or np.abs(to_sa[0, 1:3]).max() > 1e-6 * max(1.0, abs(to_sa[0, 0])):
        return planes
    heart = (sa.array > 0).any((1, 2))
    with_heart = np.flatnonzero(heart)
    depth, step = len(heart), abs(to_sa[0, 0])  # the grid's plane spacing, in slices
    margin = margin_mm / float(sa.spacing[0])  # in slices
    offsets = np.linspace(-margin, margin, 2 * int(np.ceil(margin_mm)) + 1)
    for p in range(len(planes)):
        k = to_sa[0, 0] * p + to_sa[0, 3]  # the plane's position along the stack, in slices
        lo, hi = int(np.floor(k + 1e-6)), int(np.ceil(k - 1e-6))
        if 0 <= lo and hi < depth and heart[lo] and heart[hi]:
            continue  # the stack itself holds the heart on both sides
        if with_heart.size and np.abs(k - with_heart).min() < step - 1e-6:
            continue  # a plane next to a slice with heart: what reproduces that slice (Eq. 1) stays
        crossed = shown = False
        for view in views:
            for offset in offsets:
                line = crossing_line(sa, view, k + offset)
                if line is not None:
                    crossed = True
                    shown = shown or bool((line[1] > 0).any())
        planes[p] = crossed and not shown
    return planes
