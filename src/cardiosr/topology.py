"""Clean topology of a label map: one face-connected piece per structure, no enclosed holes.

A decoded or resampled label map can keep single-voxel islands (a few RV voxels inside the myocardium, a
speck of myocardium in the background) and enclosed background bubbles. Neither is anatomy: every output of
cardiosr goes through :func:`clean_topology`.

Connectivity follows the usual digital-topology pairing: structures are face-connected (6-connectivity),
background is 26-connected, so a hole is a background region that no diagonal path leads out of.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cardiosr.labels import LV, MYO, RV

FACES = ndimage.generate_binary_structure(3, 1)
"""6-connectivity: voxels sharing a face."""
CORNERS = ndimage.generate_binary_structure(3, 3)
"""26-connectivity: voxels sharing a face, an edge or a corner."""


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest face-connected piece of a boolean mask (the mask itself when it has at most one piece)."""
    components, n = ndimage.label(mask, structure=FACES)
    if n <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == sizes.argmax()


def _enclosed_background(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background regions (26-connected) that do not reach the array's border.

    Returns the region map, the numbers of the enclosed regions and, per region, how many face neighbours
    carry each label (``(n + 1, 4)``).
    """
    background, n = ndimage.label(labels == 0, structure=CORNERS)
    border = np.unique(np.concatenate([np.moveaxis(background, a, 0)[[0, -1]].ravel() for a in range(3)]))
    enclosed = np.setdiff1d(np.arange(1, n + 1), border)
    counts = np.zeros((n + 1, 4), np.int64)
    if enclosed.size:
        for axis in range(3):
            for step in (1, -1):
                there = np.roll(labels, step, axis=axis)
                valid = np.ones(labels.shape, bool)
                np.moveaxis(valid, axis, 0)[0 if step == 1 else -1] = False  # no wrap-around
                pick = valid & (background > 0) & (there > 0)
                np.add.at(counts, (background[pick], there[pick].astype(np.int64)), 1)
    return background, enclosed, counts


def topology_report(labels: np.ndarray) -> dict[str, dict[str, int]]:
    """Face-connected components and enclosed background holes of each structure.

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels.

    Returns
    -------
    dict
        ``{"LV": {"components": n, "holes": m}, "MYO": ..., "RV": ...}``; a hole is a 26-connected
        background region that does not reach the border of the array, counted for the structure most of
        its face neighbours belong to.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 12, 9), np.uint8); lab[1:4, 1:8, 1:8] = 2; lab[1:4, 9:11, 1:8] = 3
    >>> lab[2, 4, 4] = 0; lab[2, 2, 2] = 3
    >>> topology_report(lab)
    {'LV': {'components': 0, 'holes': 0}, 'MYO': {'components': 1, 'holes': 1}, 'RV': {'components': 2, 'holes': 0}}
    """
    _, enclosed, counts = _enclosed_background(labels)
    owner = counts[enclosed].argmax(1) if enclosed.size else np.zeros(0, int)
    return {
        name: {
            "components": int(ndimage.label(labels == value, structure=FACES)[1]),
            "holes": int((owner == value).sum()),
        }
        for value, name in ((LV, "LV"), (MYO, "MYO"), (RV, "RV"))
    }


def clean_topology(labels: np.ndarray) -> np.ndarray:
    """Keep the largest face-connected piece of each structure and fill enclosed background holes.

    Voxels of the smaller pieces become background; every background region that does not reach the border
    of the array (a hole, 26-connected) then takes the label most of its face neighbours carry.

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels (0 background, 1 LV, 2 MYO, 3 RV).

    Returns
    -------
    numpy.ndarray
        A cleaned copy, same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.zeros((5, 12, 9), np.uint8); lab[1:4, 1:8, 1:8] = 2; lab[1:4, 9:11, 1:8] = 3
    >>> lab[2, 4, 4] = 0          # a hole in the myocardium
    >>> lab[2, 2, 2] = 3          # an RV island inside it
    >>> out = clean_topology(lab)
    >>> int(out[2, 4, 4]), int(out[2, 2, 2]), int((out == 3).sum())
    (2, 2, 42)
    """
    out = np.array(labels, copy=True)
    heart = np.argwhere(out > 0)
    if heart.size == 0:
        return out
    # Work on the heart's bounding box plus a background margin of one voxel: same answer, less work.
    low = np.maximum(heart.min(0) - 1, 0)
    high = np.minimum(heart.max(0) + 2, out.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    out[box] = _clean(out[box])
    return out


def _clean(out: np.ndarray) -> np.ndarray:
    for value in (LV, MYO, RV):
        mask = out == value
        out[mask & ~largest_component(mask)] = 0
    background, enclosed, counts = _enclosed_background(out)
    if enclosed.size:
        fill = np.zeros(len(counts), out.dtype)
        fill[enclosed] = counts[enclosed].argmax(1)
        holes = np.isin(background, enclosed)
        out[holes] = fill[background[holes]]
    return out
