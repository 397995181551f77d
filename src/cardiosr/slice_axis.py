"""The slice axis of a file and the internal axis order ``(D, H, W)``: which on-disk axis is the slice axis, and the
permutation between the on-disk and the internal order (array and affine together, every voxel keeping its
world position). NumPy only; :mod:`cardiosr.io` uses it when reading and writing.
"""

from __future__ import annotations

import numpy as np

from cardiosr.errors import InputError

#: A voxel size this many times the others' singles out the slice axis on its own.
CLEAR_SPACING_RATIO = 1.5


#: An axis whose heart extent (or array length) is at most this share of the others' is the slice axis.
CLEAR_EXTENT_RATIO = 0.5


def detect_slice_axis(
    affine: np.ndarray,
    shape: tuple[int, ...],
    slice_axis: int | None = None,
    foreground: np.ndarray | None = None,
) -> int:
    """Return the on-disk array axis that is the through-plane (slice) axis.

    :func:`choose_slice_axis` without the explanation; see there.

    Examples
    --------
    >>> import numpy as np
    >>> detect_slice_axis(np.diag([1.5, 1.5, 10.0, 1.0]), (256, 256, 12))
    2
    """
    return choose_slice_axis(affine, shape, slice_axis, foreground)[0]


def choose_slice_axis(
    affine: np.ndarray,
    shape: tuple[int, ...],
    slice_axis: int | None = None,
    foreground: np.ndarray | None = None,
) -> tuple[int, str | None]:
    """Choose the on-disk slice axis from everything the file says: voxel sizes, shape, where the labels are.

    Rules, in order:

    1. ``slice_axis`` given (0, 1 or 2): the user's word wins.
    2. Exactly one axis of length 1 (a long-axis view): that axis.
    3. One voxel size at least :data:`CLEAR_SPACING_RATIO` (1.5) times every other: that axis (a clinical
       stack: 10 mm slices against 1–2 mm pixels; an HR map: 2 mm against 1.25 mm).
    4. Otherwise the voxel sizes do not tell (e.g. the slice spacing was lost and written as 1 mm): the
       axis along which the heart labels (``foreground``) span at most :data:`CLEAR_EXTENT_RATIO` of the
       voxels they span along the others (a stack covers the heart in ~10 slices of ~100 pixels), else
       the axis whose array length is at most that share of the others'. This choice comes with an
       explanation (a warning for the user).

    Parameters
    ----------
    affine:
        4×4 voxel-to-world affine (mm).
    shape:
        Array shape (3 axes).
    slice_axis:
        0, 1 or 2 to name the axis, or ``None`` to choose.
    foreground:
        Optional boolean array of ``shape``: voxels holding heart labels.

    Returns
    -------
    (int, str or None)
        The axis and, when rule 4 decided, a one-line explanation.

    Raises
    ------
    InputError
        When none of the rules singles out one axis.

    Examples
    --------
    >>> import numpy as np
    >>> choose_slice_axis(np.diag([1.25, 10.0, 1.25, 1]), (100, 12, 100))
    (1, None)
    >>> axis, why = choose_slice_axis(np.diag([1.5, 1.4, 1.0, 1]), (256, 216, 10))
    >>> axis
    2
    """
    if slice_axis is not None:
        if slice_axis not in (0, 1, 2):
            raise InputError(f"slice axis must be 0, 1 or 2, got {slice_axis}")
        return int(slice_axis), None
    singleton = [i for i, n in enumerate(shape[:3]) if n == 1]
    if len(singleton) == 1:
        return singleton[0], None
    spacing = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    order = np.argsort(spacing)[::-1]
    if spacing[order[0]] >= CLEAR_SPACING_RATIO * spacing[order[1]]:
        return int(order[0]), None
    sizes = "x".join(f"{s:g}" for s in np.round(spacing, 4))
    candidates: list[tuple[str, np.ndarray]] = []
    if foreground is not None and np.any(foreground):
        idx = np.nonzero(foreground)
        candidates.append(("heart labels span", np.array([i.max() - i.min() + 1 for i in idx], float)))
    candidates.append(("the array has", np.asarray(shape[:3], float)))
    for what, extent in candidates:
        k = int(np.argmin(extent))
        others = np.delete(extent, k)
        if extent[k] <= CLEAR_EXTENT_RATIO * others.min():
            counts = "/".join(str(int(n)) for n in extent)
            return k, (
                f"voxel sizes {sizes} mm do not single out the slice axis; took axis {k} because {what} "
                f"{counts} voxels along the axes (name it with --slice-axis if this is wrong)"
            )
    raise InputError(
        f"cannot tell the slice axis: voxel sizes {sizes} mm, array shape {list(shape[:3])} and the labels "
        "do not single out one axis; name it with --slice-axis"
    )


def to_internal_order(
    array: np.ndarray, affine: np.ndarray, slice_axis: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Move ``slice_axis`` to the front, keeping the in-plane axes in their on-disk order.

    Returns the ``(D, H, W)`` array, its affine (every voxel keeps its world position) and ``disk_axes``
    (``disk_axes[i]`` is the on-disk axis of internal axis ``i``).
    """
    disk_axes = (slice_axis, *[i for i in range(3) if i != slice_axis])
    return np.transpose(array, disk_axes), np.asarray(affine, float) @ axis_permutation(disk_axes), disk_axes


def axis_permutation(disk_axes: tuple[int, int, int] | list[int]) -> np.ndarray:
    """The 4×4 matrix taking internal voxel indices to on-disk ones (``disk_axes[i]``: on-disk axis of internal ``i``).

    Examples
    --------
    >>> axis_permutation((2, 0, 1))[:3, :3].astype(int).tolist()
    [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """
    perm = np.eye(4)
    perm[:3, :3] = np.eye(3)[:, list(disk_axes)]
    return perm


def to_disk_order(
    array: np.ndarray, affine: np.ndarray, disk_axes: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`to_internal_order`: the on-disk array and its affine."""
    return np.transpose(array, np.argsort(disk_axes)), np.asarray(affine, float) @ np.linalg.inv(
        axis_permutation(disk_axes)
    )
