"""Motion handling and fidelity to the acquired slices (issue 15): the motion test, the MAP motion prior, the
fusion with the motion-corrected stack. Real anatomy from ../shared/data when present, phantoms always."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiosr.degradation import drop_odd_slices
from cardiosr.fidelity import (
    FLAT_FRACTION,
    enclosed_slices,
    fuse_with_stack,
    fused_labels,
    signed_distance_volume,
    structure_weights,
)
from cardiosr.geometry import CanonicalFrame, from_canonical, hr_grid, resample_labels, to_canonical, voxel_coordinates
from cardiosr.interpolation import (
    interpolated_signed_distances,
    labels_from_signed_distances,
    shape_based_interpolation,
)
from cardiosr.io import load_labels
from cardiosr.metrics import dice, exposed_lv, shift_optimal_dice
from cardiosr.optimise import OptimiseOptions, motion_prior_term, search, shift_slices
from cardiosr.optimise.motion_test import (
    motion_decision,
    self_consistency_gain,
    stack_self_consistency,
    weighed_objective,
)
from cardiosr.optimise.problem import make_problem
from cardiosr.optimise.run import Run, Snapshot
from cardiosr.phantom import cohort_member
from cardiosr.pipeline import enhance
from cardiosr.pipeline.qc import consistency_dice
from cardiosr.simulate import case_rng, simulate_case
from cardiosr.view_alignment import VIEW_MOTION_EVIDENCE, VIEW_MOTION_EVIDENCE_ALONE
from cardiosr.volume import LabelVolume

#: The shipped default of the fusion's distance for a slice without a structure (mm).
ABSENT = OptimiseOptions().absent_mm
#: ... and for a slice beyond the RV's basal end where the heart goes on (mm).
BASAL = OptimiseOptions().basal_absent_mm
#: ... and the prior's weight on the RV.
RV_WEIGHT = OptimiseOptions().rv_fidelity
#: ... and whether it matches the areas between the slices.
AREAS = OptimiseOptions().area_matching
#: ... and whether it takes the myocardium between the epicardium and the LV blood pool.
NESTED = OptimiseOptions().nested_myocardium
#: ... all of them, as ``enhance`` passes them to the fusion.
SHIPPED = OptimiseOptions().fusion_keywords()
DEMO_HR = Path(__file__).resolve().parents[2] / "shared" / "data" / "srheart-demo" / "demo_HR.nii.gz"


def _rms(shifts: np.ndarray) -> float:
    heart = ~np.isnan(shifts[:, 0])
    return float(np.sqrt(np.mean(np.sum(shifts[heart] ** 2, axis=1))))


def _error_rms(estimate: np.ndarray, truth: np.ndarray) -> float:
    heart = ~np.isnan(estimate[:, 0])
    e, t = estimate[heart], truth[heart]
    return float(np.sqrt(np.mean(np.sum(((e - e.mean(0)) - (t - t.mean(0))) ** 2, axis=1))))


@pytest.mark.skipif(not DEMO_HR.is_file(), reason="../shared/data (reference data) is absent")
def test_a_motion_free_real_stack_comes_back_without_invented_motion(default_prior):
    hr = to_canonical(load_labels(DEMO_HR, "ukbb"))[0]
    case = simulate_case("demo", hr, 0.0, np.random.default_rng(0))
    result = enhance(case.lr, prior=default_prior[0])
    assert result.optimisation.motion["supported"] is False
    assert _rms(result.shifts_mm) <= 1.0  # the joint search of the paper invents ~7 mm here
    nn = enhance(case.lr, method="nn")
    score = {
        name: np.mean(list(dice(resample_labels(r.sr.array, r.sr.affine, hr.shape, hr.affine), hr.array).values()))
        for name, r in (("lo", result), ("nn", nn))
    }
    assert score["lo"] >= score["nn"], score


def test_a_motion_free_phantom_stack_keeps_zero_shifts(default_prior):
    hr = cohort_member(1, 8)[0]
    case = simulate_case("c", hr, 0.0, case_rng(1, 8))
    result = enhance(case.lr, prior=default_prior[0])
    assert result.optimisation.motion["supported"] is False and _rms(result.shifts_mm) == 0.0
    summary = result.summary()
    assert summary["motion"]["relative_gain"] <= summary["motion"]["threshold"]


def test_enhance_matches_the_areas_between_slices_unless_asked_not_to(default_prior):
    """20 mm gaps (every second slice of a phantom stack dropped): plain shape-based interpolation of the stack
    shrinks the sections between the slices; with the shipped matched areas every structure keeps more volume
    and the result is closer to the truth. ``--no-area-matching`` reaches the fusion and is recorded. (The
    myocardium's own distances on both sides, so that only the areas differ.)"""
    hr = cohort_member(1, 8)[0]
    sparse = drop_odd_slices(simulate_case("c", hr, 0.0, case_rng(1, 8)).lr)
    plain = enhance(sparse, prior=default_prior[0], area_matching=False, nested_myocardium=False)
    matched = enhance(sparse, prior=default_prior[0], nested_myocardium=False)
    assert matched.summary()["options"]["area_matching"] is True
    assert plain.summary()["options"]["area_matching"] is False

    (plain_volumes, plain_dice), (matched_volumes, matched_dice) = (
        _volumes_and_dice(plain, hr),
        _volumes_and_dice(matched, hr),
    )
    assert all(m > p for m, p in zip(matched_volumes, plain_volumes, strict=True))
    assert np.mean(list(matched_dice.values())) > np.mean(list(plain_dice.values())) + 0.005


def _volumes_and_dice(result, hr: LabelVolume) -> tuple[list[int], dict[str, float]]:
    """The voxel count of each structure (LV, MYO, RV) of a result on the canonical grid and its Dice per
    structure against the truth ``hr`` on the truth's grid."""
    c = result.sr_canonical
    on_truth = resample_labels(c.array, c.affine, hr.shape, hr.affine)
    return [int((c.array == v).sum()) for v in (1, 2, 3)], dice(on_truth, hr.array)


def test_enhance_takes_the_myocardium_between_epicardium_and_blood_pool_unless_asked_not_to(default_prior):
    """20 mm gaps on a phantom whose wall is offset from slice to slice: the myocardium's own interpolated
    distances thin the wall between the slices; the shipped nested myocardium keeps more of it and is closer to
    the truth. ``--no-nested-myocardium`` reaches the fusion and is recorded."""
    hr = cohort_member(1, 11)[0]
    sparse = drop_odd_slices(simulate_case("c", hr, 0.0, case_rng(1, 11)).lr)
    own = enhance(sparse, prior=default_prior[0], nested_myocardium=False)
    nested = enhance(sparse, prior=default_prior[0])
    assert nested.summary()["options"]["nested_myocardium"] is True
    assert own.summary()["options"]["nested_myocardium"] is False
    (own_volumes, own_dice), (nested_volumes, nested_dice) = _volumes_and_dice(own, hr), _volumes_and_dice(nested, hr)
    assert nested_volumes[1] > own_volumes[1] and nested_dice["MYO"] > own_dice["MYO"] + 0.01
    assert nested_volumes[0] == pytest.approx(own_volumes[0], rel=0.02)  # the LV blood pool barely moves


def test_enhance_runs_the_rv_on_beyond_its_base_where_the_heart_goes_on_by_default(default_prior):
    """A phantom stack whose RV is taken off its basal-most slice, as annotators stop it at its valves while
    the LV runs on: by default the result holds more RV on the basal side than with ``basal_absent_mm=None``,
    nothing changes on the apical side, and the option is recorded."""
    hr = cohort_member(1, 8)[0]
    lr = simulate_case("c", hr, 0.0, case_rng(1, 8)).lr
    heart = np.nonzero((lr.array > 0).any((1, 2)))[0]
    base = heart[0] if make_problem(lr).frame.flipped else heart[-1]
    array = lr.array.copy()
    array[base][array[base] == 3] = 0
    lr = lr.with_array(array, lr.affine)
    shipped = enhance(lr, prior=default_prior[0])
    plain = enhance(lr, prior=default_prior[0], basal_absent_mm=None)
    assert shipped.summary()["options"]["basal_absent_mm"] == BASAL == 0.5
    assert plain.summary()["options"]["basal_absent_mm"] is None
    a, b = plain.sr_canonical.array, shipped.sr_canonical.array  # slices along D, apex first
    rows = np.nonzero((a > 0).any((1, 2)))[0]
    middle = (rows[0] + rows[-1]) // 2
    assert np.array_equal(a[:middle], b[:middle])  # the apical half is untouched
    assert (b[middle:] == 3).sum() > (a[middle:] == 3).sum() * 1.02


def test_severe_motion_is_still_detected_and_recovered_on_phantoms(default_prior):
    hr = cohort_member(1, 9)[0]
    case = simulate_case("c", hr, 4.0, case_rng(1, 9))
    result = enhance(case.lr, prior=default_prior[0])
    assert result.optimisation.motion["supported"] is True
    true_rms = _error_rms(case.shifts_mm, np.zeros_like(case.shifts_mm))
    err = _error_rms(result.shifts_mm, case.shifts_mm)
    print(f"severe motion: {true_rms:.1f} mm RMS, estimate off by {err:.2f} mm RMS")
    assert err < 0.6 * true_rms  # the centroid estimate removes most of it (the paper's joint search: see README)


def test_clear_motion_is_searched_on_from_the_kept_estimate(default_prior):
    hr = cohort_member(1, 210)[0]  # a test phantom of the paper tables, severe motion
    case = simulate_case("c", hr, 4.0, case_rng(1, 210), pattern="severe")
    shipped = OptimiseOptions().estimate_search
    searched = enhance(case.lr, prior=default_prior[0])
    fixed = enhance(case.lr, prior=default_prior[0], estimate_search=None)
    motion = searched.summary()["motion"]
    assert motion["hypothesis"] == "estimated" and fixed.summary()["motion"]["hypothesis"] == "estimated"
    assert motion["estimate_searched"] is True and motion["estimate_search_lambda"] == shipped
    assert "estimate_searched" not in fixed.summary()["motion"]
    assert searched.summary()["options"]["estimate_search"] == shipped
    assert searched.optimisation.iterations["latent"] > motion["decided_at_iteration"]  # it went on

    def score(result):
        sr = resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine)
        return float(np.mean(list(dice(sr, hr.array).values())))

    err_s, err_f = (_error_rms(r.shifts_mm, case.shifts_mm) for r in (searched, fixed))
    print(f"severe phantom: shifts off by {err_f:.2f} mm kept fixed, {err_s:.2f} searched on; "
          f"Dice {score(fixed):.3f} against {score(searched):.3f}")  # fmt: skip
    assert err_s < 0.6 * err_f  # 5.8 against 2.2 mm when written
    assert score(searched) > score(fixed) + 0.03


