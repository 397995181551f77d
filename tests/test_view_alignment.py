"""Slice shifts read where the short-axis slices cross the long-axis views (cardiosr.view_alignment)."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosr.degradation import degrade_cine_with_motion, long_axis_view
from cardiosr.frames import Cine
from cardiosr.phantom import generate_phantom, phantom_cycle
from cardiosr.simulate import simulate_case
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.view_alignment import (
    VIEW_MOTION_EVIDENCE,
    VIEW_MOTION_EVIDENCE_ALONE,
    crossing_line,
    view_alignment_shifts,
    view_motion_evidence,
)
from cardiosr.volume import LabelVolume


def _error(estimate: np.ndarray, truth: np.ndarray, heart: np.ndarray) -> np.ndarray:
    """Per heart slice, the estimate's error with the common translation removed (the views fix the world
    position, the simulation's shifts are not centred)."""
    e = estimate[heart] - truth[heart]
    return e - e.mean(0)


@pytest.fixture(scope="module")
def heart():
    return generate_phantom(3)[0]


def test_two_views_recover_severe_motion_that_the_stack_alone_cannot(heart):
    case = simulate_case("p", heart, 4.0, np.random.default_rng(5))
    views = [long_axis_view(heart), long_axis_view(heart, view="2ch")]
    on_heart = case.lr.array.reshape(case.lr.shape[0], -1).sum(1) >= 50
    truth = case.shifts_mm
    d = view_alignment_shifts(case.lr, views, reference=alignment_shifts(case.lr))
    rms = float(np.sqrt((_error(d, truth, on_heart) ** 2).sum(1).mean()))
    alone = float(np.sqrt((_error(alignment_shifts(case.lr), truth, on_heart) ** 2).sum(1).mean()))
    assert np.sqrt((truth[on_heart] ** 2).sum(1).mean()) > 5.0  # severe: the motion itself
    assert rms < 1.0 < alone, (rms, alone)
    # the views fix the world position: the mean shift is recovered too, not only the slices' differences
    assert np.abs(d[on_heart].mean(0) - truth[on_heart].mean(0)).max() < 1.0


def test_one_view_measures_the_component_along_its_line(heart):
    case = simulate_case("p", heart, 4.0, np.random.default_rng(6))
    view = long_axis_view(heart)
    k = int(np.argmax(case.lr.array.reshape(case.lr.shape[0], -1).sum(1)))
    ij, _ = crossing_line(case.lr, view, k)
    along = (ij[-1] - ij[0]) * case.lr.spacing[1:]
    along /= np.linalg.norm(along)
    on_heart = case.lr.array.reshape(case.lr.shape[0], -1).sum(1) >= 50
    d = view_alignment_shifts(case.lr, [view], reference=alignment_shifts(case.lr))
    error = _error(d, case.shifts_mm, on_heart) @ along
    assert np.sqrt(np.mean(error**2)) < 1.0, error
    assert np.sqrt(np.mean((_error(0 * d, case.shifts_mm, on_heart) @ along) ** 2)) > 3.0


def test_the_frames_of_a_cine_share_their_shifts_and_a_frame_without_views_adds_none():
    frames = phantom_cycle(2, 4)
    stacks, shifts = degrade_cine_with_motion(frames, 1.0, np.random.default_rng(3))
    views = [[long_axis_view(f), long_axis_view(f, view="2ch")] for f in frames]
    on_heart = np.all([s.array.reshape(s.shape[0], -1).sum(1) >= 50 for s in stacks], 0)
    d = view_alignment_shifts(stacks, views)
    assert np.sqrt((_error(d, shifts, on_heart) ** 2).sum(1).mean()) < 0.8
    # views of the first frame only: the same as that frame alone
    only_first = view_alignment_shifts(stacks, [views[0], [], [], []])
    np.testing.assert_allclose(only_first, view_alignment_shifts(stacks[0], views[0]))
    with pytest.raises(ValueError, match="views for"):
        view_alignment_shifts(stacks, views[:2])


def test_a_slice_no_view_sees_keeps_the_seen_slices_mean_and_an_empty_slice_zero(heart):
    case = simulate_case("p", heart, 1.0, np.random.default_rng(7))
    stack = case.lr
    counts = stack.array.reshape(stack.shape[0], -1).sum(1)
    k = int(np.nonzero(counts)[0][0])  # the apical-most heart slice: keep a speck of LV only
    array = stack.array.copy()
    speck = np.argwhere(array[k] > 0)[0]
    array[k] = 0
    array[k, speck[0], speck[1]] = 1
    stack = stack.with_array(array)
    views = [long_axis_view(heart), long_axis_view(heart, view="2ch")]
    reference = np.full_like(case.shifts_mm, 7.0)
    d = view_alignment_shifts(stack, views, reference=reference)
    seen = (stack.array.reshape(stack.shape[0], -1) > 0).sum(1) >= 50
    np.testing.assert_allclose(d[k], d[seen].mean(0))
    np.testing.assert_array_equal(d[counts == 0], 0.0)


