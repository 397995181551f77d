"""The default start of the slice shifts: the stack made as smooth as possible along the slice axis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEMO_HR, SHARED, needs_shared

from cardiosr.geometry import to_canonical
from cardiosr.io import load_labels
from cardiosr.mesh_hearts import BIVME_FOLDER, bivme_heart
from cardiosr.optimise import centroid_shifts
from cardiosr.phantom import cohort_member
from cardiosr.simulate import simulate_case
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.volume import LabelVolume


def _error_rms(estimate: np.ndarray, truth: np.ndarray, heart: np.ndarray) -> float:
    e, t = estimate[heart], truth[heart]
    return float(np.sqrt(np.mean(np.sum(((e - e.mean(0)) - (t - t.mean(0))) ** 2, axis=1))))


def _bent_cone(jitter_px: np.ndarray) -> LabelVolume:
    """A tapering LV with a wall and an RV, its axis tilted and bent, each slice moved by ``jitter_px``."""
    depth = len(jitter_px)
    lab = np.zeros((depth, 96, 96), np.uint8)
    rr, cc = np.mgrid[:96, :96]
    for k in range(depth):
        r0 = 48 + 0.8 * k + 0.08 * (k - depth / 2) ** 2 + jitter_px[k, 0]
        c0 = 40 + 0.5 * k + jitter_px[k, 1]
        radius = 6 + 1.2 * k
        dist = np.hypot(rr - r0, cc - c0)
        lab[k][dist < radius + 5] = 2
        lab[k][dist < radius] = 1
        rv = np.hypot(rr - r0, cc - (c0 + radius + 12)) < radius + 4
        lab[k][rv & (lab[k] == 0)] = 3
    return LabelVolume(lab, np.diag([10.0, 1.25, 1.25, 1.0]))


JITTER_PX = np.array([[0, 2], [3, -2], [-2, 1], [0, -4], [-3, 0], [1, 3], [4, -1], [-1, 2], [2, -3], [0, 1]])


def test_a_tilted_bent_tapering_heart_is_not_mistaken_for_motion():
    still = _bent_cone(np.zeros((10, 2)))
    heart = np.ones(10, bool)
    assert _error_rms(alignment_shifts(still), np.zeros((10, 2)), heart) < 0.5


def test_a_known_jitter_is_recovered_to_within_a_pixel():
    jitter = JITTER_PX
    stack = _bent_cone(jitter)
    truth = jitter * 1.25  # content moved by +jitter pixels
    heart = np.ones(10, bool)
    estimate = alignment_shifts(stack)
    # the linear trend of the truth is not identifiable: compare without it
    design = np.stack([np.ones(10), np.arange(10.0)], 1)
    truth_free = truth - design @ np.linalg.lstsq(design, truth, rcond=None)[0]
    assert _error_rms(estimate, truth_free, heart) < 1.25
    assert _error_rms(estimate, truth_free, heart) < 0.3 * _error_rms(np.zeros_like(truth), truth_free, heart)


def test_slices_without_heart_labels_get_zero_and_the_gauge_is_zero_mean():
    stack = _bent_cone(JITTER_PX)
    lab = stack.array.copy()
    lab[[0, 9]] = 0
    d = alignment_shifts(stack.with_array(lab))
    assert np.all(d[[0, 9]] == 0)
    assert np.allclose(d[1:9].mean(0), 0.0, atol=1e-9)


def test_severe_motion_on_phantoms_is_mostly_removed():
    errors, uncorrected = [], []
    for index in range(3):
        case = simulate_case("p", cohort_member(1, index)[0], 4.0, np.random.default_rng([1, index]))
        heart = (case.lr.array > 0).any((1, 2))
        errors.append(_error_rms(alignment_shifts(case.lr), case.shifts_mm, heart))
        uncorrected.append(_error_rms(0 * case.shifts_mm, case.shifts_mm, heart))
    assert np.mean(errors) < 0.4 * np.mean(uncorrected)


@needs_shared
@pytest.mark.parametrize("source", ["demo_HR", "biv-me ED"])
def test_severe_motion_on_real_hearts_beats_the_centroid_line(source):
    if source == "demo_HR":
        hr = load_labels(DEMO_HR, "ukbb")
    else:
        hr = bivme_heart(SHARED / BIVME_FOLDER, 0)
    hr = to_canonical(hr)[0]
    errors = {"align": [], "centroid": [], "none": []}
    for draw in range(3):
        case = simulate_case(source, hr, 4.0, np.random.default_rng([1, draw]))
        heart = (case.lr.array > 0).any((1, 2))
        truth = case.shifts_mm
        errors["align"].append(_error_rms(alignment_shifts(case.lr), truth, heart))
        errors["centroid"].append(_error_rms(centroid_shifts(case.lr), truth, heart))
        errors["none"].append(_error_rms(0 * truth, truth, heart))
    assert np.mean(errors["align"]) < 0.6 * np.mean(errors["none"])
    assert np.mean(errors["align"]) <= np.mean(errors["centroid"])