def test_without_clear_motion_nothing_is_searched_on(default_prior):
    hr = cohort_member(1, 210)[0]
    case = simulate_case("c", hr, 0.0, case_rng(1, 210))
    result = enhance(case.lr, prior=default_prior[0])
    motion = result.summary()["motion"]
    assert motion["hypothesis"] == "none" and "estimate_searched" not in motion
    assert np.allclose(np.nan_to_num(result.shifts_mm), 0.0)


def test_the_motion_prior_is_the_moment_matched_paper_model_and_shrinks_the_shifts(default_prior):
    d = torch.zeros(1, 3, 2, requires_grad=True)
    heart = torch.tensor([True, True, True])
    with torch.no_grad():
        d[0, 0] = torch.tensor([2.3, 0.0])
    value = motion_prior_term(d, heart)
    value.sum().backward()
    # mean over 3 slices of |d|²/(2 s²), s² = (2.3² + 0.87²)/2; gradient d/s²/3
    s2 = (2.3**2 + 0.87**2) / 2
    assert float(value.detach()) == pytest.approx(2.3**2 / (2 * s2) / 3)
    assert float(d.grad[0, 0, 0]) == pytest.approx(2.3 / s2 / 3)
    hr = cohort_member(1, 10)[0]
    case = simulate_case("c", hr, 1.0, case_rng(1, 10))
    options = {"shift_search": True, "motion_test": False, "max_iterations": 20, "refine": False}
    free = enhance(case.lr, prior=default_prior[0], motion_prior=0.0, **options)
    strong = enhance(case.lr, prior=default_prior[0], motion_prior=1.0, **options)
    assert _rms(strong.shifts_mm) < 0.5 * _rms(free.shifts_mm)


