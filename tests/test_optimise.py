"""Latent optimisation (Eq. 3–5, Algorithm 1) and ``cardiosr enhance``."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from conftest import DEMO_HR, DEMO_LR, MNMS_LA, MNMS_SA, SHARED, needs_shared
from tests_helpers import long_axis_view

from cardiosr.cli import main
from cardiosr.degradation import Degradation, Downsample
from cardiosr.errors import InputError
from cardiosr.geometry import canonical_frame, resample_labels, resample_probabilities, unit_columns
from cardiosr.io import load_labels, save_labels
from cardiosr.metrics import dice, shift_optimal_dice
from cardiosr.optimise import (
    OptimiseOptions,
    ShortAxisLoss,
    StoppingRule,
    centroid_shifts,
    latent_optimisation,
    make_problem,
    multi_view_loss,
)
from cardiosr.phantom import cohort_member
from cardiosr.pipeline import enhance, enhance_batch
from cardiosr.prior import VAE3D, canonical_placement, load_prior
from cardiosr.simulate import case_rng, simulate_case
from cardiosr.volume import LabelVolume

SRHEART = SHARED / "srheart-prior" / "VAECE_zdim_32_epoch_100_beta_1.00E-03_alpha.pt"


def _case(index: int, scale: float, seed: int = 1):
    hr = cohort_member(seed, index)[0]
    return hr, simulate_case(f"c{index}", hr, scale, case_rng(seed, index))


def _mean_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean(list(dice(pred, ref).values())))


def _on_hr_grid(probs: np.ndarray, frame_affine: np.ndarray, hr: LabelVolume) -> np.ndarray:
    return resample_probabilities(probs, frame_affine, hr.shape, hr.affine).argmax(0)


def _shift_rms(estimate: np.ndarray, truth: np.ndarray, heart: np.ndarray) -> float:
    """RMS (mm) of the estimate against the truth after removing the common translation of the heart slices."""
    e = estimate[heart] - estimate[heart].mean(0)
    t = truth[heart] - truth[heart].mean(0)
    return float(np.sqrt(((e - t) ** 2).sum(1).mean()))


def test_short_axis_loss_is_the_degradation_of_eq1_and_its_fast_path_is_exact():
    hr, case = _case(0, 1.0)
    problem = make_problem(case.lr)
    sa = problem.sa_loss
    assert sa.planar
    logits = torch.log(torch.from_numpy(problem.canonical_lr.one_hot()).clamp_min(1e-3))[None] * 3.0
    probs = torch.softmax(logits, 1)
    # zero shift: exactly ↓s of Eq. 1 on the cropped stack
    crop_shape = tuple(sa.target.shape)
    reference = Degradation(Downsample(problem.frame.affine, problem.frame.shape, sa.crop_affine, crop_shape))
    d = torch.zeros(1, sa.n_slices, 2)
    assert torch.allclose(sa.degrade(logits, d), reference(probs), atol=1e-4)
    # with shifts: the planar fast path equals the general 3D resampling
    d = torch.from_numpy(case.shifts_mm).float()[None]
    fast = sa.degrade(logits, d)
    general = ShortAxisLoss(case.lr, problem.frame, planar=False)
    assert not general.planar
    assert torch.allclose(fast, general.degrade(logits, d), atol=1e-4)
    # the heart-centred frame lies between planes: ↓s reads the two canonical slices around each stack slice
    assert not sa.resample.on_planes and len(sa.resample.slice_index) == 2 * sa.n_slices
    # a frame snapped to the 10 mm slices reads one plane per slice, and still equals the general resampling
    snapped = canonical_frame(case.lr, snap_slices=True)
    one = ShortAxisLoss(case.lr, snapped)
    assert one.resample.on_planes and len(one.resample.slice_index) == one.n_slices
    logits = torch.randn(1, 4, *snapped.shape, generator=torch.Generator().manual_seed(0))
    general = ShortAxisLoss(case.lr, snapped, planar=False)
    assert torch.allclose(one.degrade(logits, d), general.degrade(logits, d), atol=1e-4)


def test_the_true_shifts_minimise_eq3_for_the_true_heart():
    hr, case = _case(0, 4.0)
    problem = make_problem(case.lr)
    canon = resample_labels(hr.array, hr.affine, problem.frame.shape, problem.frame.affine)
    one_hot = (np.arange(4).reshape(-1, 1, 1, 1) == canon[None]).astype(np.float32)
    logits = torch.log(torch.from_numpy(one_hot).clamp_min(1e-3))[None]
    losses = {}
    for name, d in [("true", case.shifts_mm), ("zero", 0 * case.shifts_mm), ("opposite", -case.shifts_mm)]:
        losses[name] = float(multi_view_loss(logits, torch.from_numpy(d).float()[None], problem)[0])
    assert losses["true"] < 0.6 * losses["zero"] < losses["opposite"]


def test_centroid_shifts_recover_a_known_jitter_of_a_tilted_tube():
    # jitter (pixels) with zero mean and no linear trend, on an LV whose axis is tilted by 1 pixel per slice
    jitter = np.array([[0, 1], [2, -2], [-1, 1], [-1, 0], [-1, 0], [-1, 1], [2, -2], [0, 1]])
    assert np.all(jitter.sum(0) == 0) and np.all(np.arange(8) @ jitter == 0)
    lab = np.zeros((8, 64, 64), np.uint8)
    for k in range(8):
        r, c = 32 + jitter[k, 0], 25 + k + jitter[k, 1]
        lab[k, r - 6 : r + 6, c - 6 : c + 6] = 1
    est = centroid_shifts(LabelVolume(lab, np.diag([10.0, 2.0, 2.0, 1.0])))
    assert np.allclose(est, 2.0 * jitter, atol=1e-6)


def test_centroid_shifts_give_a_slice_without_lv_no_shift_of_its_own():
    # the tube of the test above, plus a basal slice that holds only RV, 30 pixels off the LV's line: it says
    # nothing about where that line is (the old whole-heart fallback made it a "shift" of tens of mm)
    jitter = np.array([[0, 1], [2, -2], [-1, 1], [-1, 0], [-1, 0], [-1, 1], [2, -2], [0, 1]])
    lab = np.zeros((9, 64, 64), np.uint8)
    for k in range(8):
        r, c = 32 + jitter[k, 0], 25 + k + jitter[k, 1]
        lab[k, r - 6 : r + 6, c - 6 : c + 6] = 1
    lab[8, 2:12, 50:60] = 3
    est = centroid_shifts(LabelVolume(lab, np.diag([10.0, 2.0, 2.0, 1.0])))
    assert np.allclose(est[:8], 2.0 * jitter, atol=1e-6)  # the jitter sums to 0: the gauge moves nothing
    assert np.allclose(est[8], 0.0, atol=1e-6)


def test_stopping_rule_window_semantics():
    rule = StoppingRule(window=3, tolerance=0.05)
    assert rule.relative_change([1.0] * 5) == np.inf  # fewer than 2 windows
    assert rule.relative_change([2.0, 2.0, 2.0, 1.0, 1.0, 1.0]) == pytest.approx(0.5)
    assert not rule.converged([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    assert rule.converged([1.0, 1.0, 1.0, 0.99, 0.98, 0.97])
    with pytest.raises(InputError):
        StoppingRule(window=0, tolerance=0.05)


def test_lo_beats_upsampling_and_recovers_known_shifts(default_prior):
    prior, meta = default_prior
    hr, case = _case(1, 1.0)
    problem = make_problem(case.lr, **canonical_placement(meta))
    paper = OptimiseOptions(shift_search=True, motion_test=False, motion_prior=0.0)  # Algorithm 1 as published
    result = latent_optimisation(prior, [problem], paper)[0]
    sr = _on_hr_grid(result.probs, problem.frame.affine, hr)
    upsampled = resample_labels(case.lr.array, case.lr.affine, hr.shape, hr.affine)
    lo, nn = _mean_dice(sr, hr.array), _mean_dice(upsampled, hr.array)
    heart = (case.lr.array > 0).any((1, 2))
    rms = _shift_rms(result.shifts_mm, case.shifts_mm, heart)
    motion = _shift_rms(np.zeros_like(case.shifts_mm), case.shifts_mm, heart)  # the motion itself, same gauge
    print(f"LO {lo:.3f} vs up-sampling {nn:.3f}; shift RMS {rms:.2f} of {motion:.2f} mm; {result.iterations}")
    assert lo > nn + 0.02
    # The phantom-only prior recovered these shifts to < 1 mm; the shipped prior, half of whose training shapes
    # are real hearts, fits phantoms less exactly and measures 1.6 mm (docs/prior.md): bounded here at 2/3 of
    # the motion, so that invented or missed motion still fails.
    assert rms < 0.67 * motion
    assert abs(result.shifts_mm[heart].mean(0)).max() < 1e-4  # zero-mean gauge
    assert np.all(result.shifts_mm[~heart] == 0)


def test_severe_motion_lo_beats_upsampling_by_a_wide_margin(default_prior):
    prior, meta = default_prior
    hr, case = _case(2, 4.0)
    result = enhance(case.lr, prior=prior, convention="ukbb")
    sr = _on_hr_grid(result.optimisation.probs, result.frame.affine, hr)
    upsampled = resample_labels(case.lr.array, case.lr.affine, hr.shape, hr.affine)
    lo, nn = _mean_dice(sr, hr.array), _mean_dice(upsampled, hr.array)
    print(f"severe: LO {lo:.3f} vs up-sampling {nn:.3f}")
    assert lo > nn + 0.15


@pytest.mark.slow
def test_a_consistent_long_axis_view_does_not_make_it_worse(default_prior):
    prior, _ = default_prior
    hr, case = _case(3, 2.0)
    la = long_axis_view(hr)
    without = enhance(case.lr, prior=prior)
    with_la = enhance(case.lr, la=la, prior=prior)
    d_without = _mean_dice(_on_hr_grid(without.optimisation.probs, without.frame.affine, hr), hr.array)
    d_with = _mean_dice(_on_hr_grid(with_la.optimisation.probs, with_la.frame.affine, hr), hr.array)
    print(f"without LA {d_without:.3f}, with LA {d_with:.3f}")
    assert d_with >= d_without - 0.01
    assert "la0" in with_la.optimisation.final and with_la.gauge.startswith("long-axis")
    assert without.gauge.startswith("zero-mean")


def test_a_long_axis_file_that_misses_the_stack_is_a_clear_error(tmp_path, capsys):
    hr, case = _case(3, 1.0)
    far = long_axis_view(hr, offset_mm=400.0)
    with pytest.raises(InputError, match="does not intersect"):
        make_problem(case.lr, [far])
    sa_path = save_labels(case.lr, tmp_path / "sa.nii.gz")
    la_path = save_labels(far, tmp_path / "la.nii.gz")
    code = main(["enhance", "--sa", str(sa_path), "--la", str(la_path), "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "la.nii.gz" in err[0] and "does not intersect" in err[0]
    assert not (tmp_path / "out").exists()


def test_enhance_cli_writes_every_output_in_the_input_world_frame(tmp_path, capsys):
    hr, case = _case(4, 1.0)
    sa_path = save_labels(case.lr, tmp_path / "sa.nii.gz", convention="mnms")
    out = tmp_path / "out"
    code = main(["enhance", "--sa", str(sa_path), "--labels", "mnms", "-o", str(out), "--max-iterations", "25"])
    assert code == 0, capsys.readouterr().err
    names = {p.name for p in out.iterdir()}
    assert {"sr.nii.gz", "sr_canonical.nii.gz", "shifts.json", "loss.csv", "summary.json", "figure.png"} <= names
    sr = load_labels(out / "sr.nii.gz", "mnms")
    # the output keeps the input's axes and field of view, at 2 x 1.25 x 1.25 mm
    assert np.allclose(unit_columns(sr.affine), unit_columns(case.lr.affine), atol=1e-5)
    assert np.allclose(sr.spacing, [2.0, 1.25, 1.25], atol=1e-5)
    assert _mean_dice(resample_labels(sr.array, sr.affine, hr.shape, hr.affine), hr.array) > 0.8
    shifts = json.loads((out / "shifts.json").read_text())
    assert len(shifts["slices"]) == case.lr.shape[0] and shifts["gauge"].startswith("zero-mean")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"]["latent"] <= 25 and summary["qc"]["flag"] is False
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[0].startswith("stage,iteration,total,sa") and len(rows) - 1 == sum(summary["iterations"].values()) + 2


@pytest.mark.slow
def test_restarts_give_an_uncertainty_map_and_keep_the_lowest_loss(default_prior):
    prior, _ = default_prior
    _, case = _case(5, 1.0)
    result = enhance(case.lr, prior=prior, restarts=3, max_iterations=12, refine=False, motion_test=False)
    opt = result.optimisation
    assert len(opt.restart_losses) == 3
    assert opt.final["total"] == pytest.approx(min(opt.restart_losses), rel=1e-4)
    u = result.uncertainty
    assert u is not None and u.shape == result.sr.shape
    assert 0.0 <= u.min() and u.max() <= 2.0 / 3.0 + 1e-6 and u.max() > 0.0


@pytest.mark.slow
def test_batched_subjects_give_the_same_results_as_one_at_a_time(default_prior):
    prior, _ = default_prior
    cases = [_case(i, 1.0)[1].lr for i in (6, 7)]
    together = enhance_batch(cases, prior=prior, max_iterations=8, refine=False)
    alone = [enhance(c, prior=prior, max_iterations=8, refine=False) for c in cases]
    for a, b in zip(together, alone, strict=True):
        assert np.allclose(a.optimisation.z, b.optimisation.z, atol=1e-3)
        assert np.allclose(a.shifts_mm[~np.isnan(a.shifts_mm)], b.shifts_mm[~np.isnan(b.shifts_mm)], atol=1e-3)


def test_the_reference_schedule_alternates_rounds_from_z0():
    torch.manual_seed(0)
    tiny = VAE3D(latent_dim=4, width=2, levels=5, max_channels=4).eval()
    _, case = _case(0, 1.0)
    problem = make_problem(case.lr)
    assert OptimiseOptions().reference_rounds == 500  # the published procedure
    options = OptimiseOptions(schedule="reference", reference_rounds=25)
    result = latent_optimisation(tiny, [problem], options)[0]
    assert result.iterations == {"latent": 25, "refine": 0}
    assert len(result.history) == 26 and result.history[-1]["total"] < result.history[0]["total"]
    assert np.any(result.shifts_mm != 0)  # bilinear shift layer: the shifts do move


def test_options_are_checked():
    with pytest.raises(InputError, match="unknown option"):
        enhance("x.nii.gz", max_iteratons=3)
    with pytest.raises(InputError):
        OptimiseOptions(schedule="fast").check()
    with pytest.raises(InputError, match="search_threshold"):
        OptimiseOptions(search_threshold=-0.1).check()
    with pytest.raises(InputError, match="init_shifts"):
        OptimiseOptions(init_shifts="middle").check()
    with pytest.raises(InputError, match="second_estimate"):
        OptimiseOptions(second_estimate="middle").check()
    with pytest.raises(InputError, match="decide_after"):
        OptimiseOptions(decide_after=OptimiseOptions().window - 1).check()  # within the first stopping window
    with pytest.raises(InputError, match="basal_absent_mm"):
        OptimiseOptions(basal_absent_mm=-1.0).check()
    OptimiseOptions(basal_absent_mm=0.5).check()
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="rv_fidelity"):
            OptimiseOptions(rv_fidelity=bad).check()
    OptimiseOptions(rv_fidelity=1.0).check()
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="^view_trend"):
            OptimiseOptions(view_trend=bad).check()
    OptimiseOptions(search_threshold=None, second_estimate=None, decide_after=None).check()


def test_frozen_decoder_folds_batch_norm_exactly():
    torch.manual_seed(0)
    prior = VAE3D(latent_dim=6, width=3, levels=3, max_channels=8, grid_shape=(16, 32, 32))
    for m in prior.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    prior.eval()
    z = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.allclose(prior.frozen_decoder()(z), prior.decode(z), atol=1e-4)


def test_decoding_only_the_slices_the_loss_reads_equals_the_full_decoding_and_its_gradient(default_prior):
    decode = default_prior[0].frozen_decoder()
    problem = make_problem(_case(0, 1.0)[1].lr)
    assert problem.reads_parts
    index = torch.cat([problem.sa_loss.resample.slice_index, torch.tensor([0, 63, 63, 1])])  # both ends, repeats
    z = torch.randn(2, default_prior[0].latent_dim, generator=torch.Generator().manual_seed(0))
    weights = torch.rand(2, 4, len(index), 128, 128, generator=torch.Generator().manual_seed(1))
    grads = []
    for fast in (True, False):
        zz = z.clone().requires_grad_(True)
        out = decode.slices(zz, index) if fast else decode(zz)[:, :, index]
        (out * weights).sum().backward()
        grads.append((out.detach(), zz.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-4)
    assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-3, atol=1e-3)
    # the loss on the slices alone is the loss on the whole grid
    d = torch.from_numpy(_case(0, 1.0)[1].shifts_mm).float()[None]
    full, _ = multi_view_loss(decode(z[:1]), d, problem)
    part, _ = multi_view_loss(problem.decode(decode, z[:1]), d, problem, selected=True)
    assert torch.allclose(full, part, atol=1e-5)


def test_reading_only_the_voxels_the_views_interpolate_equals_the_full_decoding_and_its_gradient(default_prior):
    decode = default_prior[0].frozen_decoder()
    hr, case = _case(0, 1.0)
    problem = make_problem(case.lr, [long_axis_view(hr, view="4ch"), long_axis_view(hr, view="2ch")])
    assert problem.reads_parts and len(problem.la_losses) == 2
    index = torch.cat([problem.view_voxels(), torch.tensor([[0, 0, 0], [63, 127, 127], [63, 127, 127]])])
    z = torch.randn(2, default_prior[0].latent_dim, generator=torch.Generator().manual_seed(0))
    weights = torch.rand(2, 4, len(index), generator=torch.Generator().manual_seed(1))
    grads = []
    for fast in (True, False):
        zz = z.clone().requires_grad_(True)
        out = decode.voxels(zz, index) if fast else decode(zz)[:, :, index[:, 0], index[:, 1], index[:, 2]]
        (out * weights).sum().backward()
        grads.append((out.detach(), zz.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-4)
    assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-3, atol=1e-3)
    # Eq. 5 on the slices and the views' voxels alone is Eq. 5 on the whole grid, each view's term too
    d = torch.from_numpy(case.shifts_mm).float()[None].expand(2, -1, -1)
    results = []
    for fast in (True, False):
        zz = z.clone().requires_grad_(True)
        total, parts = multi_view_loss(problem.decode(decode, zz) if fast else decode(zz), d, problem, selected=fast)
        total.sum().backward()
        results.append((total.detach(), parts["la0"].detach(), parts["la1"].detach(), zz.grad))
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    assert float(results[0][1].min()) > 0.01  # the views' terms are not trivially zero


def _reads_the_whole_grid(problem) -> bool:
    return False


def test_the_consistency_stage_with_views_reads_their_voxels_alone_as_the_whole_grid(default_prior, monkeypatch):
    from cardiosr.optimise.problem import Problem
    from cardiosr.optimise.refine import refine_consistency

    decode = default_prior[0].frozen_decoder()
    hr, case = _case(0, 1.0)
    problem = make_problem(case.lr, [long_axis_view(hr)])
    with torch.no_grad():
        logits = decode(torch.randn(1, default_prior[0].latent_dim, generator=torch.Generator().manual_seed(0)))
    d = torch.from_numpy(case.shifts_mm).float()
    options = OptimiseOptions(refine_iterations=4)
    fast = refine_consistency(logits, d, problem, options)
    monkeypatch.setattr(Problem, "reads_parts", property(_reads_the_whole_grid))
    full = refine_consistency(logits, d, problem, options)
    assert [row["iteration"] for row in fast[2]] == [row["iteration"] for row in full[2]] == [0, 1, 2, 3, 4]
    for a, b in zip(fast[2], full[2], strict=True):
        assert a["la0"] == pytest.approx(b["la0"], rel=1e-4) and a["total"] == pytest.approx(b["total"], rel=1e-4)
    assert fast[2][-1]["la0"] < fast[2][0]["la0"]  # the residual moved, and the view's term with it
    assert torch.allclose(fast[0], full[0], atol=1e-3) and torch.allclose(fast[1], full[1], atol=1e-4)


def test_the_motion_test_decides_at_its_iteration_and_decodes_only_the_chosen_hypothesis_after(
    default_prior, monkeypatch
):
    import cardiosr.optimise.search as search

    decoded: list[int] = []
    original = search.run_losses

    def counting(decode, z, d, problems, runs, every_d=False):
        decoded.append(len(runs))
        return original(decode, z, d, problems, runs, every_d)

    monkeypatch.setattr(search, "run_losses", counting)
    problem = make_problem(_case(2, 4.0)[1].lr)
    result = latent_optimisation(default_prior[0], [problem], OptimiseOptions(refine=False))[0]
    assert decoded[:10] == [4] * 10  # d = 0, the two fixed estimates and the searched one
    assert set(decoded[10:]) == {1} and len(decoded) > 11  # then the chosen hypothesis alone
    assert result.motion["decided_at_iteration"] == 10
    gain, searched = result.motion["relative_gain"], result.motion["relative_gain_searched"]
    expected = "estimated" if gain > 0.25 else ("searched" if searched > 0.05 else "none")
    assert result.motion["hypothesis"] == expected
    # the evidence of iteration 10, which decided the same; only the chosen hypothesis' loss fell after it
    at = result.motion["at_decision"]
    assert ("estimated" if at["relative_gain"] > 0.25 else "none") == result.motion["hypothesis"]
    assert at["loss_searched"] == result.motion["loss_searched"]
    assert expected == "estimated" or at["relative_gain_searched"] <= 0.05  # else the searched one would lead
    chosen = "loss_with_motion" if expected == "estimated" else "loss_without_motion"
    other = "loss_without_motion" if expected == "estimated" else "loss_with_motion"
    assert at[chosen] >= result.motion[chosen] and at[other] == result.motion[other]


def test_the_planar_path_survives_the_rounding_of_a_clinical_header():
    _, case = _case(0, 1.0)
    problem = make_problem(case.lr)
    # the M&Ms-2 header's in-plane axes leave the slice plane by ~1e-5 (0.0014 canonical voxel over the field)
    affine = case.lr.affine.copy()
    normal = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    affine[:3, 1] += 1.5e-5 * np.linalg.norm(affine[:3, 1]) * normal
    affine[:3, 2] -= 1e-5 * np.linalg.norm(affine[:3, 2]) * normal
    rounded = case.lr.with_array(case.lr.array, affine)
    fast, general = ShortAxisLoss(rounded, problem.frame), ShortAxisLoss(rounded, problem.frame, planar=False)
    assert fast.planar
    logits = torch.randn(1, 4, *problem.frame.shape, generator=torch.Generator().manual_seed(0))
    d = torch.from_numpy(case.shifts_mm).float()[None]
    assert torch.allclose(fast(logits, d), general(logits, d), atol=1e-4)


@needs_shared
@pytest.mark.slow
def test_published_pair_with_the_published_prior(tmp_path):
    hr = load_labels(DEMO_HR, "ukbb")
    lr = load_labels(DEMO_LR, "ukbb")
    # demo_LR's slices are 63/12 HR slices apart (its affine says 64/13): slice 5 is HR slice 26 exactly
    assert np.array_equal(lr.array[5], hr.array[26])
    affine = hr.affine.copy()
    affine[:3, 0] *= 63 / 12
    lr = lr.with_array(lr.array, affine)
    result = enhance(lr, prior=f"srheart:{SRHEART}")
    on_hr = resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine)
    scores = dice(on_hr, hr.array)
    upsampled = dice(resample_labels(lr.array, lr.affine, hr.shape, hr.affine), hr.array)
    print("demo_LR → demo_HR Dice:", scores, "up-sampling:", upsampled, "time", result.seconds)
    assert all(scores[k] > upsampled[k] + 0.01 for k in scores)
    # as the published code reports its result on this pair (at the best in-plane shift within ±5 voxels):
    # 0.953 / 0.871 / 0.942, reached or beaten on every structure
    best = shift_optimal_dice(on_hr, hr.array, hr.spacing, search_mm=5 * float(hr.spacing[1]))[0]
    assert best["LV"] >= 0.953 and best["MYO"] >= 0.871 and best["RV"] >= 0.942, best


@needs_shared
@pytest.mark.slow
def test_mnms_short_and_long_axis_files(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = enhance(MNMS_SA, la=MNMS_LA, convention="mnms")
    paths = result.save(tmp_path)
    sa = load_labels(MNMS_SA, "mnms")
    assert np.allclose(unit_columns(result.sr.affine), unit_columns(sa.affine), atol=1e-5)
    assert result.la_sections[0].shape == load_labels(MNMS_LA, "mnms").shape[1:]
    agreement = dice(result.la_sections[0], load_labels(MNMS_LA, "mnms").array[0])
    print("M&Ms-2 long-axis agreement:", agreement)
    assert agreement["LV"] > 0.85 and paths["figure"].is_file()


@pytest.mark.parametrize(
    "extra, problem",
    [
        ([], "not"),  # the SA file is not NIfTI
        (["--restarts", "0"], "restarts"),
        (["--device", "cuda"], "cuda"),
    ],
)
def test_enhance_cli_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, extra, problem):
    if problem == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    if problem == "not":
        sa = tmp_path / "sa.nii.gz"
        sa.write_text("not a nifti file")
    else:
        sa = save_labels(_case(0, 0.0)[1].lr, tmp_path / "sa.nii.gz")
    code = main(["enhance", "--sa", str(sa), "-o", str(tmp_path / "out"), "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("cardiosr: error:"), err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_consistency_stage_fast_path_matches_the_full_loss(default_prior):
    prior, _ = default_prior
    _, case = _case(8, 1.0)
    result = enhance(case.lr, prior=prior, max_iterations=20, refine_iterations=15)
    opt = result.optimisation
    last = opt.history[-1]
    assert last["stage"] == "refine" and opt.iterations["refine"] > 0
    # the stage evaluates the residual on the needed slices only; the full-volume loss must agree
    assert last["sa"] == pytest.approx(opt.final["sa"], rel=1e-3, abs=1e-5)
    latent = [h for h in opt.history if h["stage"] == "latent"][-1]
    assert opt.final["sa"] < latent["sa"]  # the stage improves the agreement with the slices


@needs_shared
def test_a_loaded_published_prior_keeps_its_centring_when_passed_on():
    prior, meta = load_prior(f"srheart:{SRHEART}")
    assert prior.metadata["grid"]["centring"] == "bbox" == meta["grid"]["centring"]
    _, case = _case(0, 1.0)
    by_object = enhance(case.lr, prior=prior, max_iterations=1, refine=False)
    by_name = enhance(case.lr, prior=f"srheart:{SRHEART}", max_iterations=1, refine=False)
    assert np.allclose(by_object.frame.affine, by_name.frame.affine)


@pytest.mark.parametrize(("fixed_loss", "stopped"), [(0.95, True), (0.8, False)])
def test_while_the_searched_shifts_lead_a_fixed_estimate_far_below_tau_stops(fixed_loss, stopped):
    from cardiosr.optimise.run import Run, Snapshot
    from cardiosr.optimise.search import DISTANT_ESTIMATE_FRACTION, _decide_early

    options = OptimiseOptions(corroborate_every_search=False)  # τ 0.25, τs 0.05, the gain above τs suffices
    losses = {"still": 1.0, "fixed": fixed_loss, "searched": 0.7}
    runs = [Run(0, 0), Run(0, 0, zero_motion=True), Run(0, 0, search=True)]
    for run, key in zip(runs, ("fixed", "still", "searched"), strict=True):
        run.best = Snapshot(torch.zeros(4), torch.zeros(3, 2), 9, {"total": losses[key]})
    gain = 1.0 - fixed_loss
    assert (gain < DISTANT_ESTIMATE_FRACTION * options.motion_threshold) == stopped
    _decide_early(runs, [None], options, 10)  # the searched gain is above τs: the stack is never read
    fixed, still, searched = runs
    assert fixed.done == stopped  # the searched leads (gain 0.3 > τs, the estimate's ≤ τ): the test goes on
    assert not still.done and not searched.done and still.decided_at is None


def test_reading_voxels_needs_no_bias_in_the_last_layer_and_partial_logits_need_selected(default_prior):
    torch.manual_seed(0)
    prior = VAE3D(latent_dim=6, width=3, levels=3, max_channels=8, grid_shape=(16, 32, 32)).eval()
    decode = prior.frozen_decoder()
    assert isinstance(decode.decoder[-1], torch.nn.ConvTranspose3d)
    decode.decoder[-1].bias = None  # a last layer trained without bias
    index = torch.tensor([[0, 0, 0], [15, 31, 31], [7, 12, 19], [8, 13, 20], [7, 12, 19]])
    z = torch.randn(2, 6)
    with torch.no_grad():
        full = decode(z)[:, :, index[:, 0], index[:, 1], index[:, 2]]
        assert torch.allclose(decode.voxels(z, index), full, atol=1e-5)
    # the parts of the grid Eq. 5 reads are not a whole grid: the loss refuses them without selected=True
    problem = make_problem(_case(0, 1.0)[1].lr)
    read = problem.decode(default_prior[0].frozen_decoder(), torch.zeros(1, default_prior[0].latent_dim))
    with pytest.raises(ValueError, match="selected=True"):
        multi_view_loss(read, torch.zeros(1, problem.sa_loss.n_slices, 2), problem)
