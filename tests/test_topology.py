"""Clean topology of every output (issue 15): one face-connected piece per structure, no enclosed holes."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosr.labels import LV, MYO, RV
from cardiosr.pipeline import enhance
from cardiosr.prior.sample import sample_prior
from cardiosr.simulate import case_rng, simulate_case
from cardiosr.topology import clean_topology, topology_report

CLEAN = {"components": 1, "holes": 0}


def _ring_heart() -> np.ndarray:
    """LV disc in a myocardial ring, RV beside it, on 6 slices."""
    d, h, w = np.mgrid[:8, :40, :40]
    r_lv = np.hypot(h - 20, w - 15)
    lab = np.zeros((8, 40, 40), np.uint8)
    slab = (d >= 1) & (d <= 6)
    lab[slab & (r_lv < 10)] = MYO
    lab[slab & (r_lv < 6)] = LV
    lab[slab & (np.hypot(h - 20, w - 29) < 5) & (lab == 0)] = RV
    return lab


def test_islands_are_removed_holes_filled_and_clean_maps_untouched():
    lab = _ring_heart()
    assert all(v == CLEAN for v in topology_report(lab).values())
    assert np.array_equal(clean_topology(lab), lab)  # nothing to do: nothing changes
    dirty = lab.copy()
    dirty[3, 20, 15] = 0  # a background bubble inside the LV
    dirty[4, 20, 16] = RV  # an RV island inside the LV
    dirty[0, 2, 2] = MYO  # a speck of myocardium far away
    dirty[7, 35:38, 35:38] = LV  # a second LV piece
    report = topology_report(dirty)
    assert report["LV"] == {"components": 2, "holes": 1} and report["RV"]["components"] == 2
    assert report["MYO"]["components"] == 2
    out = clean_topology(dirty)
    assert all(v == CLEAN for v in topology_report(out).values())
    assert np.array_equal(out, lab)  # every defect repaired with the label around it


def test_a_piece_touching_only_by_an_edge_is_a_separate_component():
    lab = np.zeros((3, 6, 6), np.uint8)
    lab[1, 1:3, 1:3] = LV
    lab[1, 3:5, 3:5] = LV  # shares only an edge with the first block
    assert topology_report(lab)["LV"]["components"] == 2
    assert topology_report(clean_topology(lab))["LV"]["components"] == 1


def test_samples_of_the_prior_have_clean_topology(default_prior):
    for volume in sample_prior(default_prior[0], 3, seed=1):
        assert all(v == CLEAN for v in topology_report(volume.array).values())


@pytest.mark.parametrize("method", ["lo", "nn"])
def test_enhance_outputs_have_clean_topology(default_prior, phantom, method):
    case = simulate_case("c", phantom[0], 2.3, case_rng(0, 3))
    result = enhance(case.lr, method=method, prior=default_prior[0] if method == "lo" else None)
    for array in (result.sr.array, result.sr_canonical.array):
        assert all(v == CLEAN for v in topology_report(array).values()), topology_report(array)