def _consistency(probs: np.ndarray, sa, frame, shifts: np.ndarray) -> dict[str, float]:
    """The QC's consistency: ``probs`` degraded by Eq. 1 (with ``shifts``) onto the stack, Dice per structure."""
    return consistency_dice(make_problem(sa, frame=frame), probs, shifts)


def test_fusion_keeps_the_acquired_slices_and_is_sbi_of_the_corrected_stack_at_weight_0(default_prior):
    hr = cohort_member(1, 11)[0]
    case = simulate_case("c", hr, 1.0, case_rng(1, 11))
    result = enhance(case.lr, prior=default_prior[0], motion_test=False)
    frame, sa, shifts = result.frame, result.sa, result.shifts_mm
    probs = result.optimisation.probs
    corrected = shift_slices(sa, -np.nan_to_num(shifts))
    # without the plateau and without shifts, weight 0 is exactly shape-based interpolation of the stack
    sbi = shape_based_interpolation(sa, frame.shape, frame.affine)
    as_sbi = {"weight": 0.0, "rv_weight": 0.0, "absent_mm": sa.spacing[0], "basal_mm": None, "flat": 0.0}
    as_sbi |= {"area_matched": False, "nested_myocardium": False, "closed_wall": False, "basal_clearance_mm": None}
    fused0 = fuse_with_stack(probs, frame, sa, 0 * shifts, **as_sbi).argmax(0)
    assert np.array_equal(fused0, sbi)
    # with the shifts, it is SBI of the corrected stack (distances moved rather than labels: nearly the same)
    sbi = shape_based_interpolation(corrected, frame.shape, frame.affine)
    fused0 = fuse_with_stack(probs, frame, sa, shifts, **as_sbi).argmax(0)
    assert min(dice(fused0, sbi).values()) > 0.97
    # the prior's distances are computed around the heart only; the fused labels equal those from the whole grid
    minus = -np.nan_to_num(shifts)
    data_sdf, _ = interpolated_signed_distances(
        sa,
        frame.shape,
        frame.affine,
        min(ABSENT, sa.spacing[0]),
        missing=sa.missing_slices(),
        flat=FLAT_FRACTION,
        shifts_mm=minus,
        basal_mm=None if BASAL is None else min(BASAL, sa.spacing[0]),
        base_last=not frame.flipped,
        area_matched=AREAS,
        nested_myocardium=NESTED,
    )
    prior_sdf = signed_distance_volume(probs.argmax(0).astype(np.uint8))
    w = structure_weights(sa, frame, SHIPPED["weight"], RV_WEIGHT, sa.missing_slices(), FLAT_FRACTION)
    whole_grid = labels_from_signed_distances((1.0 - w) * data_sdf + w * prior_sdf)
    fused = fuse_with_stack(probs, frame, sa, shifts, **SHIPPED).argmax(0)
    assert np.array_equal(fused, whole_grid)


def test_the_output_is_fused_on_its_own_grid_and_is_each_acquired_slice_on_its_centre_plane(default_prior):
    """A motion-free 10 mm phantom stack: ``sr`` is fused on the output grid itself, whose planes include every
    slice's centre plane, so each acquired slice comes back exactly there; the canonical fusion resampled onto
    the output grid (as before) does not."""
    hr = cohort_member(1, 8)[0]
    sa = simulate_case("c", hr, 0.0, case_rng(1, 8)).lr
    result = enhance(sa, prior=default_prior[0])
    assert _rms(result.shifts_mm) == 0.0
    shape, affine = hr_grid(sa)
    assert result.sr.shape == shape and np.allclose(result.sr.affine, affine)
    # the centre plane of every slice, as an index of the output grid (the in-plane grid is the stack's own)
    planes = voxel_coordinates(affine, sa.affine, (sa.shape[0], 1, 1))[:, 0, 0]
    assert np.allclose(planes[:, 1:], 0.0) and np.allclose(planes[:, 0], np.rint(planes[:, 0]))
    centre = result.sr.array[np.rint(planes[:, 0]).astype(int)]
    assert np.array_equal(centre, sa.array)
    resampled = from_canonical(result.optimisation.probs, result.frame, sa).array[np.rint(planes[:, 0]).astype(int)]
    assert (resampled != sa.array).any()


def test_a_fusion_on_another_grid_resamples_the_prior_and_ignores_where_the_canonical_planes_lie():
    """``fused_labels`` on a grid of 2 mm planes through the slices (0, 10, 20, 30 mm): with the prior's weight
    0 the result inside the stack is the interpolated stack whatever the canonical grid's phase (the canonical
    fusion resampled onto that grid moves with it); beyond the stack (weight 1) it is the prior, resampled
    from the canonical grid."""
    yy, xx = np.mgrid[:40, :40]
    disc = lambda r: ((yy - 20) ** 2 + (xx - 20) ** 2 <= r * r).astype(np.uint8)  # noqa: E731
    sa = LabelVolume(np.stack([disc(12), disc(9), disc(4), 0 * disc(1)]), np.diag([10.0, 1.0, 1.0, 1.0]))
    grid = ((20, 40, 40), np.diag([2.0, 1.0, 1.0, 1.0]))  # 0 to 38 mm; the stack's slab ends at 35 mm
    keywords = SHIPPED | {"weight": 0.0, "rv_weight": 0.0}
    outputs, resampled = [], []
    for offset in (0.0, 0.9):  # two canonical grids of 1.5 mm planes, 0.9 mm apart along the slices
        canonical = np.diag([1.5, 1.0, 1.0, 1.0])
        canonical[0, 3] = offset - 9.0
        frame = CanonicalFrame(affine=canonical, shape=(48, 40, 40))
        z = canonical[0, 3] + 1.5 * np.arange(48)
        ball = (z[:, None, None] - 40.0) ** 2 + (yy - 20.0) ** 2 + (xx - 20.0) ** 2 <= 8.0**2  # the prior's LV
        probs = np.stack([~ball, ball, 0 * ball, 0 * ball]).astype(np.float32)
        outputs += fused_labels(probs, frame, sa, np.zeros((4, 2)), (grid,), **keywords)
        fused = fuse_with_stack(probs, frame, sa, np.zeros((4, 2)), **keywords)
        resampled.append(resample_labels(fused.argmax(0).astype(np.uint8), canonical, *grid))
    stack = slice(0, 18)  # the planes inside the stack's slab (0 to 34 mm)
    assert np.array_equal(outputs[0][stack], outputs[1][stack])
    assert not np.array_equal(resampled[0][stack], resampled[1][stack])
    sdf, _ = interpolated_signed_distances(sa, *grid, ABSENT, flat=FLAT_FRACTION, area_matched=AREAS)
    assert np.array_equal(outputs[0][:15], labels_from_signed_distances(sdf)[:15])  # 0 to 28 mm: the stack alone
    for plane in (18, 19):  # 36 and 38 mm: the prior's ball, 4 and 2 mm from its centre
        truth = (yy - 20.0) ** 2 + (xx - 20.0) ** 2 <= 64.0 - (40.0 - 2.0 * plane) ** 2
        for out in outputs:
            assert dice(out[plane], truth.astype(np.uint8))["LV"] > 0.9


