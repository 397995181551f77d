"""Label conventions and their explicit mapping to the internal labels.

Internally every label map uses ``0`` background, ``1`` LV blood pool, ``2`` LV myocardium and ``3`` RV
blood pool (:data:`INTERNAL_LABELS`). Files on disk use one of the named conventions below; the mapping
is always named by the user (``--labels``), never guessed, and a value that the convention does not know
is an error.

======== ===== ===== ===== ==========================================
name      LV    MYO   RV    used by
======== ===== ===== ===== ==========================================
``ukbb``  1     2     4     UK Biobank, the HR research cohort (default)
``mnms``  1     2     3     M&Ms and M&Ms-2 challenges
``acdc``  3     2     1     ACDC challenge
======== ===== ===== ===== ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cardiosr.errors import InputError

if TYPE_CHECKING:
    import numpy as np

#: Internal label values.
BACKGROUND, LV, MYO, RV = 0, 1, 2, 3
#: Names of the internal labels, in channel order (also the prior's one-hot channel order).
INTERNAL_LABELS: tuple[str, ...] = ("background", "LV", "MYO", "RV")
N_CLASSES = len(INTERNAL_LABELS)
#: The foreground structures, as (internal value, name).
STRUCTURES: tuple[tuple[int, str], ...] = ((LV, "LV"), (MYO, "MYO"), (RV, "RV"))


@dataclass(frozen=True)
class LabelConvention:
    """How one family of files numbers the structures.

    Parameters
    ----------
    name:
        Short name used on the command line (``ukbb``, ``mnms``, ``acdc``).
    lv, myo, rv:
        The on-disk values of LV blood pool, LV myocardium and RV blood pool. Background is always 0.

    Examples
    --------
    >>> import numpy as np
    >>> conv = get_convention("acdc")
    >>> conv.to_internal(np.array([0, 1, 2, 3])).tolist()
    [0, 3, 2, 1]
    """

    name: str
    lv: int
    myo: int
    rv: int

    @property
    def disk_values(self) -> tuple[int, int, int, int]:
        """On-disk values in internal order (background, LV, MYO, RV)."""
        return (0, self.lv, self.myo, self.rv)

    def to_internal(self, values: np.ndarray, path: str | None = None) -> np.ndarray:
        """Map an integer array of on-disk values to internal labels (uint8).

        Raises :class:`InputError` naming the unknown values if any value is not part of the convention.
        """
        import numpy as np  # here, not at the top: `cardiosr --help` reads this module and stays fast

        values = np.asarray(values)
        lut_size = max(self.disk_values) + 1
        known = np.unique(values)
        unknown = [int(v) for v in known if v < 0 or v >= lut_size or int(v) not in self.disk_values]
        if unknown:
            shown = ", ".join(str(v) for v in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise InputError(
                f"label values [{shown}] are not in the '{self.name}' convention "
                f"(expects {describe(self)}); choose the matching --labels option",
                path,
            )
        lut = np.zeros(lut_size, dtype=np.uint8)
        for internal, disk in enumerate(self.disk_values):
            lut[disk] = internal
        return lut[values.astype(np.int64)]

    def from_internal(self, labels: np.ndarray) -> np.ndarray:
        """Map internal labels (0..3) back to this convention's on-disk values (uint8)."""
        import numpy as np

        lut = np.asarray(self.disk_values, dtype=np.uint8)
        return lut[np.asarray(labels, dtype=np.int64)]


CONVENTIONS: dict[str, LabelConvention] = {
    "ukbb": LabelConvention("ukbb", lv=1, myo=2, rv=4),
    "mnms": LabelConvention("mnms", lv=1, myo=2, rv=3),
    "acdc": LabelConvention("acdc", lv=3, myo=2, rv=1),
}
#: The ``--labels`` value that chooses the convention from the anatomy (:mod:`cardiosr.label_check`).
AUTO_CONVENTION = "auto"
#: The convention used when none is named.
DEFAULT_CONVENTION = "ukbb"


def describe(convention: LabelConvention) -> str:
    """One-line description, e.g. ``'0 background, 1 LV, 2 MYO, 4 RV'``."""
    return f"0 background, {convention.lv} LV, {convention.myo} MYO, {convention.rv} RV"


def get_convention(name: str | LabelConvention) -> LabelConvention:
    """Return the named convention; raise :class:`InputError` for an unknown name."""
    if isinstance(name, LabelConvention):
        return name
    try:
        return CONVENTIONS[str(name).lower()]
    except KeyError:
        raise InputError(f"unknown label convention '{name}' (choose one of: {', '.join(CONVENTIONS)})") from None


def parse_ignore_labels(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """``--ignore-labels 4,5`` → ``(4, 5)``; values that read as background in any input.

    Examples
    --------
    >>> parse_ignore_labels("4, 5")
    (4, 5)
    >>> parse_ignore_labels(None)
    ()
    """
    if text is None or text == "":
        return ()
    if isinstance(text, str):
        try:
            values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
        except ValueError:
            raise InputError(f"--ignore-labels takes comma-separated whole numbers, got {text!r}") from None
    else:
        values = tuple(int(v) for v in text)
    if any(v <= 0 for v in values):
        raise InputError(f"--ignore-labels values must be positive (0 is background already), got {list(values)}")
    return tuple(sorted(set(values)))


def one_hot(labels: np.ndarray, n_classes: int = N_CLASSES, dtype: type | None = None) -> np.ndarray:
    """``(C, *labels.shape)`` one-hot encoding of an internal label array (the one numpy one-hot of the package).

    Examples
    --------
    >>> import numpy as np
    >>> one_hot(np.array([[0, 3]])).astype(int)[:, 0].tolist()
    [[1, 0], [0, 0], [0, 0], [0, 1]]
    """
    import numpy as np

    labels = np.asarray(labels)
    encoded = np.arange(n_classes).reshape(-1, *([1] * labels.ndim)) == labels[None]
    return encoded.astype(np.float32 if dtype is None else dtype)
