"""Checks of the inputs before any work: reading, the stack's geometry, the long-axis views, physiology."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cardiosr.errors import InputError
from cardiosr.io import load_labels
from cardiosr.volume import LabelVolume

StackInput = str | os.PathLike | LabelVolume


#: QC: physiologically possible LV cavity volume (mL) and LV myocardial mass (g) of an adult or child heart;
#: a result outside these ranges almost always means wrong voxel sizes in the header.
QC_LV_ML_RANGE = (20.0, 600.0)


QC_LV_MASS_G_RANGE = (20.0, 400.0)


#: QC: the lowest mean Dice between the short-axis stack and a long-axis view where they cross, before
#: optimising. Measured on the M&Ms-2 case: 0.83-0.87 for views of the same phase, 0.55-0.56 for an ED
#: stack with an ES view (and the reverse), 0.27-0.40 for a stack mirrored in-plane.
QC_MIN_VIEW_AGREEMENT = 0.7


def as_volume(
    item: StackInput, labels: str, what: str, slice_axis: int | None = None, ignore_labels: Sequence[int] = ()
) -> LabelVolume:
    if isinstance(item, LabelVolume):
        return item
    if not isinstance(item, str | os.PathLike):
        raise InputError(f"{what} must be a file path or a LabelVolume, got {type(item).__name__}")
    return load_labels(item, labels, slice_axis=slice_axis, ignore_labels=ignore_labels)


def as_list(la: StackInput | Sequence[StackInput] | None) -> list[StackInput]:
    if la is None:
        return []
    if isinstance(la, str | os.PathLike | LabelVolume):
        return [la]
    return list(la)


def stack_checks(sa: LabelVolume) -> tuple[dict[str, Any], list[str]]:
    """Missing slices and coverage of a short-axis stack: ``({'missing_slices', 'coverage'}, warnings)``.

    An empty slice between slices with heart labels is missing data (an unsegmented slice), not "no
    heart here": it is left out of the loss and filled from the prior. Heart labels on the first or last
    slice mean the stack does not cover the whole heart: the result beyond it is extrapolation.
    """
    has_heart = (sa.array > 0).any((1, 2))
    notes: list[str] = []
    missing = sa.missing_slices()
    if missing:
        notes.append(
            f"{sa.path or 'short-axis stack'}: slice(s) {missing} hold no labels between labelled slices: read as "
            "missing (unsegmented), left out of the loss and filled from the prior"
        )
    first, last = bool(has_heart[0]), bool(has_heart[-1])
    ends = [name for name, hit in (("first", first), ("last", last)) if hit]
    if ends:
        notes.append(
            f"{sa.path or 'short-axis stack'}: heart labels reach the {' and '.join(ends)} slice: the stack may not "
            "cover the whole heart, the result beyond it is extrapolated by the prior"
        )
    return {"missing_slices": missing, "coverage": {"touches_first_slice": first, "touches_last_slice": last}}, notes


def view_checks(sa: LabelVolume, views: Sequence[LabelVolume]) -> tuple[list[dict[str, Any]], list[str]]:
    """Agreement of each long-axis view with the stack where they cross (:func:`~cardiosr.metrics.view_agreement`);
    a warning for each view below :data:`QC_MIN_VIEW_AGREEMENT`."""
    from cardiosr.metrics import view_agreement

    rows, notes = [], []
    for view in views:
        score = view_agreement(sa, view)
        rows.append({"path": view.path, "dice": score})
        if score is not None and score["mean"] < QC_MIN_VIEW_AGREEMENT:
            notes.append(
                f"{view.path}: long-axis view and short-axis stack disagree where they cross (mean Dice "
                f"{score['mean']:.2f} < {QC_MIN_VIEW_AGREEMENT}): another cardiac phase, a mirrored or misregistered "
                "view, or severe motion?"
            )
    return rows, notes


#: A single-frame long-axis view given with a cine but no ``--la-frame`` is used at the frame whose stack agrees with
#: it best where they cross (:func:`~cardiosr.metrics.view_agreement`), instead of the ED frame, only when that
#: frame's mean Dice exceeds the ED frame's by more than this. M&Ms-2 case 001: its ES view agrees 0.83 with the ES
#: stack and 0.56 with the ED stack (its ED view 0.87 and 0.55); a phantom cine's ES view under the paper's normal
#: breathing 0.85 at ES and 0.47 at ED, but under severe motion no frame agrees (0.45-0.56 on every frame).
VIEW_FRAME_MARGIN = 0.1


def matching_frame(view: LabelVolume, stacks: Sequence[LabelVolume], default: int) -> tuple[int, str | None]:
    """The frame of a cine a single-frame long-axis ``view`` belongs to when no frame is stated: ``default`` (the
    ED frame), unless another frame's stack agrees with the view by more than :data:`VIEW_FRAME_MARGIN` mean Dice
    more; then that frame and a one-line note saying so.

    Examples
    --------
    >>> import numpy as np
    >>> sa = LabelVolume(np.ones((3, 4, 4), np.uint8), np.diag([10.0, 1, 1, 1]))
    >>> other = LabelVolume(np.full((3, 4, 4), 2, np.uint8), np.diag([10.0, 1, 1, 1]))
    >>> swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    >>> la = LabelVolume(np.full((1, 20, 4), 2, np.uint8), swap)
    >>> matching_frame(la, [sa, other], default=0)[0]
    1
    >>> matching_frame(la, [sa, sa], default=0)
    (0, None)
    """
    from cardiosr.metrics import view_agreement

    scores = [view_agreement(stack, view) for stack in stacks]
    means = [-1.0 if score is None else score["mean"] for score in scores]
    best = int(np.argmax(means))
    if best == default or means[best] - max(means[default], 0.0) <= VIEW_FRAME_MARGIN:
        return default, None
    return best, (
        f"{view.path or 'long-axis view'}: a single-frame view given without --la-frame agrees best with frame "
        f"{best} (mean Dice {means[best]:.2f} where they cross, {max(means[default], 0.0):.2f} at the ED frame "
        f"{default}): used at frame {best}"
    )


def physiology_checks(clinical: dict[str, float], sa: LabelVolume) -> list[str]:
    """QC reasons for a physiologically impossible result (LV cavity or LV mass out of range)."""
    reasons = []
    spacing = "x".join(f"{s:g}" for s in np.round(sa.spacing, 3))
    cause = f"likely cause: wrong voxel sizes in the header (read as {spacing} mm, slice axis first)"
    for key, (lo, hi), unit, what in (
        ("LV_ml", QC_LV_ML_RANGE, "mL", "LV cavity"),
        ("LV_mass_g", QC_LV_MASS_G_RANGE, "g", "LV mass"),
    ):
        value = clinical.get(key)
        if value is not None and not lo <= value <= hi:
            reasons.append(f"{what} {value:.1f} {unit} outside {lo:g}-{hi:g} {unit}, {cause}")
    return reasons


#: QC of a cine: the largest difference (EF points) between the result's LV ejection fraction and the one counted
#: on the input stacks' voxels that passes. Measured on real and phantom cines (``python
#: benchmarks/cycle_qc.py``, section *cycle-qc*: every ACDC patient's ED and ES files, M&Ms-2 and the benchmark's
#: phantom and biv-me cines differ by far less); a larger difference means a frame's shape did not follow its stack.
QC_MAX_EF_DIFFERENCE = 10.0


def cycle_checks(cycle: dict[str, Any]) -> list[str]:
    """QC reasons for a cine's ejection fraction (``CycleResult.cycle()``): the result's LV EF against the one
    counted on the input stacks (their largest and smallest LV blood pool), beyond :data:`QC_MAX_EF_DIFFERENCE`.

    Examples
    --------
    >>> cycle_checks({"EF_LV": 61.0, "input_LV_ml": [150.0, 60.0]})
    []
    >>> cycle_checks({"EF_LV": 30.0, "input_LV_ml": [150.0, 60.0]})[0][:69]
    'LV EF 30.0 % of the result against 60.0 % counted on the input stacks'
    """
    from cardiosr.metrics import ejection_fraction

    ef, lv = cycle.get("EF_LV"), cycle.get("input_LV_ml") or []
    counted = ejection_fraction(max(lv), min(lv)) if len(lv) > 1 else None
    if ef is None or counted is None or abs(ef - counted) <= QC_MAX_EF_DIFFERENCE:
        return []
    return [
        f"LV EF {ef:.1f} % of the result against {counted:.1f} % counted on the input stacks (more than "
        f"{QC_MAX_EF_DIFFERENCE:g} points apart): likely cause: a frame's shape did not follow its stack (see the "
        "frames' QC and consistency Dice) or the frames' segmentations disagree in coverage"
    ]


#: Voxel sizes (mm) a short-axis stack may have.
VOXEL_SIZE_RANGE_MM = (0.1, 50.0)


#: Smallest in-plane size (voxels) of a short-axis stack.
MIN_IN_PLANE_VOXELS = 8


def check_short_axis(volume: LabelVolume) -> None:
    """Raise :class:`InputError` unless ``volume`` can be a short-axis stack: at least 2 slices, at least
    8×8 voxels in-plane, voxel sizes within 0.1–50 mm."""
    d, h, w = volume.shape
    if d < 2:
        raise InputError(f"has a single slice ({d}x{h}x{w}); a short-axis stack needs at least 2", volume.path)
    if min(h, w) < MIN_IN_PLANE_VOXELS:
        raise InputError(
            f"in-plane size {h}x{w} voxels is too small for a short-axis slice (at least {MIN_IN_PLANE_VOXELS})",
            volume.path,
        )
    lo, hi = VOXEL_SIZE_RANGE_MM
    spacing = volume.spacing
    if np.any(spacing < lo) or np.any(spacing > hi):
        size = "x".join(f"{s:g}" for s in spacing)
        raise InputError(f"voxel size {size} mm is outside {lo:g}-{hi:g} mm (is the header's unit wrong?)", volume.path)