def test_fusion_reproduces_a_slice_whose_neighbour_holds_one_far_pixel_of_its_structure():
    """ACDC's case (20 mm gaps): the next slice holds a single RV pixel far away, whose distances (tens of mm)
    pull the linear interpolation 1–2 mm from the slice; the plateau keeps the slice where Eq. 1 samples it."""
    yy, xx = np.mgrid[:100, :100] * 1.5
    stack = np.zeros((6, 100, 100), np.uint8)
    for k in range(6):
        radius = np.hypot(yy - 75, xx - 75)
        stack[k][radius <= 22 - 2 * k] = 1
        stack[k][(radius > 22 - 2 * k) & (radius <= 30 - 2 * k)] = 2
        if k < 2:
            stack[k][(np.hypot(yy - 75, xx - 35) <= 16 - 2 * k) & (stack[k] == 0)] = 3
    stack[2, 5, 5] = 3
    affine = np.diag([20.0, 1.5, 1.5, 1.0])
    affine[0, 3] = 0.7
    sa = LabelVolume(stack, affine)
    frame = make_problem(sa).frame
    sbi = shape_based_interpolation(sa, frame.shape, frame.affine)
    probs = (np.arange(4).reshape(-1, 1, 1, 1) == sbi[None]).astype(np.float32)  # a prior that agrees with SBI
    zero = np.zeros((6, 2))
    assert _consistency(probs, sa, frame, zero)["RV"] < 0.95
    # (matched areas also restore the section here; the plateau keeps the slice's own shape)
    no_plateau = fuse_with_stack(probs, frame, sa, zero, **SHIPPED | {"area_matched": False}, flat=0.0)
    assert _consistency(no_plateau, sa, frame, zero)["RV"] < 0.95
    fused = fuse_with_stack(probs, frame, sa, zero, **SHIPPED)
    assert min(_consistency(fused, sa, frame, zero).values()) >= 0.99


def test_the_fusion_s_absent_distance_lets_a_structure_run_on_towards_the_slice_without_it():
    """A disc on two slices and not on the third (20 mm apart): at weight 0 the fusion is shape-based
    interpolation with the absent distance asked for (at most the slice spacing); with 0 mm the disc keeps its
    section up to the third slice, with the slice spacing (plain SBI) it ends before the midway plane."""
    yy, xx = np.mgrid[:60, :60] * 1.5
    stack = np.zeros((4, 60, 60), np.uint8)
    stack[:2][:, np.hypot(yy - 45, xx - 45) <= 15] = 1
    stack[:3][:, (np.hypot(yy - 45, xx - 45) > 15) & (np.hypot(yy - 45, xx - 45) <= 21)] = 2
    sa = LabelVolume(stack, np.diag([20.0, 1.5, 1.5, 1.0]))
    frame = make_problem(sa).frame
    probs = np.zeros((4, *frame.shape), np.float32)
    probs[0] = 1.0  # a prior without any heart: at weight 0 it must not matter
    zero = np.zeros((4, 2))
    t = voxel_coordinates(sa.affine, frame.affine, frame.shape)[..., 0]
    lv_planes = {}
    for absent_mm, as_sbi in ((0.0, 0.0), (ABSENT, ABSENT), (20.0, 20.0), (50.0, 20.0)):
        plain = {"weight": 0.0, "rv_weight": 0.0, "absent_mm": absent_mm, "basal_mm": None, "flat": 0.0}
        plain |= {"area_matched": False, "nested_myocardium": False, "closed_wall": False, "basal_clearance_mm": None}
        fused = fuse_with_stack(probs, frame, sa, zero, **plain).argmax(0)
        sbi = shape_based_interpolation(sa, frame.shape, frame.affine, absent_mm=as_sbi)
        assert np.array_equal(fused, sbi)
        lv_planes[absent_mm] = np.unique(np.round(t[fused == 1] * 4) / 4).max()  # last slice position with LV
    assert lv_planes[20.0] < 1.5  # plain SBI: the LV ends before the midway plane
    assert lv_planes[0.0] >= 1.75  # 0 mm: it runs on towards slice 2
    assert lv_planes[20.0] < lv_planes[ABSENT] < lv_planes[0.0]


def test_the_rv_runs_on_beyond_its_basal_end_where_the_heart_goes_on_and_ends_as_anywhere_where_it_does_not():
    """An RV disc on the middle three of five slices (20 mm apart) beside an LV disc on all five: with
    ``basal_mm`` 1 mm the RV runs on further beyond its basal end than beyond its apical end, on whichever side
    the frame puts the base, and the LV does not move. With the LV on the same three slices (nothing beyond the
    RV's base) both of the RV's ends are alike, with or without ``basal_mm``."""
    yy, xx = np.mgrid[:60, :80] * 1.5
    stack = np.zeros((5, 60, 80), np.uint8)
    stack[:, np.hypot(yy - 45, xx - 75) <= 12] = 1
    stack[1:4][:, np.hypot(yy - 45, xx - 40) <= 15] = 3
    sa = LabelVolume(stack, np.diag([20.0, 1.5, 1.5, 1.0]))
    frame = make_problem(sa).frame
    probs = np.zeros((4, *frame.shape), np.float32)
    probs[0] = 1.0  # weight 0: the stack alone
    zero = np.zeros((5, 2))
    t = voxel_coordinates(sa.affine, frame.affine, frame.shape)[..., 0]

    def fuse(volume: LabelVolume, flipped: bool, basal_mm: float | None) -> np.ndarray:
        f = dataclasses.replace(frame, flipped=flipped)
        stack_only = {"weight": 0.0, "rv_weight": 0.0, "absent_mm": ABSENT, "flat": 0.0}
        stack_only |= {"area_matched": False, "nested_myocardium": False, "closed_wall": False}
        stack_only |= {"basal_clearance_mm": None}
        return fuse_with_stack(probs, f, volume, zero, basal_mm=basal_mm, **stack_only).argmax(0)

    def beyond(volume: LabelVolume, flipped: bool, basal_mm: float | None) -> tuple[float, float]:
        """How far (slices) the RV runs on beyond slice 1 (towards 0) and beyond slice 3 (towards 4)."""
        planes = t[fuse(volume, flipped, basal_mm) == 3]
        return 1.0 - planes.min(), planes.max() - 3.0

    low, high = beyond(sa, False, 1.0)  # base last
    assert high > low + 0.15
    low, high = beyond(sa, True, 1.0)  # base first
    assert low > high + 0.15
    plain_low, plain_high = beyond(sa, False, None)
    assert plain_high == pytest.approx(plain_low, abs=0.15)  # without it both ends alike
    assert np.array_equal(fuse(sa, False, 1.0) == 1, fuse(sa, False, None) == 1)  # the LV does not move
    ending = stack.copy()
    ending[[0, 4]] = 0  # the heart ends with the RV
    ended = sa.with_array(ending, sa.affine)
    assert beyond(ended, False, 1.0) == beyond(ended, False, None)
    assert beyond(ended, True, 1.0) == beyond(ended, True, None)