def _rms_off(estimate: np.ndarray, truth: np.ndarray) -> float:
    heart = ~np.isnan(estimate[:, 0])
    return float(np.sqrt((_error(estimate, truth, heart) ** 2).sum(1).mean()))


def test_enhance_with_two_views_reads_the_shifts_from_their_crossings_and_its_searches_keep_them(heart):
    from cardiosr.pipeline import Enhancer

    case = simulate_case("p", heart, 4.0, np.random.default_rng(5))
    views = [long_axis_view(heart), long_axis_view(heart, view="2ch")]
    errors = {}
    for on in (True, False):
        result = Enhancer(device="cpu", view_alignment=on).run(case.lr, views)
        assert result.optimisation.motion["view_alignment"] is on
        # the views' evidence that the early decision weighed is kept with its losses (with the crossings only)
        at = result.optimisation.motion["at_decision"]
        assert ("view_evidence" in at) is on and (not on or at["view_evidence"] > VIEW_MOTION_EVIDENCE_ALONE)
        errors[on] = _rms_off(result.shifts_mm, case.shifts_mm)
    # severe motion: the views' crossings leave a third less error than the stack-only estimates and the prior
    assert errors[True] < 0.7 and errors[True] < 0.75 * errors[False], errors
    # without views nothing is recorded (and nothing changes)
    assert "view_alignment" not in Enhancer(device="cpu", max_iterations=3).run(case.lr).optimisation.motion


@pytest.mark.slow
def test_a_cine_s_shared_shifts_read_every_frame_s_views():
    from cardiosr.pipeline import Enhancer

    frames = phantom_cycle(2, 4)
    stacks, shifts = degrade_cine_with_motion(frames, 4.0, np.random.default_rng(4))
    views = [Cine(tuple(long_axis_view(f, view=v) for f in frames), None, ()) for v in ("4ch", "2ch")]
    result = Enhancer(device="cpu").run_cycle(stacks, views, frames="ED,ES")
    assert result.motion["view_alignment"] is True
    assert _rms_off(result.shifts_mm, shifts) < 1.0


def test_the_views_show_breathing_motion_that_a_still_stack_lacks(heart):
    views = [long_axis_view(heart), long_axis_view(heart, view="2ch")]
    evidence = {}
    for scale in (0.0, 1.0):
        case = simulate_case("p", heart, scale, np.random.default_rng(8))
        d = view_alignment_shifts(case.lr, views, reference=alignment_shifts(case.lr))
        evidence[scale] = view_motion_evidence(case.lr, views, d)
    assert evidence[0.0] < VIEW_MOTION_EVIDENCE < evidence[1.0], evidence
    empty = LabelVolume(np.zeros_like(case.lr.array), case.lr.affine)
    assert view_motion_evidence(empty, views, np.zeros((empty.shape[0], 2))) is None  # no slice seen


def test_a_cine_s_views_show_its_shared_breathing_motion_in_every_frame():
    frames = phantom_cycle(2, 4)
    views = [[long_axis_view(f, view=v) for v in ("4ch", "2ch")] for f in frames]
    evidence = {}
    for scale in (0.0, 1.0):
        stacks, _ = degrade_cine_with_motion(frames, scale, np.random.default_rng(3))
        d = view_alignment_shifts(stacks, views, reference=alignment_shifts(stacks))
        evidence[scale] = view_motion_evidence(stacks, views, d)
        # a cine of one frame is that frame's stack
        one = view_motion_evidence(stacks[0], views[0], d)
        assert one == pytest.approx(view_motion_evidence(stacks[:1], views[:1], d))
    assert evidence[0.0] < VIEW_MOTION_EVIDENCE < evidence[1.0], evidence


def test_the_crossing_scores_of_frames_sharing_their_lines_are_each_frame_s_dice_averaged():
    from cardiosr.view_alignment import _scores

    rng = np.random.default_rng(0)
    spacing = (1.25, 1.5)
    lines = [(rng.uniform(-2, 40, (30, 2)), rng.integers(0, 4, 30)) for _ in range(2)]  # pixel coordinates, labels
    frames = [(rng.integers(0, 4, (36, 32)).astype(np.uint8), lines, spacing) for _ in range(2)]
    candidates = np.array([[0.0, 0.0], [2.5, -1.5], [-3.75, 4.5], [60.0, 0.0]])  # mm; the last moves it all out

    def dice_by_hand(labels, shift):
        total = 0.0
        for ij, view in lines:
            moved = []
            for p in ij:
                i, j = (int(np.rint(p[a] + shift[a] / spacing[a])) for a in (0, 1))
                inside = 0 <= i < labels.shape[0] and 0 <= j < labels.shape[1]
                moved.append(labels[i, j] if inside else 0)
            moved = np.array(moved)
            for value in (1, 2, 3):
                a, b = moved == value, view == value
                total += 2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1)
        return total / len(lines)

    shared = _scores(frames, candidates)
    each = np.mean([_scores([f], candidates) for f in frames], axis=0)
    by_hand = np.mean([[dice_by_hand(f[0], c) for c in candidates] for f in frames], axis=0)
    assert np.allclose(shared, each) and np.allclose(shared, by_hand)
    assert shared[-1] == 0.0 and shared[:3].max() > 0.0


