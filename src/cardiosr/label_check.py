"""Does a label convention fit the anatomy? The check behind ``--labels`` and ``--labels auto``.

A convention maps on-disk values to LV, MYO and RV. Two conventions with the same values (``mnms`` 1/2/3
and ``acdc`` 3/2/1) differ only in which value is LV and which RV, so the values alone cannot tell them
apart; the anatomy can: in a short-axis slice the LV blood pool is ringed by myocardium, while the RV
blood pool touches the background on its free wall. The evidence is the share of the LV blood pool's
in-plane boundary (4-neighbour pixel pairs within each slice) that touches background: about 0–5 % with
the right convention (some at the basal slices, where the cavity opens to the atrium), 40–80 % when LV
and RV are swapped.

The check needs the myocardium: a map without MYO, or without LV, gives no evidence (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cardiosr.errors import InputError
from cardiosr.labels import BACKGROUND, CONVENTIONS, LV, MYO, LabelConvention, get_convention

#: Largest share of LV-boundary pixels touching background for a convention to fit.
FITS_BELOW = 0.2
#: Smallest share for a convention to be called wrong.
WRONG_ABOVE = 0.4


def lv_background_share(labels: np.ndarray) -> float | None:
    """Share of the LV blood pool's in-plane boundary contacts that are with background.

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels, ``D`` the slice axis.

    Returns
    -------
    float or None
        In [0, 1]; ``None`` when there is no LV or no MYO (no evidence).

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((1, 9, 9), np.uint8); ring[0, 2:7, 2:7] = 2; ring[0, 3:6, 3:6] = 1
    >>> lv_background_share(ring)
    0.0
    """
    labels = np.asarray(labels)
    if not (labels == LV).any() or not (labels == MYO).any():
        return None
    touching_bg = touching_other = 0
    for axis in (1, 2):
        a = np.moveaxis(labels, axis, 0)
        first, second = a[:-1], a[1:]
        for x, y in ((first, second), (second, first)):
            lv = x == LV
            touching_bg += int(np.count_nonzero(lv & (y == BACKGROUND)))
            touching_other += int(np.count_nonzero(lv & (y != BACKGROUND) & (y != LV)))
    total = touching_bg + touching_other
    return None if total == 0 else touching_bg / total


def _as_internal(disk: np.ndarray, convention: LabelConvention) -> np.ndarray | None:
    try:
        return convention.to_internal(disk)
    except InputError:
        return None


def convention_evidence(disk: np.ndarray, conventions: Iterable[str] = tuple(CONVENTIONS)) -> dict[str, float | None]:
    """For each convention that knows every value of ``disk`` (``(D, H, W)``, slice axis first), the
    LV-background share of :func:`lv_background_share` (``None``: no evidence). Conventions that do not
    know a value are left out."""
    out: dict[str, float | None] = {}
    for name in conventions:
        internal = _as_internal(disk, get_convention(name))
        if internal is not None:
            out[name] = lv_background_share(internal)
    return out


def _describe(evidence: dict[str, float | None]) -> str:
    return ", ".join(f"{k}: {'no evidence' if v is None else f'{100 * v:.0f}%'}" for k, v in evidence.items())


def choose_convention(disk: np.ndarray, path: str | None = None) -> LabelConvention:
    """``--labels auto``: the convention whose LV is ringed by myocardium; refuse when that is not clear.

    Conventions that give the same internal map for this file (e.g. ``ukbb`` and ``mnms`` for a file
    without RV) are equivalent; the first in :data:`~cardiosr.labels.CONVENTIONS` order is returned.

    Raises
    ------
    InputError
        No convention knows the values, none fits, or two that map the file differently both fit.
    """
    disk = np.asarray(disk)
    evidence = convention_evidence(disk)
    if not evidence:
        values = ", ".join(str(int(v)) for v in np.unique(disk)[:8])
        raise InputError(f"--labels auto: no convention knows the label values [{values}]", path)
    fitting = [k for k, v in evidence.items() if v is not None and v < FITS_BELOW]
    distinct: dict[bytes, str] = {}
    for name in fitting:
        distinct.setdefault(get_convention(name).to_internal(disk).tobytes(), name)
    if len(distinct) != 1:
        why = "none fits" if not distinct else "more than one fits"
        raise InputError(
            f"--labels auto cannot tell the convention ({why}; share of the LV boundary touching background: "
            f"{_describe(evidence)}); name it with --labels",
            path,
        )
    return get_convention(next(iter(distinct.values())))


def check_convention(disk: np.ndarray, convention: LabelConvention, path: str | None = None) -> str | None:
    """Check a named convention against the anatomy.

    Returns ``None`` when it fits (or there is no evidence), a one-line warning when it does not fit but
    no other convention does either.

    Raises
    ------
    InputError
        When the named convention puts the LV outside the myocardium and another convention fits (LV and
        RV swapped): the message names the convention that fits.
    """
    evidence = convention_evidence(disk)
    share = evidence.get(convention.name)
    if share is None or share <= WRONG_ABOVE:
        return None
    others = [k for k, v in evidence.items() if k != convention.name and v is not None and v < FITS_BELOW]
    if others:
        raise InputError(
            f"with --labels {convention.name} the LV blood pool is not ringed by myocardium "
            f"({100 * share:.0f}% of its boundary touches background); the labels fit --labels {others[0]} "
            f"({_describe(evidence)})",
            path,
        )
    return (
        f"with --labels {convention.name} {100 * share:.0f}% of the LV blood pool's boundary touches background "
        "(expected under 20%): check the label convention and the segmentation"
    )