def test_the_rv_s_blunt_basal_end_keeps_its_clearance_from_the_slice_beyond_it():
    """A large RV disc on the middle three of five 10 mm slices beside an LV disc on all five, fused with the stack
    alone and the blunt basal end (``basal_mm`` 0.5): without a clearance the RV runs on to within a canonical
    plane of the slice beyond its base, and degraded back onto the stack (Eq. 1) it appears on that slice;
    with ``basal_clearance_mm`` it stops that far before it (on whichever side the base is), the apical end and
    the LV do not move, and the result reproduces the slices."""
    yy, xx = np.mgrid[:60, :80] * 1.5
    stack = np.zeros((5, 60, 80), np.uint8)
    stack[:, np.hypot(yy - 45, xx - 75) <= 12] = 1
    stack[1:4][:, np.hypot(yy - 45, xx - 35) <= 28] = 3  # a large basal RV, as on real stacks
    sa = LabelVolume(stack, np.diag([10.0, 1.5, 1.5, 1.0]))
    frame = make_problem(sa).frame
    affine = frame.affine.copy()  # a canonical plane 0.6 mm before the last slice's centre, as on real stacks
    affine[0, 3] += (40.0 - 0.6 - affine[0, 3]) % 2.0
    problem = make_problem(sa, frame=dataclasses.replace(frame, affine=affine))
    probs = np.zeros((4, *problem.frame.shape), np.float32)
    probs[0] = 1.0  # weight 0: the stack alone
    zero = np.zeros((5, 2))
    t = voxel_coordinates(sa.affine, problem.frame.affine, problem.frame.shape)[..., 0]
    stack_only = SHIPPED | {"weight": 0.0, "rv_weight": 0.0, "basal_mm": 0.5, "closed_wall": False}

    def fuse(flipped: bool, clearance: float | None) -> np.ndarray:
        f = dataclasses.replace(problem.frame, flipped=flipped)
        return fuse_with_stack(probs, f, sa, zero, **stack_only | {"basal_clearance_mm": clearance})

    for flipped, base in ((False, 4), (True, 0)):
        plain, cleared = fuse(flipped, None), fuse(flipped, 2.5)
        reach_plain, reach_cleared = (np.abs(t[f[3] > 0] - base).min() * 10.0 for f in (plain, cleared))
        assert reach_plain < 1.5 and reach_cleared >= 2.5 - 1e-3  # mm from the slice beyond the base
        apex = 4 - base
        assert np.abs(t[plain[3] > 0] - apex).min() == pytest.approx(np.abs(t[cleared[3] > 0] - apex).min())
        assert np.array_equal(plain[1], cleared[1])  # the LV does not move
    # base last: degraded onto the stack, the RV appears on the slice beyond its base without the clearance
    consistency = [consistency_dice(problem, fuse(False, c), zero)["RV"] for c in (None, 2.5)]
    assert consistency[0] < 0.97 < consistency[1]


def test_the_rv_takes_its_own_prior_weight_in_the_fusion():
    """An RV and an LV disc on slices 0-2 of four (20 mm apart) and a prior without any heart, at the prior's
    full weight: with ``rv_weight`` 0 the RV inside the slab is the stack's shape-based interpolation
    whatever the prior says, and the LV (shared weight) vanishes midway; with ``rv_weight`` 1 the RV does too."""
    yy, xx = np.mgrid[:60, :60] * 1.5
    stack = np.zeros((4, 60, 60), np.uint8)
    stack[:3][:, np.hypot(yy - 45, xx - 30) <= 12] = 3
    stack[:3][:, np.hypot(yy - 45, xx - 60) <= 12] = 1
    sa = LabelVolume(stack, np.diag([20.0, 1.5, 1.5, 1.0]))
    frame = make_problem(sa).frame
    t = voxel_coordinates(sa.affine, frame.affine, frame.shape)[..., 0]
    weights = structure_weights(sa, frame, 1.0, 0.0)
    inside = weights[0] < 1.0
    assert weights[2][inside].max() == 0.0 and weights[0][inside].max() > 0.8
    assert np.all(weights[2][~inside] == 1.0)  # outside the slab the prior extrapolates every structure
    assert np.array_equal(weights[0], weights[1])
    assert np.array_equal(structure_weights(sa, frame, 0.5, None), structure_weights(sa, frame, 0.5, 0.5))
    probs = np.zeros((4, *frame.shape), np.float32)
    probs[0] = 1.0  # a prior without any heart
    zero = np.zeros((4, 2))
    common = {"weight": 1.0, "absent_mm": ABSENT, "basal_mm": None, "flat": 0.0}
    common |= {"area_matched": False, "nested_myocardium": False, "closed_wall": False, "basal_clearance_mm": None}
    own = fuse_with_stack(probs, frame, sa, zero, rv_weight=0.0, **common).argmax(0)
    shared = fuse_with_stack(probs, frame, sa, zero, rv_weight=1.0, **common).argmax(0)
    sbi = shape_based_interpolation(sa, frame.shape, frame.affine, absent_mm=ABSENT)
    midway = np.abs(t - 0.5) < 0.05
    assert np.array_equal((own == 3)[inside], (sbi == 3)[inside]) and (own == 3)[midway].sum() > 100
    assert (shared == 3)[midway].sum() == 0 and (own == 1)[midway].sum() == 0


