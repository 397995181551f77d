"""Baselines of the paper's §2.1 (NN, SBI, EDSR), ``enhance --method``, long-axis evaluation, ``cardiosr benchmark``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from scipy import ndimage
from tests_helpers import long_axis_view

from cardiosr.cli import main
from cardiosr.edsr import EDSR3D, EDSRTrainConfig, edsr_upsample, load_edsr, save_edsr, train_edsr
from cardiosr.errors import InputError
from cardiosr.interpolation import (
    interpolated_signed_distances,
    labels_from_signed_distances,
    nearest_upsample,
    shape_based_interpolation,
)
from cardiosr.io import load_labels, save_labels
from cardiosr.metrics import dice
from cardiosr.phantom import cohort_member
from cardiosr.simulate import case_rng, simulate_case
from cardiosr.volume import LabelVolume


def _disc(radius: float, n: int = 41) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return (np.hypot(yy - n // 2, xx - n // 2) <= radius).astype(np.uint8)


def test_sbi_of_two_slices_of_the_same_disc_is_that_disc_in_between():
    disc = _disc(8)
    lr = LabelVolume(np.stack([disc, disc]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([2.0, 1.0, 1.0, 1.0])
    hr[0, 3] = -4.0  # 2 mm slices from the outer face of slice 0 to that of slice 1
    out = shape_based_interpolation(lr, (10, 41, 41), hr)
    assert all((out[k] == disc).all() for k in range(10))


def test_sbi_interpolates_the_radius_where_nn_jumps():
    small, large = _disc(6), _disc(14)
    lr = LabelVolume(np.stack([small, large]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([5.0, 1.0, 1.0, 1.0])  # slices at 0, 5, 10 mm: the middle one halfway between
    sbi = shape_based_interpolation(lr, (3, 41, 41), hr)
    nn = nearest_upsample(lr, (3, 41, 41), hr)
    radius = np.sqrt(sbi[1].sum() / np.pi)
    assert 9.0 < radius < 11.0  # halfway between 6 and 14 voxels
    assert nn[1].sum() in (small.sum(), large.sum())  # NN takes one of the two
    assert (sbi[0] == small).all() and (sbi[2] == large).all()


def test_interpolated_distances_move_each_slice_and_hold_it_on_its_plateau():
    small, large = _disc(6), _disc(14)
    lr = LabelVolume(np.stack([small, large]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([0.5, 1.0, 1.0, 1.0])  # 0.5 mm slices from slice 0's centre to slice 1's
    lv = 0  # the discs are LV (label 1): structure 0 of the distance maps
    plain, _ = interpolated_signed_distances(lr, (21, 41, 41), hr)
    flat, _ = interpolated_signed_distances(lr, (21, 41, 41), hr, flat=0.1)
    # within 1 mm (0.1 slice spacings) of each slice its own distances, then linear, unchanged midway
    assert np.array_equal(flat[lv, :3], np.repeat(plain[lv, :1], 3, 0))
    assert np.array_equal(flat[lv, -3:], np.repeat(plain[lv, -1:], 3, 0))
    assert np.allclose(flat[lv, 10], plain[lv, 10])
    assert np.allclose(flat[lv, 6], plain[lv, 5])  # 3 mm: (0.3 - 0.1) / 0.4 · 0.5 = 0.25 of the way
    # a slice's distances moved by whole pixels are its labels moved; a quarter pixel moves its edges by a quarter
    moved, _ = interpolated_signed_distances(lr, (21, 41, 41), hr, shifts_mm=np.array([[0.0, 3.0], [0.0, 0.0]]))
    assert np.array_equal(moved[lv, 0] < 0, np.roll(small, 3, axis=1) > 0)
    quarter, _ = interpolated_signed_distances(lr, (21, 41, 41), hr, shifts_mm=np.array([[0.0, 0.25], [0.0, 0.0]]))
    row = quarter[lv, 0, 20]
    centre = np.nonzero(np.diff(np.sign(row)))[0]
    crossings = centre + row[centre] / (row[centre] - row[centre + 1])  # zero crossings, linear between pixels
    assert np.allclose(crossings, [13.75, 26.75], atol=0.05)  # the disc of radius 6 (edges at 13.5, 26.5) moved


def test_matched_areas_keep_an_offset_section_between_slices_and_leave_the_ends_alone():
    disc = _disc(8)
    moved = np.roll(disc, 10, axis=1)  # the same section 10 pixels over: plain SBI pinches it midway
    lr = LabelVolume(np.stack([disc, moved, np.zeros_like(disc)]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([5.0, 1.0, 1.0, 1.0])  # slices at 0, 5, ..., 20 mm: 1 and 3 midway
    lv = 0
    plain, _ = interpolated_signed_distances(lr, (5, 41, 41), hr)
    matched, _ = interpolated_signed_distances(lr, (5, 41, 41), hr, area_matched=True)
    area = disc.sum()
    assert (plain[lv, 1] < 0).sum() < 0.85 * area  # shape-based interpolation shrinks the offset section
    assert abs((matched[lv, 1] < 0).sum() - area) <= 0.03 * area  # the areas on both sides are kept midway
    assert np.array_equal(matched[lv, [0, 2]] < 0, plain[lv, [0, 2]] < 0)  # the acquired slices are unchanged
    assert np.array_equal(matched[lv, 3], plain[lv, 3])  # past the last section: an end, left as it was


def test_the_nested_myocardium_keeps_the_wall_whole_between_offset_rings():
    ring = _disc(9) * 2
    ring[_disc(6) > 0] = 1  # an LV blood pool of radius 6 inside a wall 3 pixels thick
    moved = np.roll(ring, 8, axis=1)  # the next section 8 pixels over, more than the wall's thickness
    lr = LabelVolume(np.stack([ring, moved]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([5.0, 1.0, 1.0, 1.0])  # slices at 0, 5 and 10 mm: 1 is midway
    plain = labels_from_signed_distances(interpolated_signed_distances(lr, (3, 41, 41), hr)[0])
    nested = labels_from_signed_distances(interpolated_signed_distances(lr, (3, 41, 41), hr, nested_myocardium=True)[0])
    wall = int((ring == 2).sum())
    assert (plain[1] == 2).sum() < 0.8 * wall  # the wall's own distances thin it midway
    assert (nested[1] == 2).sum() > 0.9 * wall
    # the nested wall is closed: no LV blood pool pixel midway touches the background
    lv = nested[1] == 1
    assert lv.sum() > 0.5 * (ring == 1).sum() and not (ndimage.binary_dilation(lv) & (nested[1] == 0)).any()
    assert np.array_equal(nested[[0, 2]], plain[[0, 2]])  # the acquired slices are unchanged
    assert np.array_equal(nested[1] == 1, plain[1] == 1)  # the LV blood pool is interpolated as before


def test_sbi_keeps_nested_structures_and_blanks_outside_the_slab():
    ring = _disc(10) * 2
    ring[_disc(6) > 0] = 1
    lr = LabelVolume(np.stack([ring, ring]), np.diag([10.0, 1.0, 1.0, 1.0]))
    hr = np.diag([2.0, 1.0, 1.0, 1.0])
    hr[0, 3] = -10.0  # slices at -10, -8, ..., 18 mm; the slab spans -5 to 15 mm
    out = shape_based_interpolation(lr, (15, 41, 41), hr)
    assert (out[:3] == 0).all() and (out[-2:] == 0).all()  # outside the stack's slab: background
    assert (out[3] == ring).all() and (out[12] == ring).all() and (out[5] == ring).all()


def test_nearest_upsample_follows_the_affines_of_a_tilted_stack(phantom):
    hr = phantom[0]
    case = simulate_case("p", hr, 0.0, np.random.default_rng(0))
    nn = nearest_upsample(case.lr, hr.shape, hr.affine)
    # LR slice i is HR slice 5i + 2: NN must reproduce it exactly there
    for i in range(case.lr.shape[0]):
        assert (nn[5 * i + 2] == case.lr.array[i]).all()
    assert (nn[60:] == 0).all()  # beyond the last slab


def test_edsr_loss_falls_on_tiny_data_and_the_model_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    hr = np.zeros((4, 10, 16, 16), np.uint8)
    for n in range(4):
        r = rng.uniform(3, 6)
        yy, xx = np.mgrid[:16, :16]
        for k in range(10):
            hr[n, k][np.hypot(yy - 8, xx - 8) <= r * (0.5 + k / 20)] = 1
    affine = np.diag([2.0, 1.25, 1.25, 1.0])
    losses = []
    config = EDSRTrainConfig(motion_scale=0.0, n_feats=8, n_blocks=1, steps=40, batch_size=2, patch=16, lr=3e-3)
    model, history = train_edsr(hr, affine, config, output=tmp_path, progress=lambda s, n, v: losses.append(v))
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    loaded, meta = load_edsr(tmp_path)
    assert meta["model"] == model.config() and meta["training"]["steps"] == 40
    x = torch.rand(1, 4, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_edsr_checkpoint_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no such EDSR checkpoint"):
        load_edsr(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(InputError, match="not a readable safetensors"):
        load_edsr(bad)
    model = EDSR3D(n_feats=8, n_blocks=1)
    wrong = save_edsr(model, tmp_path / "wrong.safetensors", {"model": {**model.config(), "n_blocks": 2}})
    with pytest.raises(InputError, match="weights do not match"):
        load_edsr(wrong)


def test_edsr_output_lands_on_the_target_grid_through_the_affines(phantom):
    # an identity-like EDSR (copies its input to every output slice) must reproduce nearest up-sampling
    hr = phantom[0]
    case = simulate_case("p", hr, 0.0, np.random.default_rng(0))
    model = EDSR3D(factor=5, n_feats=4, n_blocks=0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        # head: identity on 4 channels; body adds 0; upsample: every sub-slice copies them; tail: identity
        for c in range(4):
            model.head.weight[c, c, 1, 1, 1] = 1.0
            for f in range(5):
                model.upsample[0].weight[c * 5 + f, c, 1, 1, 1] = 1.0
            model.tail.weight[c, c, 1, 1, 1] = 10.0
    probs = edsr_upsample(model, case.lr, hr.shape, hr.affine)
    expected = nearest_upsample(case.lr, hr.shape, hr.affine)
    agree = (probs.argmax(0) == expected)[:60].mean()
    assert agree > 0.999


def _stack_file(tmp_path, scale=1.0):
    hr = cohort_member(1, 0)[0]
    case = simulate_case("c0", hr, scale, case_rng(1, 0))
    return hr, case, save_labels(case.lr, tmp_path / "sa.nii.gz")


@pytest.mark.parametrize("method", ["nn", "sbi"])
def test_enhance_method_baselines_write_the_same_outputs(tmp_path, capsys, method):
    hr, case, sa = _stack_file(tmp_path)
    out = tmp_path / method
    assert main(["enhance", "--sa", str(sa), "-o", str(out), "--method", method, "--quiet", "--no-figure"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    shifts = json.loads((out / "shifts.json").read_text())
    assert summary["method"] == method and summary["iterations"] == {"latent": 0, "refine": 0}
    assert shifts["gauge"].startswith("not estimated")
    assert all(s["shift_mm"] in (None, [0.0, 0.0]) for s in shifts["slices"])
    sr = load_labels(out / "sr.nii.gz")
    assert np.allclose(sr.spacing, (2.0, 1.25, 1.25), atol=1e-4)
    # the canonical result, back on the phantom's grid, is the baseline applied directly (up to resampling)
    canon = load_labels(out / "sr_canonical.nii.gz")
    direct = nearest_upsample(case.lr, hr.shape, hr.affine) if method == "nn" else None
    from cardiosr.geometry import resample_labels

    back = resample_labels(canon.array, canon.affine, hr.shape, hr.affine)
    if direct is not None:
        assert np.mean(list(dice(back, direct).values())) > 0.9
    assert np.mean(list(dice(back, hr.array).values())) > 0.75


def test_enhance_method_edsr_with_a_checkpoint_of_train_edsr(tmp_path, capsys):
    hr, case, sa = _stack_file(tmp_path)
    args = ["train-edsr", "--phantoms", "2", "--steps", "3", "--n-feats", "4", "--n-blocks", "1", "--motion", "severe"]
    assert main([*args, "-o", str(tmp_path / "edsr"), "--quiet"]) == 0
    meta = json.loads((tmp_path / "edsr" / "edsr.json").read_text())
    assert meta["training"]["motion_scale"] == 4.0 and meta["training"]["steps"] == 3 and meta["model"]["n_feats"] == 4
    out = tmp_path / "out"
    args = ["enhance", "--sa", str(sa), "-o", str(out), "--method", "edsr", "--edsr", str(tmp_path / "edsr")]
    assert main([*args, "--quiet", "--no-figure"]) == 0
    assert json.loads((out / "summary.json").read_text())["method"] == "edsr"
    assert load_labels(out / "sr.nii.gz").shape[0] > case.lr.shape[0]


def test_edsr_option_without_edsr_method_is_an_error(tmp_path, capsys):
    _, _, sa = _stack_file(tmp_path)
    code = main(["enhance", "--sa", str(sa), "-o", str(tmp_path / "o"), "--edsr", "x", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--method edsr" in err[0] and not (tmp_path / "o").exists()


def test_long_axis_view_for_evaluation_only_or_in_both(tmp_path, capsys):
    hr, case, sa = _stack_file(tmp_path, scale=1.0)
    la = save_labels(long_axis_view(hr), tmp_path / "la.nii.gz")
    base = ["enhance", "--sa", str(sa), "--quiet", "--no-figure", "--max-iterations", "20"]
    assert main([*base, "-o", str(tmp_path / "eval"), "--la-eval", str(la)]) == 0
    assert main([*base, "-o", str(tmp_path / "both"), "--la", str(la)]) == 0
    assert main([*base, "-o", str(tmp_path / "nn"), "--la-eval", str(la), "--method", "nn"]) == 0
    out = capsys.readouterr().out
    assert "evaluation only" in out and "used in the loss" in out
    ev = json.loads((tmp_path / "eval" / "summary.json").read_text())
    both = json.loads((tmp_path / "both" / "summary.json").read_text())
    nn = json.loads((tmp_path / "nn" / "summary.json").read_text())
    (e,), (b,), (n,) = ev["long_axis_evaluation"], both["long_axis_evaluation"], nn["long_axis_evaluation"]
    assert not e["used_in_optimisation"] and b["used_in_optimisation"]
    assert "la0" not in ev["final_loss"] and "la0" in both["final_loss"]  # evaluation only: not in the loss
    mean = {k: np.mean(list(v["dice"].values())) for k, v in (("eval", e), ("both", b), ("nn", n))}
    assert mean["both"] >= mean["eval"] - 0.02 and mean["eval"] > mean["nn"]
    assert mean["both"] > 0.85


@pytest.mark.slow
def test_benchmark_quick_path_end_to_end(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "--quick", "--phantoms", "3", "--train", "1", "--edsr-steps", "2", "--max-iterations", "5"]
    assert main([*args, "--patterns", "none", "severe", "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| severe | LO (proposed) |" in printed and "EDSR trained on none" in printed
    with (out / "cases.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 2 test cases x 2 patterns x (nn, sbi, edsr[none], edsr[severe], lo, lo-latent)
    assert len(rows) == 24
    assert {"hd95_MYO", "sdice_mean", "err_LV_mass_g", "plausible"} <= set(rows[0])
    s1 = (out / "table_s1.csv").read_text().splitlines()
    assert s1[0].startswith("motion,method,LV,MYO,RV,MEAN") and len(s1) == 1 + 2 * 5
    lo = [r for r in rows if r["method"] == "lo" and r["pattern"] == "severe"]
    nn = [r for r in rows if r["method"] == "nn" and r["pattern"] == "severe"]
    assert np.mean([float(r["dice_mean"]) for r in lo]) > np.mean([float(r["dice_mean"]) for r in nn])
    assert (out / "figure_3.png").stat().st_size > 10_000 and (out / "table_2.md").is_file()
    assert (out / "edsr_severe" / "edsr.safetensors").is_file()
    info = json.loads((out / "benchmark.json").read_text())
    assert info["cases"]["train"] == ["phantom_0000"] and len(info["cases"]["test"]) == 2


def test_enhance_method_edsr_uses_the_shipped_normal_motion_model(tmp_path):
    from cardiosr.pipeline import DEFAULT_EDSR

    _, meta = load_edsr(DEFAULT_EDSR)
    assert meta["motion_pattern"] == "normal" and meta["training"]["cases"] >= 200
    hr, case, sa = _stack_file(tmp_path)
    out = tmp_path / "out"
    assert main(["enhance", "--sa", str(sa), "-o", str(out), "--method", "edsr", "--quiet", "--no-figure"]) == 0
    from cardiosr.geometry import resample_labels

    canon = load_labels(out / "sr_canonical.nii.gz")
    back = resample_labels(canon.array, canon.affine, hr.shape, hr.affine)
    nn = nearest_upsample(case.lr, hr.shape, hr.affine)
    assert np.mean(list(dice(back, hr.array).values())) > np.mean(list(dice(nn, hr.array).values()))


@pytest.mark.slow
def test_benchmark_from_a_folder_of_hr_label_maps(tmp_path, capsys):
    folder = tmp_path / "hr"
    for i in range(3):
        save_labels(cohort_member(1, i)[0], folder / f"subject{i}.nii.gz", convention="mnms")
    out = tmp_path / "bench"
    args = ["benchmark", "--hr", str(folder), "--labels", "mnms", "--train", "1", "--edsr-steps", "2"]
    assert main([*args, "--max-iterations", "5", "--patterns", "severe", "-o", str(out), "--quiet"]) == 0
    info = json.loads((out / "benchmark.json").read_text())
    assert info["cases"] == {"train": ["subject0"], "test": ["subject1", "subject2"]}
    with (out / "cases.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"nn", "sbi", "edsr", "lo", "lo-latent"} and len(rows) == 2 * 5
    assert all(float(r["dice_LV"]) > 0.5 for r in rows if r["method"] in ("nn", "lo"))


def test_benchmark_rejects_a_split_without_test_cases(tmp_path, capsys):
    code = main(["benchmark", "--phantoms", "3", "--train", "3", "-o", str(tmp_path / "b"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--train" in err[0]
