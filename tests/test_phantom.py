"""Phantom cohort: anatomy, sizes in adult ranges, topology, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cardiosr.geometry import CANONICAL_SHAPE, CANONICAL_SPACING, apex_to_base_score
from cardiosr.labels import LV, MYO, RV
from cardiosr.phantom import MYOCARDIAL_DENSITY, VOLUME_RANGES, generate_phantom, phantom_cohort

N_SEEDS = 20
FOUR_NEIGHBOURS = ndimage.generate_binary_structure(2, 1)


@pytest.fixture(scope="module")
def cohort():
    return phantom_cohort(N_SEEDS, seed=123)


def _slices_with(labels: np.ndarray, value: int) -> np.ndarray:
    return np.flatnonzero((labels == value).any(axis=(1, 2)))


def test_sizes_are_in_adult_ranges(cohort):
    voxel_ml = float(np.prod(CANONICAL_SPACING)) / 1000
    for vol, params in cohort:
        a = vol.array
        measured = {
            "lv_ml": (a == LV).sum() * voxel_ml,
            "rv_ml": (a == RV).sum() * voxel_ml,
            "myo_g": (a == MYO).sum() * voxel_ml * MYOCARDIAL_DENSITY,
        }
        for key, (lo, hi) in VOLUME_RANGES.items():
            assert lo <= measured[key] <= hi, (params.seed, key, measured[key])
        assert params.lv_ml == pytest.approx(measured["lv_ml"])
    lv = [p.lv_ml for _, p in cohort]
    assert max(lv) - min(lv) > 40  # the cohort spans the range, not one size


def test_each_structure_is_one_connected_component(cohort):
    for vol, params in cohort:
        for value in (LV, MYO, RV):
            _, n = ndimage.label(vol.array == value)
            assert n == 1, (params.seed, value, n)


def test_myocardium_separates_lv_from_background_on_every_slice(cohort):
    for vol, params in cohort:
        for k in _slices_with(vol.array, LV):
            s = vol.array[k]
            ring = ndimage.binary_dilation(s == LV, FOUR_NEIGHBOURS) & (s != LV)
            assert np.all(s[ring] == MYO), (params.seed, k)


def test_myocardium_closes_the_apex_and_is_open_at_the_base(cohort):
    for vol, params in cohort:
        a = vol.array
        lv_slices = _slices_with(a, LV)
        apex, base = lv_slices[0], lv_slices[-1]
        assert apex > 0 and np.all(a[apex - 1][a[apex] == LV] == MYO), params.seed  # closed apex
        assert base < a.shape[0] - 1 and np.all(a[base + 1] == 0), params.seed  # open base
        assert _slices_with(a, MYO)[0] < apex  # the myocardial cap lies below the cavity
        assert apex_to_base_score(a) > 0.2  # generated apex→base


def test_rv_is_a_crescent_against_the_septum_and_shorter_than_the_lv(cohort):
    for vol, params in cohort:
        a = vol.array
        assert _slices_with(a, RV)[0] > _slices_with(a, MYO)[0], params.seed
        touching = ndimage.binary_dilation(a == RV) & (a == MYO)
        assert touching.sum() > 100, params.seed
        assert not (ndimage.binary_dilation(a == RV) & (a == LV)).any(), params.seed
        # crescent: the RV's convex hull in a mid slice is much larger than the RV itself
        k = int(np.median(_slices_with(a, RV)))
        from skimage.morphology import convex_hull_image

        rv = a[k] == RV
        assert convex_hull_image(rv).sum() > 1.15 * rv.sum(), params.seed


def test_wall_thickness_and_tilt(cohort):
    spacing = np.asarray(CANONICAL_SPACING)
    for vol, params in cohort:
        a = vol.array
        k = int(np.median(_slices_with(a, LV)))
        inner = np.sqrt((a[k] == LV).sum() * spacing[1] * spacing[2] / np.pi)
        outer = np.sqrt(((a[k] == LV) | (a[k] == MYO)).sum() * spacing[1] * spacing[2] / np.pi)
        assert 5.0 <= outer - inner <= 13.0, (params.seed, outer - inner)
        assert 6.0 <= params.thickness <= 12.0 and 0.0 <= params.tilt_deg <= 20.0
        # the LV cavity's centreline leans at most ~20° (+ deformation) from the slice normal
        slices = _slices_with(a, LV)
        centres = np.array([np.argwhere(a[k] == LV).mean(0) for k in slices]) * spacing[1:]
        z = slices * spacing[0]
        slope = np.polyfit(z, centres, 1)[0]
        assert np.degrees(np.arctan(np.linalg.norm(slope))) <= 28.0, params.seed


def test_same_seed_same_phantom_and_grid():
    a, pa = generate_phantom(5)
    b, pb = generate_phantom(5)
    c, _ = generate_phantom(6)
    assert np.array_equal(a.array, b.array) and pa == pb
    assert not np.array_equal(a.array, c.array)
    assert a.array.shape == CANONICAL_SHAPE
    assert np.allclose(a.spacing, CANONICAL_SPACING)
    centre = np.argwhere(a.array > 0).mean(0)
    assert np.allclose(centre, (np.asarray(CANONICAL_SHAPE) - 1) / 2, atol=1.0)