def _ring(plane: tuple[int, int], centre: tuple[int, int]) -> np.ndarray:
    """An LV blood pool (radius 5 px) in a myocardial ring (radius 8 px) on one plane."""
    yy, xx = np.mgrid[: plane[0], : plane[1]]
    r = np.hypot(yy - centre[0], xx - centre[1])
    return np.where(r <= 5, 1, np.where(r <= 8, 2, 0)).astype(np.uint8)


def test_the_fusion_closes_the_lv_wall_that_the_blend_opens_between_enclosed_slices():
    """Two slices 10 mm apart whose rings are offset by 6 px, and a prior whose ring lies elsewhere midway:
    at the prior's weight 0.5 the blend opens the wall there (the blood pool touches the background
    in-plane). ``closed_wall`` closes it, turning only background or RV into myocardium and leaving the
    acquired planes, closed already, as they are; where one of the two slices has an open wall itself,
    nothing is closed."""
    plane = (40, 48)
    sa = LabelVolume(np.stack([_ring(plane, (20, 17)), _ring(plane, (20, 23))]), np.diag([10.0, 1, 1, 1]))
    frame = CanonicalFrame(affine=np.diag([2.5, 1, 1, 1]), shape=(5, *plane))
    prior = np.stack([_ring(plane, (20, c)) for c in (12, 20, 30, 20, 28)])
    probs = np.stack([prior == v for v in range(4)]).astype(np.float32)
    zero = np.zeros((2, 2))
    keywords = SHIPPED | {"weight": 0.5}
    opened = fused_labels(probs, frame, sa, zero, **keywords | {"closed_wall": False})[0]
    closed = fused_labels(probs, frame, sa, zero, **keywords | {"closed_wall": True})[0]
    assert exposed_lv(opened)[2].sum() > 5 and not exposed_lv(closed).any()
    changed = opened != closed
    assert changed.any() and np.all(closed[changed] == 2) and np.all(np.isin(opened[changed], (0, 3)))
    assert not changed[[0, 4]].any()  # the acquired slices' planes
    # a slice whose own wall is open: the fusion leaves the blend as it is between it and its neighbour
    gap = sa.array.copy()
    gap[1, 20, 28:32] = 1  # the blood pool runs out through the wall of the second slice
    sa_gap = sa.with_array(gap, sa.affine)
    assert enclosed_slices(sa_gap).tolist() == [True, False]
    kept = fused_labels(probs, frame, sa_gap, zero, **keywords | {"closed_wall": True})[0]
    blend = fused_labels(probs, frame, sa_gap, zero, **keywords | {"closed_wall": False})[0]
    assert exposed_lv(blend)[1:4].any() and np.array_equal(kept, blend)  # open midway, and left open


def _diamond(plane: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    """An LV blood pool (``|y| + |x| <= radius`` px) in a myocardial wall one pixel thick whose pixels touch
    each other only diagonally: it encloses the blood pool in-plane, but only just."""
    yy, xx = np.mgrid[: plane[0], : plane[1]]
    r = abs(yy - centre[0]) + abs(xx - centre[1])
    return np.where(r <= radius, 1, np.where(r <= radius + 1, 2, 0)).astype(np.uint8)


def test_the_fusion_closes_the_lv_wall_on_an_acquired_plane_where_resampling_opens_it():
    """Three slices of the same diamond ring (1.5 mm pixels), the middle one shifted by 0.3 mm, fused on a
    1.25 mm grid: on the middle slice's own plane the prior has no weight and the result is the slice moved
    and resampled, and there the one-pixel wall breaks. ``closed_wall`` closes it there too, turning only
    background or RV into myocardium."""
    plane = (24, 24)
    sa = LabelVolume(np.stack([_diamond(plane, (12, 12), 5)] * 3), np.diag([10.0, 1.5, 1.5, 1]))
    assert enclosed_slices(sa).all()
    frame = CanonicalFrame(affine=np.diag([2.5, 1.25, 1.25, 1]), shape=(9, 29, 29))
    prior = np.stack([_diamond((29, 29), (14, 14), 6)] * 9)
    probs = np.stack([prior == v for v in range(4)]).astype(np.float32)
    shifts = np.array([[0.0, 0.0], [0.3, 0.3], [0.0, 0.0]])
    opened = fused_labels(probs, frame, sa, shifts, **SHIPPED | {"closed_wall": False})[0]
    closed = fused_labels(probs, frame, sa, shifts, **SHIPPED | {"closed_wall": True})[0]
    middle = 4  # the middle slice's centre plane: t = 1
    assert np.allclose(voxel_coordinates(sa.affine, frame.affine, frame.shape)[middle, ..., 0], 1.0)
    assert exposed_lv(opened)[middle].sum() > 0 and not exposed_lv(closed).any()
    changed = opened != closed
    assert changed[middle].any() and np.all(closed[changed] == 2) and np.all(np.isin(opened[changed], (0, 3)))


@pytest.mark.skipif(not DEMO_HR.is_file(), reason="../shared/data (reference data) is absent")
def test_normal_motion_on_a_real_heart_is_corrected_by_the_searched_hypothesis(default_prior):
    hr = to_canonical(load_labels(DEMO_HR, "ukbb"))[0]
    case = simulate_case("demo", hr, 1.0, np.random.default_rng([1, 0]))
    result = enhance(case.lr, prior=default_prior[0])
    motion = result.optimisation.motion
    assert motion["hypothesis"] == "searched", motion
    assert motion["relative_gain"] <= motion["threshold"] < 1.0
    assert motion["relative_gain_searched"] > motion["search_threshold"]
    assert _error_rms(result.shifts_mm, case.shifts_mm) < _error_rms(0 * case.shifts_mm, case.shifts_mm)
    two = enhance(case.lr, prior=default_prior[0], search_threshold=None)
    assert two.optimisation.motion["hypothesis"] == "none" and "relative_gain_searched" not in two.optimisation.motion
    sbi = enhance(case.lr, method="sbi")
    score = {
        name: np.mean(list(shift_optimal_dice(_on(r, hr), hr.array, hr.spacing, search_mm=6.0)[0].values()))
        for name, r in (("searched", result), ("two hypotheses", two), ("sbi", sbi))
    }
    assert score["searched"] > max(score["two hypotheses"], score["sbi"]), score


def _on(result, hr):
    return resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine)


