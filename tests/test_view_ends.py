"""The heart's ends read from the long-axis views in the fusion (cardiosr.view_ends, cardiosr.fidelity)."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosr.degradation import drop_odd_slices, long_axis_view
from cardiosr.fidelity import fused_labels
from cardiosr.geometry import CanonicalFrame
from cardiosr.phantom import generate_phantom
from cardiosr.simulate import simulate_case
from cardiosr.view_ends import heart_end_planes
from cardiosr.volume import LabelVolume

KEYWORDS = dict(
    weight=0.0,
    absent_mm=5.0,
    basal_mm=None,
    rv_weight=None,
    area_matched=True,
    nested_myocardium=True,
    closed_wall=False,
    basal_clearance_mm=None,
)


def _stack_and_view(view_from_mm: float = 18.0) -> tuple[LabelVolume, LabelVolume]:
    """Slices 20 mm apart along x (x = 0, 20, 40): the first empty, the LV on the other two; a view (the plane
    z = 12 mm, rows along x) that shows the LV from x = ``view_from_mm`` on."""
    a = np.zeros((3, 24, 24), np.uint8)
    a[1:, 4:20, 4:20] = 1
    sa = LabelVolume(a, np.diag([20.0, 1.0, 1.0, 1.0]))
    la = np.zeros((1, 50, 24), np.uint8)
    la[0, int(view_from_mm) : 46, 4:20] = 1
    plane = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 12], [0, 0, 0, 1.0]])
    return sa, LabelVolume(la, plane)


def test_planes_between_two_slices_with_heart_are_kept_whatever_the_views_show():
    sa, _ = _stack_and_view()
    empty_view = LabelVolume(np.zeros((1, 50, 24), np.uint8), _stack_and_view()[1].affine)
    grid = np.diag([2.0, 1.0, 1.0, 1.0])  # planes at x = 0, 2, ..., 40
    planes = heart_end_planes((21, 24, 24), grid, sa, [empty_view], margin_mm=0.0)
    # a view without heart clears the gap towards the empty slice (x < 20) and nothing between x = 20 and 40
    assert planes[:10].all() and not planes[10:].any()
    # no view: nothing is read
    assert not heart_end_planes((21, 24, 24), grid, sa, [], margin_mm=0.0).any()
    # planes 1 mm off the slices (x = 1, 3, ..., 39): the two around the slice with heart at x = 20, which
    # reproduce it (Eq. 1), are kept, the rest of the gap is cleared
    offset = grid.copy()
    offset[0, 3] = 1.0
    planes = heart_end_planes((20, 24, 24), offset, sa, [empty_view], margin_mm=0.0)
    assert planes[:9].all() and not planes[9:].any()


def test_a_grid_whose_planes_are_not_parallel_to_the_slices_is_left_alone():
    sa, view = _stack_and_view()
    c, s = np.cos(0.3), np.sin(0.3)
    tilted = np.array([[2 * c, s, 0, 0], [-2 * s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    assert not heart_end_planes((21, 24, 24), tilted, sa, [view], margin_mm=0.0).any()


def _planes_with_heart(labels: np.ndarray) -> np.ndarray:
    return (labels > 0).any((1, 2))


def test_the_fusion_ends_the_heart_where_the_view_shows_it_ends():
    sa, view = _stack_and_view(view_from_mm=18.0)
    frame = CanonicalFrame(affine=np.diag([2.0, 1.0, 1.0, 1.0]), shape=(21, 24, 24))
    probs = np.zeros((4, 21, 24, 24), np.float32)
    probs[0] = 1.0  # the prior shows nothing: the fusion is the stack's interpolation
    shifts = np.zeros((3, 2))
    without = fused_labels(probs, frame, sa, shifts, **KEYWORDS)[0]
    with_views = {
        m: fused_labels(probs, frame, sa, shifts, views=[view], view_ends_mm=m, **KEYWORDS)[0] for m in (0.0, 2.0)
    }
    # the stack alone carries the LV halfway into the 20 mm gap towards the empty slice (to x = 10 mm) ...
    assert _planes_with_heart(without)[5] and not _planes_with_heart(without)[4]
    # ... the view shows it from x = 18 mm on: nothing before (with 2 mm of margin, from 16 mm on)
    assert not _planes_with_heart(with_views[0.0])[:9].any() and _planes_with_heart(with_views[0.0])[9]
    assert not _planes_with_heart(with_views[2.0])[:8].any() and _planes_with_heart(with_views[2.0])[8]
    # between the two slices with heart, and on them, the fusion is unchanged
    for fused in with_views.values():
        assert (fused[10:] == without[10:]).all()
    # without a margin (None) the rule is off
    off = fused_labels(probs, frame, sa, shifts, views=[view], view_ends_mm=None, **KEYWORDS)[0]
    assert (off == without).all()


@pytest.fixture(scope="module")
def heart():
    return generate_phantom(3)[0]


def test_enhance_with_a_view_clears_the_planes_past_the_heart_s_end(heart):
    from cardiosr.pipeline import Enhancer

    stack = drop_odd_slices(simulate_case("p", heart, 0.0, np.random.default_rng(0)).lr)  # 20 mm gaps
    views = [long_axis_view(heart)]
    results = {m: Enhancer(device="cpu", max_iterations=3, view_ends_mm=m).run(stack, views).sr for m in (2.0, None)}
    sr = results[2.0]
    planes = heart_end_planes(sr.shape, sr.affine, stack, views, margin_mm=2.0)
    assert planes.any()
    assert not (sr.array[planes] > 0).any()
    # the planes held heart without the rule: the view changed the output, nowhere else
    off = results[None]
    assert (off.array[planes] > 0).any()
    assert (off.array[~planes] == sr.array[~planes]).all()
