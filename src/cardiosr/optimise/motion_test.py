"""The motion test (beyond the paper): do the data support motion? ``d = 0`` against the estimates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from cardiosr.interpolation import signed_distance_slices
from cardiosr.labels import LV, MYO, RV
from cardiosr.optimise.init import shift_slices
from cardiosr.optimise.losses import EPS
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.run import Run
from cardiosr.view_alignment import VIEW_MOTION_EVIDENCE, VIEW_MOTION_EVIDENCE_ALONE
from cardiosr.volume import LabelVolume


def stack_self_consistency(sa: LabelVolume, shifts_mm: np.ndarray) -> float:
    """How well the motion-corrected stack predicts its own slices: each interior heart slice against the
    shape-based interpolation of its two neighbours (the mean of their signed distances), mean Dice over LV,
    MYO and RV pooled over those slices (NaN with none).

    A leave-one-slice-out check of shifts found by the prior's loss, on data that loss never compares them with:
    shifts that undo real motion make neighbouring slices agree, shifts that bend a still heart towards the
    prior's shape do not (beyond the paper; :func:`motion_decision`).

    ``shifts_mm`` ``(D, 2)``: each slice's content was moved by ``+d`` (``NaN`` read as 0); the slices are moved
    back by ``−d`` (:func:`~cardiosr.optimise.init.shift_slices`) before the check. They are moved on the heart's
    in-plane box with room for the largest shift plus 3 pixels (:func:`_heart_box`): no heart label comes within
    reach of the box's edge, so the labels are those of moving the whole image (the same values to the last bit
    on 78 checks of real and ACDC stacks, in 12–39 instead of 34–65 ms per check: ``benchmarks/check_crop.py``,
    section *check-crop* of ``docs/benchmarks.md``).

    Examples
    --------
    >>> a = np.zeros((5, 20, 20), np.uint8); a[:, 5:12, 5:12] = 1
    >>> moved = a.copy(); moved[2] = np.roll(a[2], 3, axis=1)          # slice 2 moved by 3 pixels of 1 mm
    >>> sa = LabelVolume(moved, np.diag([10.0, 1.0, 1.0, 1.0]))
    >>> d = np.zeros((5, 2)); d[2, 1] = 3.0
    >>> bool(stack_self_consistency(sa, d) > stack_self_consistency(sa, 0 * d))
    True
    """
    d = np.nan_to_num(np.asarray(shifts_mm, float))
    if np.any(d):  # cropped first, with room for the largest shift: the same labels, a fraction of the work
        room = int(np.ceil(np.abs(d).max() / min(sa.spacing[1:]))) + 3
        corrected = _heart_box(shift_slices(_heart_box(sa, room), -d))
    else:
        corrected = _heart_box(sa)
    labels = corrected.array
    heart = labels.reshape(len(labels), -1).any(1)
    inner = [k for k in range(1, len(labels) - 1) if heart[k - 1] and heart[k] and heart[k + 1]]
    scores = []
    for value in (LV, MYO, RV):
        sdf = signed_distance_slices(corrected, value)
        overlap = total = 0
        for k in inner:
            predicted, truth = (sdf[k - 1] + sdf[k + 1]) < 0, labels[k] == value
            overlap += int((predicted & truth).sum())
            total += int(predicted.sum() + truth.sum())
        if total:
            scores.append(2.0 * overlap / total)
    return float(np.mean(scores)) if scores else float("nan")


def _heart_box(sa: LabelVolume, margin: int = 2) -> LabelVolume:
    """``sa`` cropped in-plane to the box round every slice's labels plus ``margin`` pixels of background (its
    affine moved with it). The check's in-plane distances are the same on it: a pixel's nearest point of the
    other kind lies inside the box, whose rim is background. The distance transforms then run on the box only
    (the check is made at every early decision while the searched shifts lead).

    Examples
    --------
    >>> a = np.zeros((2, 20, 30), np.uint8); a[0, 5:8, 10:12] = 1; a[1, 6, 20] = 3
    >>> box = _heart_box(LabelVolume(a, np.diag([10.0, 1.5, 2.0, 1.0])))
    >>> box.shape, int(box.array.astype(bool).sum()), box.affine[:3, 3].tolist()
    ((2, 7, 15), 7, [0.0, 4.5, 16.0])
    """
    rows, cols = np.nonzero(sa.array.any(0))
    if len(rows) == 0:
        return sa
    r0, c0 = max(rows.min() - margin, 0), max(cols.min() - margin, 0)
    r1, c1 = min(rows.max() + margin + 1, sa.shape[1]), min(cols.max() + margin + 1, sa.shape[2])
    affine = sa.affine.copy()
    affine[:3, 3] += affine[:3, 1] * r0 + affine[:3, 2] * c0
    return LabelVolume(sa.array[:, r0:r1, c0:c1], affine)


def self_consistency_gain(stacks: Sequence[LabelVolume], shifts_mm: np.ndarray) -> float:
    """How much better the stacks predict their own slices with the shared shifts ``shifts_mm`` ``(D, 2)`` than
    with ``d = 0``: :func:`stack_self_consistency` with them minus without, averaged over the stacks (the frames
    of a cine, or one stack) that have interior heart slices (NaN when none has).

    The shifts' mean over the slices that hold heart labels (in any stack) is removed first: a common
    translation moves every slice alike and is no motion.

    Examples
    --------
    >>> a = np.zeros((5, 20, 20), np.uint8); a[:, 5:12, 5:12] = 1
    >>> moved = a.copy(); moved[2] = np.roll(a[2], 3, axis=1)
    >>> stacks = [LabelVolume(moved, np.diag([10.0, 1.0, 1.0, 1.0]))] * 2
    >>> d = np.zeros((5, 2)); d[2, 1] = 3.0
    >>> bool(self_consistency_gain(stacks, d) > 0.05)
    True
    """
    d = np.nan_to_num(np.asarray(shifts_mm, float))
    heart = np.zeros(len(d), bool)
    for sa in stacks:
        heart |= sa.array.reshape(len(d), -1).any(1)
    if heart.any():
        d = np.where(heart[:, None], d - d[heart].mean(0), 0.0)
    gains = [stack_self_consistency(sa, d) - stack_self_consistency(sa, 0 * d) for sa in stacks]
    finite = [g for g in gains if np.isfinite(g)]
    return float(np.mean(finite)) if finite else float("nan")


def corroborated(gain_s: float, options: OptimiseOptions, check: Callable[[], float] | None, motion: dict) -> bool:
    """Whether the stack itself corroborates searched shifts whose relative loss gain ``gain_s`` is positive
    but at most τs: ``check()`` (:func:`self_consistency_gain` of those shifts) exceeds
    ``options.search_corroboration``. Records ``motion["self_consistency_gain"]`` (``None`` for a stack
    without interior heart slices: nothing to corroborate) and ``motion["corroboration_margin"]``; ``check`` is
    not called when the rule does not apply (``search_corroboration`` or ``search_threshold`` is ``None``, no
    check, ``gain_s ≤ 0``)."""
    margin = options.search_corroboration
    if margin is None or check is None or options.search_threshold is None or gain_s <= 0:
        return False
    value = _recorded_check(check, margin, motion)
    return bool(np.isfinite(value) and value > margin)


def views_show_motion(evidence: float | None, gain: float, options: OptimiseOptions) -> bool:
    """Whether the long-axis views corroborate motion that the stack's loss alone leaves below the thresholds.

    ``evidence`` is :func:`~cardiosr.view_alignment.view_motion_evidence` of the views' estimate (``None``: no
    view sees a slice), ``gain`` the fixed estimate's relative loss gain over ``d = 0``. The views show motion by
    themselves above :data:`~cardiosr.view_alignment.VIEW_MOTION_EVIDENCE_ALONE`, and above
    :data:`~cardiosr.view_alignment.VIEW_MOTION_EVIDENCE` when the stack's loss also gains more than τs
    (``options.search_threshold``, the margin more free shifts must pay; the estimate has none of its own): views
    in their own breath-holds reach that lower band without motion, where the stack's loss does not gain
    (``benchmarks/view_evidence.py``).

    Examples
    --------
    >>> options = OptimiseOptions()
    >>> views_show_motion(0.20, -0.10, options), views_show_motion(0.13, 0.08, options)
    (True, True)
    >>> views_show_motion(0.13, 0.02, options), views_show_motion(0.10, 0.20, options)
    (False, False)
    """
    if evidence is None:
        return False
    if evidence > VIEW_MOTION_EVIDENCE_ALONE:
        return True
    margin = options.search_threshold
    return bool(evidence > VIEW_MOTION_EVIDENCE and margin is not None and gain > margin)


def _recorded_check(check: Callable[[], float], margin: float, motion: dict) -> float:
    """``check()``, recorded in ``motion`` with the margin it is compared with (``None`` for NaN: a stack
    without interior heart slices has nothing to check)."""
    value = check()
    motion.update(self_consistency_gain=round(value, 4) if np.isfinite(value) else None, corroboration_margin=margin)
    return value


def contradicted(options: OptimiseOptions, check: Callable[[], float] | None, motion: dict) -> bool:
    """Whether the stack contradicts searched shifts whose relative loss gain exceeds τs: with
    ``options.corroborate_every_search``, ``check()`` (:func:`self_consistency_gain` of those shifts) is finite
    and at most ``options.search_corroboration``. The loss gain of the searched hypothesis over ``d = 0`` is
    within the latent search's own scatter (on a motion-free real stack it crosses τs or not depending only on
    how the latent space is parametrised), so a gain above τs alone does not show motion. Records
    ``motion["self_consistency_gain"]`` and ``motion["corroboration_margin"]`` when the check runs; ``False``
    without a check, without a margin (``search_corroboration`` ``None``), with the option off, or for a stack
    without interior heart slices (nothing to check)."""
    margin = options.search_corroboration
    if not options.corroborate_every_search or margin is None or check is None:
        return False
    value = _recorded_check(check, margin, motion)
    return bool(np.isfinite(value) and value <= margin)


def weighed_objective(losses: Mapping[str, float]) -> float:
    """The objective the motion test weighs: Eq. 5 with the long-axis views' terms averaged instead of summed.

    ``losses`` is a loss row (``'total'``, ``'sa'``, ``'la0'``, ``'la1'``, ..., and ``'motion'`` for a run with
    the motion prior). With one view or none this is ``'total'`` itself. With more, the views' part
    ``γ·Σ L_LA`` is divided by their number: the test's relative gains (τ, τs) were set on stacks with one view or
    none, and each view adds a loss of its own (on the benchmark cines 2–4 times the stack's) that the shifts
    change far less, so with views summed every view added would dilute the gains further — with a second view
    a cine's clear motion was read as none and an estimate 8 mm from the truth was kept (the README's *With two
    long-axis views of every frame*; with the views weighed as one: ``python benchmarks/cardiac_cycle.py
    --two-views``, section *cardiac-cycle-two-views* of ``docs/benchmarks.md``). The fits themselves still
    minimise Eq. 5 with the views summed.

    Examples
    --------
    >>> weighed_objective({"total": 0.10, "sa": 0.10})
    0.1
    >>> round(weighed_objective({"total": 0.50, "sa": 0.10, "la0": 0.25, "la1": 0.15}), 6)  # 0.10 + 0.40 / 2
    0.3
    """
    views = sum(1 for key in losses if key.startswith("la") and key[2:].isdigit())  # la0, la1, ...
    total = float(losses["total"])
    if views <= 1:
        return total
    view_part = total - float(losses["sa"]) - float(losses.get("motion", 0.0))
    return total - view_part * (1.0 - 1.0 / views)


def motion_decision(
    fixed: Run,
    still: Run,
    others: Sequence[Run],
    options: OptimiseOptions,
    searched_check: Callable[[Run], float] | None = None,
    view_evidence: float | None = None,
) -> tuple[Run, dict[str, Any]]:
    """The motion test: which hypothesis explains the stack (``d = 0``, the estimate, the searched estimate).

    Every loss it compares is :func:`weighed_objective` (Eq. 5 with two or more long-axis views averaged). With a
    second estimate, the fixed hypothesis is the one of the two estimates with the lower such loss
    (``motion["estimate"]`` names it, ``motion["estimate_losses"]`` holds both). ``searched_check(run)``: the
    gain of the stack's self-consistency (:func:`stack_self_consistency`) with that searched run's shifts over
    ``d = 0``; with
    ``options.search_corroboration`` the searched shifts are also kept when their loss gain is positive but
    at most τs and this check's gain exceeds that margin (``motion["corroborated"]``), and with
    ``options.corroborate_every_search`` searched shifts whose gain exceeds τs are rejected when the check's gain
    is at most that margin (:func:`contradicted`; ``motion["contradicted"]``, and ``d = 0`` is kept).
    ``view_evidence`` (:func:`cardiosr.view_alignment.view_motion_evidence` of the views' estimate, given when
    the long-axis views' crossings corrected it): where the views show motion themselves
    (:func:`views_show_motion`: that evidence alone, or with the fixed estimate's gain above τs), ``d = 0`` is
    not kept for want of gain in Eq. 5 (a start the views already corrected leaves the stack's own loss little to
    gain); the fixed or the searched hypothesis is, whichever has the lower loss (``motion["corroborated_by_views"]``).
    """
    estimate, estimate_losses = (
        options.init_shifts,
        {options.init_shifts: round(weighed_objective(fixed.state.losses), 6)},
    )
    second = [r for r in others if r.second]
    if second:  # the two estimates are weighed as the test weighs them (with one view or none: Eq. 5)
        estimate_losses[str(options.second_estimate)] = round(weighed_objective(second[0].state.losses), 6)
        if weighed_objective(second[0].state.losses) < weighed_objective(fixed.state.losses):
            fixed, estimate = second[0], options.second_estimate
    loss_0, loss_d = weighed_objective(still.state.losses), weighed_objective(fixed.state.losses)
    gain = (loss_0 - loss_d) / max(loss_0, EPS)
    motion: dict[str, Any] = {
        "supported": bool(gain > options.motion_threshold),
        "hypothesis": "estimated" if gain > options.motion_threshold else "none",
        "estimate": estimate,
        "loss_without_motion": round(loss_0, 6),
        "loss_with_motion": round(loss_d, 6),
        "relative_gain": round(gain, 4),
        "threshold": options.motion_threshold,
        "motion_prior_lambda": options.motion_prior,
    }
    if second:
        motion["estimate_losses"] = estimate_losses
    chosen = fixed if gain > options.motion_threshold else still
    searched = [r for r in others if r.search]
    if searched:
        loss_s = weighed_objective(searched[0].state.losses)
        gain_s = (loss_0 - loss_s) / max(loss_0, EPS)
        motion.update(
            loss_searched=round(loss_s, 6),
            relative_gain_searched=round(gain_s, 4),
            search_threshold=options.search_threshold,
        )
        check = None if searched_check is None else lambda: searched_check(searched[0])
        if chosen is still and options.search_threshold is not None and gain_s > options.search_threshold:
            if contradicted(options, check, motion):
                motion.update(contradicted=True)
            else:
                chosen = searched[0]
                motion.update(supported=True, hypothesis="searched")
        elif chosen is still and corroborated(gain_s, options, check, motion):
            chosen = searched[0]
            motion.update(supported=True, hypothesis="searched", corroborated=True)
    if view_evidence is not None:
        motion["view_evidence"] = round(view_evidence, 4)
        if chosen is still and views_show_motion(view_evidence, gain, options):
            candidates = [fixed] + ([] if motion.get("contradicted") else searched[:1])
            chosen = min(candidates, key=lambda run: weighed_objective(run.state.losses))
            hypothesis = "searched" if chosen.search else "estimated"
            motion.update(supported=True, hypothesis=hypothesis, corroborated_by_views=True)
    return chosen, motion