def _run(total: float, **kind) -> Run:
    run = Run(0, 0, **kind)
    run.best = Snapshot(torch.zeros(2), torch.zeros(3, 2), 5, {"total": total})
    return run


def _run_with_views(stack: float, views: list[float], **kind) -> Run:
    run = Run(0, 0, **kind)
    losses = {"total": stack + sum(views), "sa": stack} | {f"la{i}": v for i, v in enumerate(views)}
    run.best = Snapshot(torch.zeros(2), torch.zeros(3, 2), 5, losses)
    return run


def test_the_motion_test_weighs_a_second_view_as_the_first_and_keeps_clear_motion():
    # the stack gains 0.08 of its 0.10 with the estimate, each view 0.01 of its 0.20
    options = OptimiseOptions()  # τ 0.25
    decided = {}
    for n in (1, 2, 3):
        still, fixed = _run_with_views(0.10, [0.20] * n, zero_motion=True), _run_with_views(0.02, [0.19] * n)
        chosen, motion = motion_decision(fixed, still, [], options)
        decided[n] = (chosen is fixed, motion["relative_gain"])
    assert decided[1] == decided[2] == decided[3] == (True, round(0.09 / 0.30, 4)), decided
    # summed, the second view alone would have diluted the gain below τ: (0.50 - 0.40) / 0.50 = 0.2
    assert weighed_objective({"total": 0.50, "sa": 0.10, "la0": 0.20, "la1": 0.20}) == pytest.approx(0.30)


def test_the_two_estimates_are_weighed_with_two_views_as_the_motion_test_weighs_them():
    # align fits the stack far better (0.02 against 0.05), centroid each view a little better (0.08 against 0.10):
    # summed, centroid is lower (0.21 against 0.22); with the views averaged, align (0.12 against 0.13)
    options = OptimiseOptions()
    still = _run_with_views(0.10, [0.12, 0.12], zero_motion=True)
    first, second = _run_with_views(0.02, [0.10, 0.10]), _run_with_views(0.05, [0.08, 0.08], second=True)
    assert second.state.total < first.state.total
    chosen, motion = motion_decision(first, still, [second], options)
    assert chosen is first and motion["estimate"] == "align", motion
    assert motion["estimate_losses"] == {"align": 0.12, "centroid": 0.13}
    # the race between the two estimates stops the one the test would not pick
    search._stop_the_worse_estimate([still, first, second], 1)
    assert second.done and not first.done
    # with one view the two weighings are Eq. 5 itself and agree: centroid
    still1 = _run_with_views(0.10, [0.12], zero_motion=True)
    first1, second1 = _run_with_views(0.02, [0.12]), _run_with_views(0.05, [0.08], second=True)
    assert motion_decision(first1, still1, [second1], options)[1]["estimate"] == "centroid"
    search._stop_the_worse_estimate([still1, first1, second1], 1)
    assert first1.done and not second1.done


def test_the_motion_test_keeps_the_estimate_with_the_lower_loss():
    options = OptimiseOptions()
    first, second, still = _run(0.05), _run(0.04, second=True), _run(0.15, zero_motion=True)
    chosen, motion = motion_decision(first, still, [second], options)
    assert chosen is second and motion["estimate"] == "centroid" and motion["hypothesis"] == "estimated"
    assert motion["estimate_losses"] == {"align": 0.05, "centroid": 0.04}
    assert motion["relative_gain"] == round((0.15 - 0.04) / 0.15, 4)
    chosen, motion = motion_decision(_run(0.03), still, [second], options)
    assert motion["estimate"] == "align" and chosen.second is False
    # neither estimate explains enough: d = 0, whichever estimate was lower
    chosen, motion = motion_decision(_run(0.14), still, [_run(0.13, second=True)], options)
    assert chosen is still and motion["hypothesis"] == "none" and motion["estimate"] == "centroid"


def test_searched_shifts_below_tau_s_are_kept_only_when_the_stack_corroborates_them():
    options = OptimiseOptions()  # τ 0.25, τs 0.05, margin 0.005
    still, fixed = _run(0.100, zero_motion=True), _run(0.104)
    searched = _run(0.097, search=True)  # a gain of 3 %: above 0, below τs
    asked = []

    def check(margin_gain):
        def gain(run):
            asked.append(run)
            return margin_gain

        return gain

    chosen, motion = motion_decision(fixed, still, [searched], options, check(0.012))
    assert chosen is searched and motion["hypothesis"] == "searched" and motion["corroborated"], motion
    assert motion["self_consistency_gain"] == 0.012 and asked == [searched]
    chosen, motion = motion_decision(fixed, still, [searched], options, check(0.004))
    assert chosen is still and motion["hypothesis"] == "none" and "corroborated" not in motion
    off = dataclasses.replace(options, search_corroboration=None)
    assert motion_decision(fixed, still, [searched], off, check(0.5))[0] is still
    # a searched fit that does not lower the loss is never corroborated, and the stack is not read
    asked.clear()
    assert motion_decision(fixed, still, [_run(0.101, search=True)], options, check(0.5))[0] is still
    assert asked == []


def test_searched_shifts_above_tau_s_are_rejected_when_the_stack_contradicts_them():
    options = OptimiseOptions()  # τ 0.25, τs 0.05, margin 0.005, corroborate_every_search
    still, fixed = _run(0.100, zero_motion=True), _run(0.104)
    searched = _run(0.080, search=True)  # a gain of 20 %: above τs

    def check(value):
        return lambda run: value

    chosen, motion = motion_decision(fixed, still, [searched], options, check(0.012))
    assert chosen is searched and motion["hypothesis"] == "searched" and "contradicted" not in motion, motion
    assert motion["self_consistency_gain"] == 0.012
    chosen, motion = motion_decision(fixed, still, [searched], options, check(0.004))
    assert chosen is still and motion["hypothesis"] == "none" and motion["contradicted"] and not motion["supported"]
    # a stack without interior heart slices has nothing to check: the gain decides
    assert motion_decision(fixed, still, [searched], options, check(float("nan")))[0] is searched
    for off in (
        dataclasses.replace(options, corroborate_every_search=False),
        dataclasses.replace(options, search_corroboration=None),
    ):
        chosen, motion = motion_decision(fixed, still, [searched], off, check(-0.5))
        assert chosen is searched and "self_consistency_gain" not in motion
    # the fixed estimate's clear motion is not checked
    clear = _run(0.06)
    assert motion_decision(clear, still, [searched], options, check(-0.5))[0] is clear


