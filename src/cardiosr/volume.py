"""The data model: a label map that always travels with its geometry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardiosr.labels import DEFAULT_CONVENTION, N_CLASSES, STRUCTURES, one_hot


@dataclass
class LabelVolume:
    """A 3D label map in internal labels and internal axis order, with its world affine.

    Parameters
    ----------
    array:
        ``(D, H, W)`` integer array of internal labels (0 bg, 1 LV, 2 MYO, 3 RV); ``D`` is the
        through-plane (slice) axis, ``H`` and ``W`` the in-plane row and column.
    affine:
        4×4 matrix mapping voxel indices ``(d, h, w, 1)`` to world coordinates in mm (the NIfTI
        RAS+ world of the file it came from).
    convention:
        Name of the label convention of the file it came from; used when it is written back.
    disk_axes:
        ``disk_axes[i]`` is the on-disk array axis that internal axis ``i`` came from, so that a volume
        is written back in the axis order it was read in.
    path:
        Where it was read from (for messages), if anywhere.
    header:
        The NIfTI header it was read with, reused on writing (may be ``None``).
    warnings:
        One-line notes made when it was read (header disagreements, how the slice axis or the label
        convention was chosen); they travel into ``summary.json``.

    Examples
    --------
    >>> import numpy as np
    >>> vol = LabelVolume(np.zeros((4, 8, 8), np.uint8), np.diag([10.0, 1.5, 1.5, 1.0]))
    >>> vol.spacing.tolist()
    [10.0, 1.5, 1.5]
    """

    array: np.ndarray
    affine: np.ndarray
    convention: str = DEFAULT_CONVENTION
    disk_axes: tuple[int, int, int] = (0, 1, 2)
    path: str | None = None
    header: object | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.array.ndim != 3:
            raise ValueError(f"LabelVolume needs a 3D array, got shape {self.array.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"LabelVolume needs a 4x4 affine, got shape {self.affine.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(D, H, W)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size in mm along ``(D, H, W)`` (norms of the affine's columns)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def one_hot(self, dtype: type = np.float32) -> np.ndarray:
        """``(C, D, H, W)`` one-hot encoding of the internal labels (C = 4)."""
        return one_hot(self.array, N_CLASSES, dtype)

    def volumes_ml(self) -> dict[str, float]:
        """Volume of each structure in mL (voxel count × voxel volume)."""
        voxel_ml = float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0
        return {name: float((self.array == value).sum()) * voxel_ml for value, name in STRUCTURES}

    def missing_slices(self) -> list[int]:
        """Slices (along ``D``) without any label that lie between slices with labels: unsegmented, i.e.
        missing data rather than "no heart here".

        Examples
        --------
        >>> import numpy as np
        >>> a = np.zeros((5, 4, 4), np.uint8); a[[0, 1, 3], 1:3, 1:3] = 1
        >>> LabelVolume(a, np.eye(4)).missing_slices()
        [2]
        """
        has = np.asarray(self.array > 0).any((1, 2))
        idx = np.flatnonzero(has)
        if idx.size == 0:
            return []
        return [int(k) for k in range(idx[0], idx[-1] + 1) if not has[k]]

    def with_array(self, array: np.ndarray, affine: np.ndarray | None = None) -> LabelVolume:
        """A copy with a new array (and optionally a new affine), keeping the file metadata."""
        return LabelVolume(
            array=array,
            affine=self.affine if affine is None else affine,
            convention=self.convention,
            disk_axes=self.disk_axes,
            path=self.path,
            header=self.header,
            warnings=list(self.warnings),
        )
