"""Canonical grid (anatomical frame), mapping back to the input's world, and the long-axis operator R."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import DEMO_HR, MNMS_LA, MNMS_SA, needs_shared

from cardiosr.errors import GeometryWarning, InputError
from cardiosr.geometry import (
    CANONICAL_SHAPE,
    REFERENCE_LV_TO_RV_ANGLE_DEG,
    LongAxisSlicer,
    apex_to_base_score,
    canonical_frame,
    from_canonical,
    hr_grid,
    to_canonical,
    voxel_coordinates,
)
from cardiosr.io import load_labels
from cardiosr.labels import LV, RV
from cardiosr.metrics import dice
from cardiosr.slice_axis import axis_permutation, detect_slice_axis, to_disk_order, to_internal_order
from cardiosr.volume import LabelVolume


def reoriented(vol: LabelVolume, perm, flips, rotate_deg: float = 0.0, update_affine: bool = True) -> LabelVolume:
    """The same heart stored another way: array axes permuted (new axis j = old axis perm[j]) and flipped.

    With ``update_affine`` every voxel keeps its world position; ``rotate_deg`` then also rotates the whole
    placement in the world about the slice direction through the heart (an in-plane rotation of the affine).
    The result is read back as :func:`cardiosr.io.load_labels` would: slice axis detected and moved first.
    """
    array = np.transpose(vol.array, perm)
    new_to_old = np.zeros((4, 4))
    new_to_old[3, 3] = 1
    for j, (axis, flip) in enumerate(zip(perm, flips, strict=True)):
        if flip:
            array = np.flip(array, j)
            new_to_old[axis, j] = -1
            new_to_old[axis, 3] = vol.shape[axis] - 1
        else:
            new_to_old[axis, j] = 1
    affine = vol.affine @ new_to_old if update_affine else vol.affine.copy()
    if rotate_deg:
        axis = vol.affine[:3, 0] / np.linalg.norm(vol.affine[:3, 0])
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        t = np.deg2rad(rotate_deg)
        rot = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k
        centre = (vol.affine @ np.r_[np.argwhere(vol.array > 0).mean(0), 1])[:3]
        world = np.eye(4)
        world[:3, :3] = rot
        world[:3, 3] = centre - rot @ centre
        affine = world @ affine
    array, affine, disk_axes = to_internal_order(array, affine, detect_slice_axis(affine, array.shape))
    return LabelVolume(np.ascontiguousarray(array), affine, vol.convention, disk_axes)


def _all_at_least(scores: dict[str, float], bound: float) -> bool:
    return all(v >= bound for v in scores.values())


# --- properties on phantoms (no reference data needed) -------------------------------------------------


def test_phantom_is_already_canonical(phantom):
    vol, _ = phantom
    canon, frame = to_canonical(vol)
    assert not frame.flipped
    assert canon.array.shape == CANONICAL_SHAPE
    assert _all_at_least(dice(canon.array, vol.array), 0.9)


@pytest.mark.parametrize(
    ("perm", "flips", "rotate"),
    [
        ((0, 1, 2), (False, True, False), 0.0),
        ((2, 0, 1), (True, False, True), 35.0),
        ((1, 2, 0), (False, True, True), -70.0),
    ],
)
def test_any_storage_of_a_phantom_lands_on_the_same_canonical_volume(phantom, perm, flips, rotate):
    vol, _ = phantom
    reference, _ = to_canonical(vol)
    stored = reoriented(vol, perm, flips, rotate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeometryWarning)
        canon, _ = to_canonical(stored)
    assert _all_at_least(dice(canon.array, reference.array), 0.95)


def test_round_trip_to_canonical_and_back_keeps_the_world_frame(phantom):
    vol, _ = phantom
    stored = reoriented(vol, (2, 0, 1), (False, True, False), 20.0)
    canon, frame = to_canonical(stored)
    back = from_canonical(canon.array, frame, stored)
    assert back.shape == stored.shape
    np.testing.assert_allclose(back.affine, stored.affine, atol=1e-6)
    assert _all_at_least(dice(back.array, stored.array), 0.97)


def test_apex_base_order_comes_from_the_anatomy(phantom):
    vol, _ = phantom
    assert apex_to_base_score(vol.array) > 0.2
    assert apex_to_base_score(vol.array[::-1]) < -0.2


def test_canonical_frame_puts_the_rv_in_the_reference_direction(phantom):
    vol, _ = phantom
    canon, _ = to_canonical(reoriented(vol, (0, 2, 1), (False, False, False), 90.0))
    lv = np.argwhere(canon.array == LV).mean(0)
    rv = np.argwhere(canon.array == RV).mean(0)
    angle = np.degrees(np.arctan2(rv[2] - lv[2], rv[1] - lv[1]))
    assert abs((angle - REFERENCE_LV_TO_RV_ANGLE_DEG + 180) % 360 - 180) < 12  # phantoms jitter ±10°


def test_empty_segmentation_is_an_input_error():
    with pytest.raises(InputError, match="no heart labels"):
        canonical_frame(LabelVolume(np.zeros((5, 10, 10), np.uint8), np.eye(4)))


@pytest.mark.parametrize(("spacing_mm", "snapped"), [(10.0, True), (8.0, True), (9.0, False)])
def test_snapped_frame_puts_the_slices_on_canonical_planes_within_a_millimetre(phantom, spacing_mm, snapped):
    hr, _ = phantom
    lr = hr.array[2::5]
    affine = hr.affine.copy()
    affine[:3, 0] *= spacing_mm / np.linalg.norm(affine[:3, 0])
    affine[:3, 3] += 0.37 * affine[:3, 0] / np.linalg.norm(affine[:3, 0])  # the slices off the grid's planes
    stack = LabelVolume(lr, affine)
    plain, snap = canonical_frame(stack), canonical_frame(stack, snap_slices=True)
    depth = voxel_coordinates(snap.affine, stack.affine, (stack.shape[0], 1, 1))[:, 0, 0, 0]  # canonical slice
    moved = snap.affine[:3, 3] - plain.affine[:3, 3]
    assert np.allclose(snap.affine[:3, :3], plain.affine[:3, :3])
    if snapped:
        assert np.allclose(depth, np.round(depth), atol=1e-6)
        assert 0.0 < np.linalg.norm(moved) <= 1.0 + 1e-9  # at most half a 2 mm canonical slice, along e_d
        assert np.allclose(np.cross(moved, snap.affine[:3, 0]), 0.0, atol=1e-9)
    else:
        assert np.allclose(moved, 0.0)


def test_hr_grid_of_a_thick_stack_spans_the_stack():
    lr = LabelVolume(np.zeros((13, 100, 90), np.uint8), np.diag([10.0, 1.8, 1.8, 1.0]))
    shape, affine = hr_grid(lr, (2.0, 1.25, 1.25))
    assert shape == (65, 144, 130)
    # the first 2 mm slice's outer face coincides with the first 10 mm slice's outer face
    assert affine[0, 3] - 1.0 == pytest.approx(lr.affine[0, 3] - 5.0)
    assert affine[1, 3] - 0.625 == pytest.approx(lr.affine[1, 3] - 0.9)
    hr = LabelVolume(np.zeros((64, 128, 128), np.uint8), np.diag([1.9999934, 1.25, 1.25, 1.0]))
    shape, affine = hr_grid(hr, (2.0, 1.25, 1.25))
    assert shape == hr.shape and np.allclose(affine, hr.affine, atol=1e-9)


def test_long_axis_slicer_reproduces_a_plane_of_the_volume_and_has_gradients(phantom):
    vol, _ = phantom
    canon, frame = to_canonical(vol)
    probs = torch.from_numpy(canon.one_hot())[None].requires_grad_(True)
    # a "long-axis view" that is the canonical plane h = 64 (a D-W plane), as a single-slice image
    view_affine = frame.affine @ np.array([[0, 1, 0, 0], [1, 0, 0, 64], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    slicer = LongAxisSlicer(frame.affine, frame.shape, view_affine, (64, 128))
    out = slicer(probs)
    assert out.shape == (1, 4, 64, 128)
    assert bool(slicer.inside.all())
    assert np.array_equal(out[0].argmax(0).numpy(), canon.array[:, 64, :])
    out[:, 1].sum().backward()
    assert probs.grad is not None and probs.grad.abs().sum() > 0


# --- real reference data ----------------------------------------------------------------------------------


@needs_shared
def test_reference_orientation_constant_matches_demo_hr():
    vol = load_labels(DEMO_HR)
    assert apex_to_base_score(vol.array) > 0  # demo_HR is stored apex→base
    lv, rv = np.argwhere(vol.array == LV).mean(0), np.argwhere(vol.array == RV).mean(0)
    d = (rv - lv)[1:] * vol.spacing[1:]
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(REFERENCE_LV_TO_RV_ANGLE_DEG, abs=0.05)


@needs_shared
def test_demo_hr_round_trip():
    vol = load_labels(DEMO_HR)
    canon, frame = to_canonical(vol)
    assert not frame.flipped and not frame.warnings
    back = from_canonical(canon.array, frame, vol)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)
    assert _all_at_least(dice(back.array, vol.array), 0.97)


@needs_shared
@pytest.mark.parametrize(
    ("perm", "flips", "rotate"),
    [
        ((2, 1, 0), (True, False, False), 0.0),
        ((1, 0, 2), (False, True, True), 30.0),
        ((0, 2, 1), (False, False, True), -50.0),
    ],
)
def test_demo_hr_stored_another_way_lands_on_the_same_canonical_volume(perm, flips, rotate):
    vol = load_labels(DEMO_HR)
    reference, _ = to_canonical(vol)
    canon, _ = to_canonical(reoriented(vol, perm, flips, rotate))
    assert _all_at_least(dice(canon.array, reference.array), 0.95)


@needs_shared
def test_demo_hr_flipped_without_affine_update_still_lands_apex_to_base_with_a_warning():
    vol = load_labels(DEMO_HR)
    broken = reoriented(vol, (0, 1, 2), (True, False, False), update_affine=False)
    with pytest.warns(GeometryWarning, match="apex"):
        canon, frame = to_canonical(broken)
    assert frame.flipped
    assert apex_to_base_score(canon.array) > 0.2
    # the result still lies on the (broken) input's own world frame
    back = from_canonical(canon.array, frame, broken)
    assert _all_at_least(dice(back.array, broken.array), 0.97)


@needs_shared
def test_long_axis_slicing_of_the_mnms_stack_reproduces_the_four_chamber_view():
    sa, la = load_labels(MNMS_SA, "mnms"), load_labels(MNMS_LA, "mnms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeometryWarning)
        canon, frame = to_canonical(sa)  # upsamples the 10 mm stack along the slice axis, per class
    slicer = LongAxisSlicer(frame.affine, frame.shape, la.affine, la.shape[1:])
    sliced = slicer(torch.from_numpy(canon.one_hot())[None])[0].argmax(0).numpy()
    coords = voxel_coordinates(sa.affine, la.affine, la.shape)[0]
    in_stack = (
        (coords[..., 0] >= -0.5)
        & (coords[..., 0] <= sa.shape[0] - 0.5)
        & np.all((coords[..., 1:] >= 0) & (coords[..., 1:] <= np.asarray(sa.shape[1:]) - 1), axis=-1)
    )
    mask = in_stack & slicer.inside.numpy()
    assert mask.sum() > 5000
    scores = dice(sliced, la.array[0], mask=mask)
    assert scores["LV"] >= 0.85 and scores["RV"] >= 0.85, scores
    # the wrong geometry (stack flipped along its slice axis) is far worse
    wrong, _ = to_canonical(sa.with_array(sa.array[::-1].copy()), frame)
    bad = dice(slicer(torch.from_numpy(wrong.one_hot())[None])[0].argmax(0).numpy(), la.array[0], mask=mask)
    assert bad["MYO"] < scores["MYO"] - 0.2


def test_internal_and_disk_order_round_trip_array_and_affine():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 4, (5, 6, 7))
    affine = np.array([[0.0, 1.5, 0.2, 3.0], [1.2, 0.0, 0.1, -2.0], [0.0, 0.3, 8.0, 1.0], [0, 0, 0, 1]])
    for axis in range(3):
        internal, internal_affine, disk_axes = to_internal_order(array, affine, axis)
        assert internal.shape[0] == array.shape[axis]
        back, back_affine = to_disk_order(internal, internal_affine, disk_axes)
        assert (back == array).all() and np.allclose(back_affine, affine, atol=1e-5)
        # every voxel keeps its world position
        idx = np.array([1, 2, 3, 1.0])
        assert np.allclose(internal_affine @ np.linalg.inv(axis_permutation(disk_axes)) @ idx, affine @ idx)


def test_snap_slices_setting_moves_the_grid_onto_the_slices_and_keeps_the_world(phantom):
    from cardiosr.degradation import downsample_slices
    from cardiosr.pipeline import enhance

    stack = downsample_slices(phantom[0])
    plain, snapped = (enhance(stack, method="nn", snap_slices=snap, figure=False) for snap in (False, True))
    a, b = plain.sr_canonical.affine, snapped.sr_canonical.affine
    depth = voxel_coordinates(b, stack.affine, (stack.shape[0], 1, 1))[:, 0, 0, 0]
    assert np.allclose(depth, np.round(depth), atol=1e-6)
    assert np.allclose(a[:3, :3], b[:3, :3]) and np.linalg.norm(a[:3, 3] - b[:3, 3]) <= 1.0 + 1e-9
    # the result in the input's world does not depend on where the canonical grid lies
    assert dice(plain.sr.array, snapped.sr.array)["LV"] > 0.95