def test_the_tilt_across_one_view_is_weighed_between_the_search_and_the_view_and_nothing_else_moves():
    from cardiosr.optimise.init import blend_view_trend

    rng = np.random.default_rng(0)
    u = np.array([np.cos(0.5), np.sin(0.5)])  # across the view's lines, at an angle to the axes
    free = np.tile(np.outer(u, u), (9, 1, 1))
    free[0] = np.eye(2)  # seen by no view: everything moved freely
    free[8] = 0.0  # seen in two directions: nothing moved
    start = rng.normal(0, 2, (9, 2))
    # the search moved the seen slices across the lines only: an offset, a tilt of 0.7 mm per slice and noise
    k = np.arange(9.0)
    a = 1.5 + 0.7 * (k - 4) + rng.normal(0, 0.3, 9)
    searched = start + a[:, None] * u
    searched[0] += [3.0, -2.0]
    searched[8] = start[8]
    one = np.arange(1, 8)
    for weight in (0.0, 0.5, 1.0):
        out = blend_view_trend(searched, start, free, weight)
        moved = ((out - start) * u).sum(1)[one]
        slope = np.polyfit(one, moved, 1)[0]
        slope_searched = np.polyfit(one, a[one], 1)[0]
        assert slope == pytest.approx((1 - weight) * slope_searched, abs=1e-9)
        assert moved.mean() == pytest.approx(a[one].mean(), abs=1e-9)  # the common move across the lines stays
        along = np.array([-u[1], u[0]])
        assert np.allclose((out - searched) @ along, 0.0, atol=1e-12)  # nothing moves along the lines
        assert np.allclose(out[[0, 8]], searched[[0, 8]])  # unseen and twice-seen slices keep the search's
    # lines near 45° to the axes, each slice's a little turned: its projection's largest column changes from
    # slice to slice, and so would the sign of u without one orientation for all
    angles = np.radians(-45.0 + np.array([-2.0, 2.0, -2.0, 2.0, -2.0, 2.0, -2.0]))
    turned = np.stack([np.cos(angles), np.sin(angles)], 1)
    free_turned = np.stack([np.outer(v, v) for v in turned])
    assert len(set(free_turned.diagonal(axis1=1, axis2=2).argmax(1))) == 2
    moved_turned = start[:7] + (0.7 * (np.arange(7.0) - 3))[:, None] * turned
    out = blend_view_trend(moved_turned, start[:7], free_turned, 1.0)
    assert np.allclose(out, start[:7], atol=1e-9)  # the whole move was a tilt: taken back entirely
    # fewer than three slices seen along one direction: no trend to weigh
    few = free.copy()
    few[3:8] = np.eye(2)
    assert np.array_equal(blend_view_trend(searched, start, few, 1.0), searched)


def _a_tilt_across_one_direction(diff: np.ndarray) -> None:
    """Assert that ``diff`` (D, 2) is a line along the slices with zero mean, across one in-plane direction."""
    from cardiosr.optimise.init import MIN_TREND_SLICES

    moved = np.nonzero(np.abs(diff).max(1) > 1e-6)[0]
    assert len(moved) >= MIN_TREND_SLICES
    u = np.linalg.svd(diff[moved])[2][0]  # one direction for every moved slice (the 4ch lines are parallel)
    across = diff[moved] @ u
    assert np.allclose(diff[moved], across[:, None] * u, atol=1e-5)
    assert np.allclose(across, np.polyval(np.polyfit(moved, across, 1), moved), atol=1e-5)
    assert abs(across.mean()) < 1e-5 and abs(across).max() > 1e-2  # a tilt, not a common move


@pytest.mark.parametrize("cine", [True, False], ids=["cine", "single stack"])
def test_one_view_s_tilt_across_its_lines_is_weighed_after_the_clear_motion_search(cine):
    from cardiosr.pipeline import Enhancer

    hr = phantom_cycle(5, 4)
    stacks, _ = degrade_cine_with_motion(hr, 4.0, np.random.default_rng(7))  # severe: clear motion
    views = [Cine(tuple(long_axis_view(f, view="4ch") for f in hr), None, ())]
    shifts, motions = {}, {}
    for weight in (0.0, 1.0):
        enhancer = Enhancer(device="cpu", view_trend=weight, max_iterations=15)
        if cine:
            result = enhancer.run_cycle(stacks, views, frames="ED")
            motion = result.motion
        else:
            result = enhancer.run(stacks[0], [views[0].frames[0]])
            motion = result.optimisation.motion
        shifts[weight], motions[weight] = np.nan_to_num(result.shifts_mm), motion
    assert motions[1.0]["estimate_searched"] and motions[1.0]["view_trend"] == 1.0
    assert "view_trend" not in motions[0.0]
    # the same search, then only a line along the slices, across the view's lines, told apart
    _a_tilt_across_one_direction(shifts[1.0] - shifts[0.0])