def test_the_stack_s_self_consistency_rises_when_real_motion_is_undone_and_falls_when_motion_is_invented():
    hr = cohort_member(1, 0)[0]
    case = simulate_case("c", hr, 1.0, case_rng(1, 0))  # normal motion
    still = simulate_case("c", hr, 0.0, case_rng(1, 0))
    truth = case.shifts_mm - case.shifts_mm.mean(0)
    assert stack_self_consistency(case.lr, truth) > stack_self_consistency(case.lr, 0 * truth) + 0.02
    assert stack_self_consistency(still.lr, truth) < stack_self_consistency(still.lr, 0 * truth) - 0.02


def test_the_stack_s_check_moves_the_heart_s_box_alone_and_gives_the_labels_of_moving_the_whole_stack():
    case = simulate_case("c", cohort_member(1, 0)[0], 1.0, case_rng(1, 0))
    rows, cols = np.nonzero(case.lr.array.any(0))
    # the heart against the image's edge, on pixels of 1.2 × 1.6 mm: shifts push it across the edge too
    labels = case.lr.array[:, rows.min() + 3 :, : cols.max() - 2]
    sa = LabelVolume(np.ascontiguousarray(labels), np.diag([10.0, 1.2, 1.6, 1.0]))
    for scale in (1.0, 3.0, 9.0):
        d = np.random.default_rng(int(scale)).normal(0.0, scale, (sa.shape[0], 2))
        # the stack moved back whole first, then checked as it stands: what the check computed before the crop
        assert stack_self_consistency(sa, d) == stack_self_consistency(shift_slices(sa, -d), 0 * d)


def test_the_second_estimate_restores_severe_motion_on_a_straight_phantom(default_prior):
    hr = cohort_member(1, 1)[0]
    case = simulate_case("c", hr, 4.0, case_rng(1, 1))
    # the estimates kept fixed, to see what the second one gives (searched on from, the two end 0.847 / 0.837)
    both = enhance(case.lr, prior=default_prior[0], estimate_search=None)
    alignment_only = enhance(case.lr, prior=default_prior[0], second_estimate=None, estimate_search=None)
    motion = both.summary()["motion"]
    assert motion["estimate"] == "centroid"
    assert motion["estimate_losses"]["centroid"] < motion["estimate_losses"]["align"]
    assert "estimate_losses" not in alignment_only.summary()["motion"]

    def score(result):
        sr = resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine)
        return float(np.mean(list(dice(sr, hr.array).values())))

    print(f"severe phantom: both estimates {score(both):.3f}, alignment only {score(alignment_only):.3f}")
    assert score(both) > score(alignment_only) + 0.02


def test_the_self_consistency_gain_of_shared_shifts_averages_the_stacks_that_have_interior_heart_slices():
    hr = cohort_member(1, 0)[0]
    case = simulate_case("c", hr, 1.0, case_rng(1, 0))
    heart = case.lr.array.any((1, 2))
    truth = np.where(heart[:, None], case.shifts_mm - case.shifts_mm[heart].mean(0), 0.0)  # the gauge of the stack
    one = self_consistency_gain([case.lr], truth)
    assert one == pytest.approx(stack_self_consistency(case.lr, truth) - stack_self_consistency(case.lr, 0 * truth))
    assert one > 0.02
    # a frame without heart labels has nothing to predict: it neither counts nor turns the mean into NaN
    empty = LabelVolume(np.zeros_like(case.lr.array), case.lr.affine)
    assert self_consistency_gain([case.lr, empty], truth) == pytest.approx(one)
    assert np.isnan(self_consistency_gain([empty], truth))
    # a common translation of every slice is no motion
    assert self_consistency_gain([case.lr], truth + 2.5) == pytest.approx(one)


def test_the_views_crossings_corroborate_motion_that_the_stack_s_loss_alone_does_not():
    # the estimate gains 8 % of the stack's loss (τ 25 %), the search 4 % (τs 5 %): without the views, no motion
    options = OptimiseOptions()
    still, fixed = _run(0.100, zero_motion=True), _run(0.092)
    searched = _run(0.096, search=True)
    chosen, motion = motion_decision(fixed, still, [searched], options)
    assert chosen is still and motion["hypothesis"] == "none"
    below = motion_decision(fixed, still, [searched], options, view_evidence=0.5 * VIEW_MOTION_EVIDENCE)
    assert below[0] is still and below[1]["view_evidence"] == round(0.5 * VIEW_MOTION_EVIDENCE, 4)
    # the views' crossings show the motion: the hypothesis with the lower loss of the two with motion is kept
    chosen, motion = motion_decision(fixed, still, [searched], options, view_evidence=2 * VIEW_MOTION_EVIDENCE)
    assert chosen is fixed and motion["hypothesis"] == "estimated" and motion["corroborated_by_views"]
    better_search = _run(0.090, search=True)
    chosen, motion = motion_decision(fixed, still, [better_search], options, view_evidence=2 * VIEW_MOTION_EVIDENCE)
    assert chosen is better_search and motion["hypothesis"] == "searched" and motion["supported"]
    # between the two thresholds the views need the stack's loss to gain more than τs with the estimate
    between = (VIEW_MOTION_EVIDENCE + VIEW_MOTION_EVIDENCE_ALONE) / 2
    assert motion_decision(fixed, still, [searched], options, view_evidence=between)[0] is fixed  # 8 % > τs
    flat = _run(0.097)  # 3 %: a still heart's per-slice freedom reaches that evidence, its loss hardly gains
    chosen, motion = motion_decision(flat, still, [searched], options, view_evidence=between)
    assert chosen is still and not motion.get("corroborated_by_views")
    chosen, motion = motion_decision(flat, still, [searched], options, view_evidence=2 * VIEW_MOTION_EVIDENCE_ALONE)
    assert chosen is searched and motion["corroborated_by_views"]  # the views alone: the lower loss with motion
