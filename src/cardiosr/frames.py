"""Cine label maps: the frames of one 4D file ``(x, y, z, t)`` or of several 3D files, and 4D files out.

A cine short-axis segmentation is one 3D stack per cardiac phase (50 in UK Biobank; ED and ES as two files in
ACDC). Every frame is read with the rules of :func:`cardiosr.io.load_labels`; the label convention and the
slice axis are those of the first frame (``--labels auto`` chooses once, on the first frame), so every
frame has the same internal axis order. Frames must share the stack's shape and geometry and each must
hold heart labels; anything else is a one-line :class:`~cardiosr.errors.InputError`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiosr.errors import InputError
from cardiosr.io import label_image, labels_from_array, read_label_array, read_nifti, save_image
from cardiosr.labels import DEFAULT_CONVENTION, LabelConvention, get_convention
from cardiosr.slice_axis import to_disk_order
from cardiosr.volume import LabelVolume

#: Largest difference (mm) between two frames' affines that still counts as the same geometry.
GEOMETRY_TOLERANCE_MM = 1e-3
#: NIfTI time units → milliseconds.
_TO_MS = {"sec": 1000.0, "msec": 1.0, "usec": 1e-3}


@dataclass(frozen=True)
class Cine:
    """The frames of a cine label map, in time order.

    Attributes
    ----------
    frames:
        One :class:`~cardiosr.volume.LabelVolume` per frame, internal labels and axis order, one geometry.
    time_step_ms:
        Time between frames from the first file's header (``pixdim[4]`` in its time unit), or ``None``
        when the header has none (e.g. ED and ES as separate files).
    paths:
        The files read.
    """

    frames: tuple[LabelVolume, ...]
    time_step_ms: float | None
    paths: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.frames)


def load_frames(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    convention: str | LabelConvention = DEFAULT_CONVENTION,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
) -> Cine:
    """Read a cine: one 4D file ``(x, y, z, t)`` (a 3D file is one frame) or several 3D files as frames in order.

    Parameters
    ----------
    paths:
        One NIfTI file, or several, each one 3D frame of the same geometry.
    convention, slice_axis, ignore_labels:
        As :func:`cardiosr.io.load_labels`; the convention and slice axis chosen on the first frame hold
        for all.

    Returns
    -------
    Cine

    Examples
    --------
    >>> import tempfile, numpy as np, nibabel as nib
    >>> from pathlib import Path
    >>> from cardiosr.phantom import generate_phantom
    >>> from cardiosr.degradation import downsample_slices
    >>> from cardiosr.io import save_labels
    >>> stack = downsample_slices(generate_phantom(0)[0])
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = [save_labels(stack, folder / f"f{t}.nii.gz") for t in range(2)]
    >>> cine = load_frames(files)
    >>> cine.n_frames, cine.frames[1].shape == stack.shape
    (2, True)
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not items:
        raise InputError("no short-axis file given")
    frames: list[LabelVolume] = []
    conv: str | LabelConvention = convention
    axis = slice_axis
    time_step = None
    for index, item in enumerate(items):
        path = Path(item)
        img = read_nifti(path)
        data = read_label_array(img, path, frames=True)
        if len(items) > 1 and data.shape[3] > 1:
            raise InputError(f"several short-axis files must each be one 3D frame; this one has {data.shape[3]}", path)
        if index == 0:
            time_step = _time_step_ms(img) if data.shape[3] > 1 else None
        for t in range(data.shape[3]):
            if not data[..., t].any():
                where = f"frame {t} has" if data.shape[3] > 1 else "has"
                raise InputError(f"{where} no labels: every frame of a cine must be segmented", path)
            with warnings.catch_warnings():
                if frames:  # what the first frame's reading noted holds for every frame: say it once
                    warnings.simplefilter("ignore")
                volume = labels_from_array(data[..., t], img, path, conv, axis, ignore_labels)
            if frames:
                _check_same_geometry(frames[0], volume, path, t if data.shape[3] > 1 else None)
            frames.append(volume)
            conv, axis = get_convention(volume.convention), volume.disk_axes[0]
    return Cine(tuple(frames), time_step, tuple(str(p) for p in items))


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames of a label map file: its 4th axis (1 for a 3D file; trailing singleton axes beyond the
    4th are ignored). One-line :class:`InputError` if unreadable."""
    img = read_nifti(path)
    shape = [int(n) for n in img.shape]
    while len(shape) > 4 and shape[-1] == 1:
        shape.pop()
    return shape[3] if len(shape) >= 4 else 1


def _time_step_ms(img: object) -> float | None:
    step = float(img.header["pixdim"][4])  # type: ignore[attr-defined]
    unit = img.header.get_xyzt_units()[1]  # type: ignore[attr-defined]
    if not np.isfinite(step) or step <= 0 or unit not in _TO_MS:
        return None
    return step * _TO_MS[unit]


def _check_same_geometry(first: LabelVolume, other: LabelVolume, path: Path, t: int | None) -> None:
    which = f"frame {t}" if t is not None else "this frame"
    if other.shape != first.shape:
        raise InputError(f"{which} has shape {other.shape}, the first frame {first.shape} (internal order)", path)
    corners = np.array([[0, 0, 0, 1], [*(np.asarray(first.shape) - 1), 1]], float).T
    gap = float(np.abs(first.affine @ corners - other.affine @ corners).max())
    if gap > GEOMETRY_TOLERANCE_MM:
        raise InputError(f"{which} lies {gap:.3g} mm away from the first frame: frames must share one geometry", path)


def save_frames(
    frames: Sequence[LabelVolume],
    path: str | os.PathLike,
    convention: str | LabelConvention | None = None,
    time_step_ms: float | None = None,
) -> Path:
    """Write frames of one geometry as one 4D label map ``(x, y, z, t)``, atomically, in on-disk axis order.

    The header is the first frame's (format, codes); ``time_step_ms`` goes into ``pixdim[4]`` (unit ms).
    """
    first = frames[0]
    conv = get_convention(convention or first.convention)
    disks = []
    for volume in frames:
        disk, disk_affine = to_disk_order(conv.from_internal(volume.array), volume.affine, volume.disk_axes)
        disks.append(disk)
    img = label_image(np.stack(disks, axis=-1), disk_affine, first.header)
    zooms = list(img.header.get_zooms()[:3]) + [float(time_step_ms) if time_step_ms else 1.0]
    img.header.set_zooms(zooms)
    img.header.set_xyzt_units("mm", "msec")
    return save_image(img, path)
