"""Metrics (Dice, shift-optimal Dice, surface distances, plausibility, volumes, long-axis Dice) on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEMO_HR, needs_shared

from cardiosr.metrics import (
    clinical_volumes,
    dice,
    evaluate,
    long_axis_dice,
    paired_difference,
    plausibility,
    shift_optimal_dice,
    slicewise_shift_optimal,
    surface_distances,
)
from cardiosr.volume import LabelVolume


def _ring_heart(shape=(6, 40, 40), lv_r=6.0, myo_r=9.0, rv_centre=(20, 31), rv_r=5.0) -> np.ndarray:
    """LV disc inside a MYO ring, RV disc beside it, on every slice (a tube)."""
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    r = np.hypot(yy - 20, xx - 16)
    a = np.zeros(shape, np.uint8)
    a[:, r <= myo_r] = 2
    a[:, r <= lv_r] = 1
    a[:, (np.hypot(yy - rv_centre[0], xx - rv_centre[1]) <= rv_r) & (r > myo_r)] = 3
    return a


def test_dice_hand_values_and_empty_structures():
    ref = np.zeros((2, 4, 4), np.uint8)
    ref[0, :2, :2] = 1  # 4 voxels
    pred = np.zeros_like(ref)
    pred[0, :2, :1] = 1  # 2 voxels, all inside
    pred[1, 0, 0] = 3  # RV only in the prediction
    d = dice(pred, ref)
    assert d["LV"] == pytest.approx(2 * 2 / 6)
    assert d["MYO"] == 1.0  # absent from both
    assert d["RV"] == 0.0  # present in one only


def test_shift_optimal_dice_recovers_a_known_translation_with_anisotropic_voxels():
    ref = _ring_heart()
    pred = np.roll(ref, (3, -2), axis=(1, 2))  # moved 3 rows down, 2 columns left
    spacing = (10.0, 1.5, 2.0)
    plain = dice(pred, ref)
    best, (th, tw) = shift_optimal_dice(pred, ref, spacing)
    assert min(plain.values()) < 0.8
    assert best == {"LV": 1.0, "MYO": 1.0, "RV": 1.0}
    assert (th, tw) == (-4.5, 4.0)  # the prediction moved back: 3 rows of 1.5 mm, 2 columns of 2 mm


def test_shift_optimal_dice_search_range_is_respected():
    ref = _ring_heart()
    pred = np.roll(ref, 6, axis=2)  # 6 columns of 2 mm = 12 mm
    near, t_near = shift_optimal_dice(pred, ref, (10.0, 2.0, 2.0), search_mm=10.0)
    far, t_far = shift_optimal_dice(pred, ref, (10.0, 2.0, 2.0), search_mm=12.0)
    assert t_far == (0.0, -12.0) and far["LV"] == 1.0
    assert abs(t_near[1]) <= 10.0 and near["LV"] < 1.0


def test_slicewise_shift_optimal_moves_each_slice_by_its_own_offset_within_the_window_only():
    ref = _ring_heart()
    pred = ref.copy()
    pred[1] = np.roll(ref[1], 2, axis=0)  # 4 mm: within the protocol's ±5 mm
    pred[3] = np.roll(ref[3], -6, axis=1)  # 12 mm: a breath-hold offset beyond it
    spacing = (10.0, 2.0, 2.0)
    narrow = slicewise_shift_optimal(pred, ref, spacing, 5.0)
    wide = slicewise_shift_optimal(pred, ref, spacing, 12.0)
    assert (wide == ref).all()
    assert (narrow[[0, 1, 2, 4, 5]] == ref[[0, 1, 2, 4, 5]]).all()
    assert dice(narrow[3:4], ref[3:4])["LV"] < 0.7  # 7 mm left over


def test_shift_optimal_dice_never_worse_than_plain_dice_and_keeps_zero_on_ties():
    ref = _ring_heart()
    d = dice(ref, ref)
    best, t = shift_optimal_dice(ref, ref, (2.0, 1.25, 1.25))
    assert best == d and t == (0.0, 0.0)
    empty, _ = shift_optimal_dice(np.zeros_like(ref), ref, (2.0, 1.25, 1.25))
    assert empty == {"LV": 0.0, "MYO": 0.0, "RV": 0.0}


def test_surface_distances_by_hand_with_anisotropic_spacing():
    # two 1-voxel-thick planes of a box, 2 slices apart along D (3 mm slices): every distance is 6 mm
    ref = np.zeros((6, 5, 5), np.uint8)
    pred = np.zeros_like(ref)
    ref[1] = 1
    pred[3] = 1
    d = surface_distances(pred, ref, (3.0, 0.5, 0.5))
    assert d["LV"]["hd95"] == pytest.approx(6.0) and d["LV"]["msd"] == pytest.approx(6.0)
    assert d["MYO"] == {"hd95": 0.0, "msd": 0.0}  # absent from both
    pred[0, 0, 0] = 3
    assert surface_distances(pred, ref, (3.0, 0.5, 0.5))["RV"]["hd95"] == float("inf")  # absent from one


def test_surface_distances_of_a_shifted_ring_equal_the_shift_in_mm():
    ref = _ring_heart()
    pred = np.roll(ref, 2, axis=2)  # 2 columns of 1.25 mm
    d = surface_distances(pred, ref, (8.0, 1.25, 1.25))
    assert 1.25 <= d["LV"]["hd95"] <= 2.5 + 1e-9
    assert 0.5 < d["LV"]["msd"] <= 2.5


def test_plausibility_accepts_a_normal_heart_and_flags_each_defect():
    good = _ring_heart()
    p = plausibility(good, 10.0)
    assert p["plausible"] and p["components_LV"] == p["components_MYO"] == p["components_RV"] == 1

    split = good.copy()
    split[:, 36:, :] = 0
    split[:, 37:39, 2:5] = 3  # a second, detached RV island
    assert plausibility(split, 10.0)["components_RV"] == 2 and not plausibility(split, 10.0)["plausible"]

    holed = good.copy()
    holed[2:4, 19:21, 15:17] = 0  # background enclosed by the LV blood pool
    assert plausibility(holed, 10.0)["holes_LV"] == 8 and not plausibility(holed, 10.0)["plausible"]

    gap = good.copy()
    gap[:, 20, 16:27] = np.where(gap[:, 20, 16:27] == 2, 1, gap[:, 20, 16:27])  # LV breaks through the wall
    result = plausibility(gap, 10.0)
    assert result["lv_background_contacts"] + result["lv_rv_contacts"] > 0 and not result["plausible"]

    no_rv = good.copy()
    no_rv[no_rv == 3] = 0
    assert plausibility(no_rv, 10.0)["components_RV"] == 0 and not plausibility(no_rv, 10.0)["plausible"]


def test_plausibility_leaves_out_the_same_length_at_the_lv_ends_on_any_slice_spacing():
    # the basal slice opens to background (an outflow tract): a gap in its wall
    heart = _ring_heart()
    heart[-1, 20, 16:27] = np.where(heart[-1, 20, 16:27] == 2, 1, heart[-1, 20, 16:27])
    assert plausibility(heart, 10.0)["plausible"]
    # the same heart on 2 mm planes (each 10 mm slice repeated five times) gets the same verdict
    fine = np.repeat(heart, 5, axis=0)
    p = plausibility(fine, 2.0)
    assert p["plausible"] and p["lv_background_contacts"] == 0
    # an opening that reaches further than 10 mm from the LV's end is still found
    deeper = fine.copy()
    deeper[-7:] = fine[-1]
    assert plausibility(deeper, 2.0)["lv_background_contacts"] > 0 and not plausibility(deeper, 2.0)["plausible"]
    # and so is a gap in the middle of the ventricle
    middle = fine.copy()
    middle[14] = fine[-1]
    assert not plausibility(middle, 2.0)["plausible"]
    # the counts do not depend on how much background lies round the heart
    padded = np.pad(middle, ((4, 2), (9, 3), (5, 11)))
    assert plausibility(padded, 2.0) == plausibility(middle, 2.0)


def test_clinical_volumes_and_their_errors_by_hand():
    a = np.zeros((4, 10, 10), np.uint8)
    a[0] = 1  # 100 voxels
    a[1, :5] = 2  # 50 voxels
    a[2:4, :2] = 3  # 40 voxels
    spacing = (10.0, 1.8, 1.8)  # 32.4 mm^3 per voxel
    v = clinical_volumes(a, spacing)
    assert v["LV_ml"] == pytest.approx(3.24) and v["RV_ml"] == pytest.approx(1.296)
    assert v["LV_mass_g"] == pytest.approx(50 * 0.0324 * 1.05)
    b = a.copy()
    b[3] = 0  # 20 RV voxels fewer
    row = evaluate(b, a, spacing)
    assert row["err_RV_ml"] == pytest.approx(-20 * 0.0324) and row["err_LV_ml"] == 0.0
    assert row["dice_LV"] == 1.0 and row["dice_RV"] == pytest.approx(2 * 20 / 60)


def test_paired_difference_finds_a_real_gap_and_not_a_noise_one():
    rng = np.random.default_rng(3)
    reference = rng.uniform(0.7, 0.9, 100)
    noise = rng.normal(0.0, 0.01, 100)
    # a gap of 0.01 on every case, under case-to-case noise of 0.01: the interval holds it and leaves out 0
    gap = paired_difference(reference + 0.01 + noise, reference)
    assert gap["low"] <= 0.01 <= gap["high"] and gap["low"] > 0
    assert gap["better"] + gap["worse"] == gap["cases"] == 100
    # the same noise with no gap, mirrored so that its mean is exactly 0: the interval holds 0
    both = np.concatenate([reference, reference])
    level = paired_difference(both + np.concatenate([noise, -noise]), both)
    assert abs(level["mean"]) < 1e-12 and level["low"] < 0 < level["high"] and level["better"] == level["worse"]
    # reproducible, and every case alike gives that difference exactly
    assert paired_difference(reference + noise, reference) == paired_difference(reference + noise, reference)
    same = paired_difference(reference + 0.02, reference)
    assert same["low"] == pytest.approx(0.02) and same["high"] == pytest.approx(0.02)
    for a, b in (([0.8, 0.9], [0.8]), ([0.8], [0.8, 0.9]), ([], [])):
        with pytest.raises(ValueError):
            paired_difference(a, b)


def test_long_axis_dice_slices_the_volume_on_the_view_plane():
    vol = _ring_heart((20, 40, 40))
    affine = np.diag([2.0, 1.25, 1.25, 1.0])
    result = LabelVolume(vol, affine)
    # a view through column 16 (the LV centre): its pixels are (D, H) of the volume
    la_affine = np.zeros((4, 4))
    la_affine[:3, 0] = [0, 0, 1.25]  # the thin axis along W
    la_affine[:3, 1] = [2.0, 0, 0]
    la_affine[:3, 2] = [0, 1.25, 0]
    la_affine[:3, 3] = [0, 0, 16 * 1.25]
    la_affine[3, 3] = 1
    la = LabelVolume(vol[:, :, 16][None], la_affine)
    assert long_axis_dice(result, la) == {"LV": 1.0, "MYO": 1.0, "RV": 1.0}
    moved = LabelVolume(np.roll(vol, 4, axis=1), affine)  # 5 mm off in H: the view no longer agrees
    assert long_axis_dice(moved, la)["LV"] < 0.8


@needs_shared
def test_the_real_hr_segmentation_is_plausible_and_scores_perfectly_against_itself():
    from cardiosr.io import load_labels

    hr = load_labels(DEMO_HR, "ukbb")
    row = evaluate(hr.array, hr.array, hr.spacing)
    assert row["dice_mean"] == 1.0 and row["hd95_MYO"] == 0.0 and row["err_LV_mass_g"] == 0.0
    assert row["components_LV"] == 1 and row["components_RV"] >= 1
