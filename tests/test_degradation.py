"""Degradation model (Eq. 1): ↓s, M_d with correct gradients, ε, motion patterns, and `cardiosr simulate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import DEMO_HR, DEMO_LR, needs_shared

from cardiosr.cli import main
from cardiosr.degradation import (
    Degradation,
    Downsample,
    SliceShift,
    add_segmentation_errors,
    degrade_labels,
    long_axis_view,
    lr_affine,
    simulate_shifts,
    simulate_view_displacements,
)
from cardiosr.geometry import unit_columns
from cardiosr.io import load_labels
from cardiosr.metrics import dice
from cardiosr.simulate import motion_scale


def test_zero_shift_is_the_identity_on_in_plane_coordinates():
    shift = SliceShift((1.25, 1.5))
    grid = shift.sampling_grid(torch.zeros(3, 2), 128, 96)
    cols = (grid[..., 0] + 1) / 2 * 95
    rows = (grid[..., 1] + 1) / 2 * 127
    r, c = torch.meshgrid(torch.arange(128.0), torch.arange(96.0), indexing="ij")
    assert (cols - c).abs().max() < 1e-5 and (rows - r).abs().max() < 1e-5
    x = torch.rand(2, 4, 3, 128, 96, dtype=torch.float64)
    assert torch.allclose(shift(x, torch.zeros(3, 2, dtype=torch.float64)), x, atol=1e-10)


def test_shift_moves_content_by_d_millimetres_along_rows_and_columns():
    x = torch.zeros(1, 1, 2, 20, 20)
    x[0, 0, :, 10, 10] = 1.0
    out = SliceShift((1.25, 2.0))(x, torch.tensor([[2.5, 0.0], [0.0, -4.0]]))
    assert out[0, 0, 0, 12, 10] == pytest.approx(1.0) and out[0, 0, 1, 10, 8] == pytest.approx(1.0)


def test_shift_gradient_matches_finite_differences():
    torch.manual_seed(0)
    x = torch.rand(1, 4, 3, 24, 20, dtype=torch.float64)
    x = torch.nn.functional.avg_pool3d(x, (1, 5, 5), stride=1, padding=(0, 2, 2))  # smooth: differentiable a.e.
    weights = torch.rand_like(x)
    shift = SliceShift((1.25, 1.25))
    d = torch.tensor([[0.3, -0.7], [1.1, 0.4], [-0.2, 0.9]], dtype=torch.float64, requires_grad=True)
    loss = (shift(x, d) * weights).sum()
    (grad,) = torch.autograd.grad(loss, d)
    assert grad.abs().min() > 0  # every slice and direction gets a gradient
    eps = 1e-4
    numeric = torch.zeros_like(d)
    with torch.no_grad():
        for i in range(3):
            for j in range(2):
                step = torch.zeros_like(d)
                step[i, j] = eps
                numeric[i, j] = ((shift(x, d + step) * weights).sum() - (shift(x, d - step) * weights).sum()) / (
                    2 * eps
                )
    assert torch.allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_lr_slices_sit_where_the_hr_slices_they_sample_are(phantom):
    hr, _ = phantom
    down = Downsample.from_factor(hr.affine, hr.shape, (5, 1, 1))
    assert down.lr_shape == (12, 128, 128)
    for k in range(12):
        np.testing.assert_allclose(down.lr_affine @ [k, 7, 9, 1], hr.affine @ [5 * k + 2, 7, 9, 1], atol=0.01)
    lr = degrade_labels(hr, down)
    assert np.array_equal(lr.array, hr.array[2::5][:12])
    np.testing.assert_allclose(lr.spacing, [10.0, 1.25, 1.25], atol=1e-9)
    # another factor: LR voxels are centred on their slabs
    np.testing.assert_allclose(lr_affine(np.eye(4), (4, 2, 1)) @ [1, 1, 1, 1], [5.5, 2.5, 1, 1])


def _brute_force_shifts(degrade: Degradation, hr: torch.Tensor, observed: np.ndarray) -> np.ndarray:
    """Per-slice search for the shift that best explains the observed stack (coarse then fine grid).

    ``observed`` is either LR labels ``(D, H, W)`` (score: fraction of agreeing pixels) or LR class
    probabilities ``(C, D, H, W)`` (score: minus the squared difference).
    """
    soft = observed.ndim == 4
    n = observed.shape[1] if soft else observed.shape[0]
    best = np.zeros((n, 2))
    with torch.no_grad():
        lr = degrade.downsample(hr)  # ↓s once; M_d is applied for every candidate
    for step, radius in ((1.0, 12.0), (0.25, 1.0)):
        offsets = np.arange(-radius, radius + 1e-9, step)
        score = np.full(n, -np.inf)
        centre = best.copy()
        for dy in offsets:
            for dx in offsets:
                cand = centre + [dy, dx]
                with torch.no_grad():
                    pred = degrade.shift(lr, torch.from_numpy(cand).float())[0]
                if soft:
                    agree = -((pred.numpy() - observed) ** 2).transpose(1, 0, 2, 3).reshape(n, -1).sum(1)
                else:
                    agree = (pred.argmax(0).numpy() == observed).reshape(n, -1).mean(1)
                better = agree > score
                score[better], best[better] = agree[better], cand[better]
    return best


def test_known_shifts_are_recovered_by_brute_force_search(phantom):
    hr_vol, _ = phantom
    down = Downsample.from_factor(hr_vol.affine, hr_vol.shape, (5, 1, 1))
    degrade = Degradation(down)
    true = simulate_shifts(12, 2.0, np.random.default_rng(3))
    observed = degrade_labels(hr_vol, down, true).array
    hr = torch.from_numpy(hr_vol.one_hot())[None]
    has_heart = (observed > 0).reshape(12, -1).sum(1) > 200
    # from the label stack: to within the precision that whole-pixel labels allow (pixel 1.25 mm)
    found = _brute_force_shifts(degrade, hr, observed)
    assert np.abs(found - true)[has_heart].max() <= 1.25
    assert np.sqrt(np.mean((found - true)[has_heart] ** 2)) <= 0.5
    # from the degraded probabilities: to the search grid's step
    with torch.no_grad():
        soft = degrade(hr, torch.from_numpy(true).float())[0].numpy()
    found = _brute_force_shifts(degrade, hr, soft)
    assert np.abs(found - true)[has_heart].max() <= 0.13


def test_normal_motion_amplitudes_match_the_paper():
    rng = np.random.default_rng(0)
    amp = np.linalg.norm(simulate_shifts(1000, motion_scale("normal", None), rng), axis=1)
    assert amp.mean() == pytest.approx(2.3, abs=0.1)
    assert amp.std() == pytest.approx(0.87, abs=0.1)
    severe = np.linalg.norm(simulate_shifts(1000, motion_scale("severe", None), rng), axis=1)
    assert severe.mean() == pytest.approx(4 * 2.3, rel=0.05)
    assert not simulate_shifts(10, motion_scale("none", None), rng).any()
    angles = np.arctan2(*simulate_shifts(4000, 1.0, rng).T[::-1])
    assert np.histogram(angles, bins=4, range=(-np.pi, np.pi))[0].min() > 850  # uniform directions


def test_segmentation_errors_are_seeded_and_scale_with_the_rate(phantom):
    lr = phantom[0].array[2::5]
    assert np.array_equal(add_segmentation_errors(lr, 0.0, np.random.default_rng(0)), lr)
    a = add_segmentation_errors(lr, 0.05, np.random.default_rng(1))
    b = add_segmentation_errors(lr, 0.05, np.random.default_rng(1))
    c = add_segmentation_errors(lr, 0.3, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert 0 < (a != lr).sum() < (c != lr).sum()


def test_simulate_phantoms_is_reproducible_byte_for_byte(tmp_path):
    args = ["simulate", "--phantoms", "2", "--motion", "severe", "--seed", "11", "--figures"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "phantom_0000_figure.png" in names and "phantom_0001_sa.nii.gz" in names
    for name in names:
        if name.endswith((".nii.gz", ".json")):
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    truth = json.loads((tmp_path / "a" / "phantom_0000_truth.json").read_text())
    sa = load_labels(tmp_path / "a" / "phantom_0000_sa.nii.gz")  # a clinical stack on its own
    hr = load_labels(tmp_path / "a" / "phantom_0000_hr.nii.gz")
    assert sa.shape == (12, 128, 128) and np.allclose(sa.spacing, [10, 1.25, 1.25])
    shifts = np.asarray(truth["shifts_mm"])
    assert shifts.shape == (12, 2) and np.linalg.norm(shifts, axis=1).mean() > 4
    # re-degrading the written HR with the recorded shifts gives the written stack
    again = degrade_labels(hr, Downsample(hr.affine, hr.shape, sa.affine, sa.shape), shifts)
    assert (again.array == sa.array).mean() > 0.999


def test_simulate_from_a_folder_of_hr_files_and_motion_scale(tmp_path, phantom):
    from tests_helpers import reoriented_copy

    from cardiosr.io import save_labels

    src = tmp_path / "hr"
    save_labels(phantom[0], src / "case_a.nii.gz", convention="acdc")
    save_labels(reoriented_copy(phantom[0]), src / "case_b.nii.gz", convention="acdc")
    rc = main(["simulate", "--hr", str(src), "--labels", "acdc", "--motion-scale", "0", "-o", str(tmp_path / "o")])
    assert rc == 0
    a = load_labels(tmp_path / "o" / "case_a_hr.nii.gz", "acdc")
    b = load_labels(tmp_path / "o" / "case_b_hr.nii.gz", "acdc")
    assert min(dice(a.array, b.array).values()) > 0.95  # both reach the same canonical heart
    truth = json.loads((tmp_path / "o" / "case_b_truth.json").read_text())
    assert truth["motion_scale"] == 0 and not np.any(truth["shifts_mm"])


def test_simulate_rejects_bad_options(tmp_path, capsys):
    assert main(["simulate", "--phantoms", "1", "--motion-scale", "-1", "-o", str(tmp_path / "x")]) == 2
    assert main(["simulate", "--hr", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("cardiosr: error:") for line in err)
    assert not (tmp_path / "x").exists()


@needs_shared
def test_report_dice_of_our_degradation_against_the_published_demo_pair(capsys):
    hr, lr = load_labels(DEMO_HR), load_labels(DEMO_LR)
    ours = degrade_labels(hr, Downsample(hr.affine, hr.shape, lr.affine, lr.shape))
    scores = dice(ours.array, lr.array)
    with capsys.disabled():
        print(
            "\n[report] Dice of ↓s(demo_HR) at demo_LR's slice positions vs the published demo_LR:",
            {k: round(v, 3) for k, v in scores.items()},
        )
    assert all(v > 0.5 for v in scores.values())  # same heart, same place; the published pair has its own motion


def test_the_two_chamber_view_is_perpendicular_to_the_four_chamber_view_through_the_lv(phantom):
    hr, _ = phantom
    four, two = long_axis_view(hr), long_axis_view(hr, view="2ch")
    normal_4, normal_2 = (unit_columns(v.affine)[:, 0] for v in (four, two))
    assert abs(normal_4 @ normal_2) < 1e-9  # perpendicular planes
    long_axis = unit_columns(hr.affine)[:, 0]
    assert abs(unit_columns(two.affine)[:, 1] @ long_axis) == pytest.approx(1.0)  # both hold the long axis
    lv = (hr.affine @ np.r_[np.argwhere(hr.array == 1).mean(0), 1.0])[:3]
    assert abs((lv - two.affine[:3, 3]) @ normal_2) < 1e-6  # through the LV blood pool's centre
    counts = {value: int((two.array == value).sum()) for value in (1, 2, 3)}
    assert counts[1] > 0 and counts[2] > 0 and counts[3] < 0.05 * counts[1], counts  # LV walls, hardly any RV
    assert (four.array == 3).sum() > 0
    with pytest.raises(ValueError, match="'4ch' or '2ch'"):
        long_axis_view(hr, view="3ch")


def test_a_view_in_its_own_breath_hold_shows_the_moved_heart_on_the_planned_plane(phantom):
    hr, _ = phantom
    planned = long_axis_view(hr, pixel_mm=1.5)
    normal, along, across = (unit_columns(planned.affine)[:, k] for k in range(3))
    # Moved within the plane by whole pixels: the same labels, moved by those pixels, on the same affine.
    moved = long_axis_view(hr, pixel_mm=1.5, displacement_mm=3.0 * along - 4.5 * across)
    np.testing.assert_array_equal(moved.affine, planned.affine)
    np.testing.assert_array_equal(moved.array[0, 2:, :-3], planned.array[0, :-2, 3:])
    assert (moved.array != planned.array).sum() > 50  # and it did move
    # Moved along the normal: the cut the still heart shows on the plane moved the other way.
    lifted = long_axis_view(hr, pixel_mm=1.5, displacement_mm=-4.0 * normal)
    np.testing.assert_array_equal(lifted.array, long_axis_view(hr, pixel_mm=1.5, offset_mm=4.0).array)
    assert (lifted.array != planned.array).sum() > 50


def test_view_displacements_follow_the_motion_model_in_every_direction():
    d = simulate_view_displacements(4000, 1.0, np.random.default_rng(3))
    amplitude = np.linalg.norm(d, axis=1)
    assert abs(amplitude.mean() - 2.3) < 0.05 and abs(amplitude.std() - 0.87) < 0.05
    assert np.abs((d / amplitude[:, None]).mean(0)).max() < 0.05  # no preferred direction
    assert np.allclose(np.abs(d / amplitude[:, None]).mean(0), 0.5, atol=0.03)  # uniform on the sphere: E|x| = 1/2
    four = simulate_view_displacements(5, 4.0, np.random.default_rng(3))  # severe: the same draws, 4 times as far
    np.testing.assert_allclose(four, 4.0 * simulate_view_displacements(5, 1.0, np.random.default_rng(3)))
    assert not simulate_view_displacements(3, 0.0, np.random.default_rng(0)).any()
