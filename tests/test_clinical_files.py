"""Clinical files as they really are: header rules, slice axis, conventions, gaps, views, output folders,
signals, batch naming and file formats (issue 14). Generated files always; the shared real files when present."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import write_nifti
from tests_helpers import long_axis_view

from cardiosr.cli import main
from cardiosr.errors import InputError
from cardiosr.io import load_labels, save_labels
from cardiosr.label_check import choose_convention
from cardiosr.phantom import cohort_member
from cardiosr.simulate import case_rng, simulate_case

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ACDC = SHARED / "acdc"
MNMS = SHARED / "mnms2-case001"
needs_acdc = pytest.mark.skipif(not ACDC.is_dir(), reason="../shared/data/acdc not present")
needs_mnms = pytest.mark.skipif(not MNMS.is_dir(), reason="../shared/data/mnms2-case001 not present")
FAST = ["--method", "nn", "--quiet", "--no-figure"]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A simulated stack and a long-axis view of its heart, saved as UK Biobank files."""
    folder = tmp_path_factory.mktemp("clinical")
    hr = cohort_member(1, 3)[0]
    sim = simulate_case("c", hr, 0.0, case_rng(1, 3))
    sa = save_labels(sim.lr, folder / "c_sa.nii.gz")
    la = save_labels(long_axis_view(hr), folder / "c_la.nii.gz")
    return {"hr": hr, "lr": sim.lr, "sa": sa, "la": la, "folder": folder}


def _disk(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj).astype(np.int16), img.affine


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


# 1. headers whose sources of voxel size disagree ---------------------------------------------------------


def _acdc_like(path: Path, labels: np.ndarray, spacing=(1.5625, 1.5625, 10.0)) -> Path:
    """Labels written like the ACDC files: sform with unit voxel sizes, the true spacing in pixdim only."""
    img = nib.Nifti1Image(labels.astype(np.uint8), None)
    img.header.set_zooms(spacing)
    img.header.set_sform(np.diag([-1.0, -1.0, 1.0, 1.0]), code=2)
    img.header.set_qform(None, code=0)
    img.header["qform_code"] = 0
    nib.save(img, str(path))
    return path


def test_a_header_whose_sform_and_pixdim_disagree_is_read_as_itk_reads_it(case, tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    disk, _ = _disk(case["sa"])  # (H, W, D) on disk
    path = _acdc_like(tmp_path / "a.nii.gz", disk, spacing=(1.25, 1.25, 10.0))
    with pytest.warns(UserWarning, match=r"sform .*1x1x1 mm, pixdim 1.25x1.25x10 mm; following ITK"):
        vol = load_labels(path)
    assert vol.shape[0] == disk.shape[2]  # the 10 mm axis is the slice axis
    image = sitk.ReadImage(str(path))
    direction = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    itk_affine = np.eye(4)
    itk_affine[:3, :3] = lps_to_ras @ direction
    itk_affine[:3, 3] = lps_to_ras @ np.asarray(image.GetOrigin())
    disk_affine = vol.affine @ np.linalg.inv(np.eye(4)[:, [*vol.disk_axes, 3]])
    np.testing.assert_allclose(disk_affine, itk_affine, atol=1e-5)


@needs_acdc
def test_acdc_files_as_distributed_are_read_with_their_true_spacing():
    vol = load_labels(ACDC / "patient001_frame01_gt.nii.gz", "acdc")
    np.testing.assert_allclose(vol.spacing, [10.0, 1.5625, 1.5625])
    assert abs(vol.volumes_ml()["LV"] - 295.5) < 0.5
    assert any("pixdim" in w for w in vol.warnings)


@needs_acdc
def test_every_acdc_file_reads_and_auto_picks_acdc():
    files = sorted(ACDC.glob("*_gt.nii.gz"))
    assert len(files) == 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            vol = load_labels(path, "auto")
            assert vol.convention == "acdc", path
            assert 20 <= vol.volumes_ml()["LV"] <= 600, path


@needs_acdc
def test_enhance_runs_on_an_acdc_file(tmp_path, capsys):
    code, err = _run(["enhance", "--sa", str(ACDC / "patient003_frame01_gt.nii.gz"), "--labels", "acdc", "-o",
                      str(tmp_path / "o"), *FAST], capsys)  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["qc"]["flag"] is False and any("pixdim" in w for w in summary["warnings"])


# 2. the slice axis and impossible results -----------------------------------------------------------------


def test_lost_slice_spacing_is_detected_and_flagged(case, tmp_path, capsys):
    disk, affine = _disk(case["sa"])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    k = int(np.argmax(spacing))
    lost_spacing = np.where(np.arange(3) == k, 1.0, 1.4)  # 10 mm became 1 mm; pixels not square
    lost_spacing[(k + 1) % 3] = 1.5
    lost = affine.copy()
    lost[:3, :3] = affine[:3, :3] / spacing * lost_spacing
    path = write_nifti(tmp_path / "lost_sa.nii.gz", disk, lost)
    code, err = _run(["enhance", "--sa", str(path), "-o", str(tmp_path / "o"), *FAST], capsys)
    assert code == 0
    assert any(f"took axis {k}" in line for line in err), err  # the slice axis came from the labels, not the spacing
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["qc"]["flag"] and any("voxel sizes" in r for r in summary["qc"]["reasons"])
    assert any("implausible" in line and "LV cavity" in line for line in err), err


def test_slice_axis_option_in_every_verb_that_reads_a_stack(case, tmp_path, capsys):
    disk, affine = _disk(case["sa"])
    k = int(np.argmax(np.linalg.norm(affine[:3, :3], axis=0)))
    iso = affine.copy()
    iso[:3, :3] = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0) * 1.5  # spacing says nothing
    path = write_nifti(tmp_path / "c_sa.nii.gz", disk, iso)
    assert main(["enhance", "--sa", str(path), "-o", str(tmp_path / "o"), *FAST]) == 0  # shape and labels decide
    for verb in ("enhance", "batch", "canonical", "simulate", "train-prior", "train-edsr", "benchmark"):
        text = _help(verb, capsys)
        assert "--slice-axis" in text and "--ignore-labels" in text, verb
    wrong = (k + 1) % 3
    code = main(["enhance", "--sa", str(path), "-o", str(tmp_path / "o2"), "--slice-axis", str(wrong), *FAST])
    assert code == 0  # the user's word wins, whatever the shape says
    zooms = nib.load(tmp_path / "o2" / "sr.nii.gz").header.get_zooms()
    assert zooms[wrong] == pytest.approx(2.0) and zooms[k] == pytest.approx(1.25)  # 2 mm slices along the named axis


def _help(verb: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    return capsys.readouterr().out


# 3. label conventions --------------------------------------------------------------------------------------


def test_a_wrong_convention_is_refused_and_auto_picks_the_right_one(case, tmp_path, capsys):
    disk, affine = _disk(case["sa"])
    mnms = write_nifti(tmp_path / "m_sa.nii.gz", np.where(disk == 4, 3, disk), affine)
    with pytest.raises(InputError, match="fit --labels mnms"):
        load_labels(mnms, "acdc")
    assert load_labels(mnms, "auto").convention == "mnms"
    acdc = write_nifti(tmp_path / "a_sa.nii.gz", np.select([disk == 1, disk == 4], [3, 1], disk), affine)
    assert load_labels(acdc, "auto").convention == "acdc"
    assert main(["enhance", "--sa", str(acdc), "--labels", "auto", "-o", str(tmp_path / "o"), *FAST]) == 0
    assert np.array_equal(np.unique(nib.load(tmp_path / "o" / "sr.nii.gz").get_fdata()), [0, 1, 2, 3])
    no_myo = np.where(disk == 2, 0, disk)
    with pytest.raises(InputError, match="auto cannot tell"):
        choose_convention(np.moveaxis(np.where(no_myo == 4, 3, no_myo), 2, 0))


@needs_mnms
def test_mnms_read_with_the_acdc_convention_is_refused():
    with pytest.raises(InputError, match="fit --labels mnms"):
        load_labels(MNMS / "001_SA_ED_gt.nii.gz", "acdc")
    assert load_labels(MNMS / "001_SA_ED_gt.nii.gz", "auto").convention == "mnms"


# 4. missing slices and coverage ----------------------------------------------------------------------------


def test_an_unsegmented_slice_is_missing_data_filled_from_the_prior(case, tmp_path, capsys):
    disk, affine = _disk(case["sa"])
    axis = int(np.argmax(np.linalg.norm(affine[:3, :3], axis=0)))
    heart = np.flatnonzero((np.moveaxis(disk, axis, 0) > 0).any((1, 2)))
    k = int(heart[len(heart) // 2])
    gap = disk.copy()
    np.moveaxis(gap, axis, 0)[k] = 0
    path = write_nifti(tmp_path / "gap_sa.nii.gz", gap, affine)
    args = ["--quiet", "--no-figure", "--max-iterations", "30"]
    code, err = _run(["enhance", "--sa", str(path), "-o", str(tmp_path / "o"), *args], capsys)
    assert code == 0 and any(f"slice(s) [{k}]" in line for line in err), err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["input_checks"]["missing_slices"] == [k]
    assert [summary["plausibility"][f"components_{n}"] for n in ("LV", "MYO", "RV")] == [1, 1, 1]
    assert main(["enhance", "--sa", str(case["sa"]), "-o", str(tmp_path / "full"), *args]) == 0
    full = json.loads((tmp_path / "full" / "summary.json").read_text())["clinical"]
    for key in ("LV_ml", "RV_ml", "LV_mass_g"):  # not 9-12 % smaller, as when the gap read as "no heart"
        assert abs(summary["clinical"][key] - full[key]) < 0.08 * full[key], key


def test_a_heart_that_reaches_the_end_slice_is_reported(case, tmp_path, capsys):
    disk, affine = _disk(case["sa"])
    axis = int(np.argmax(np.linalg.norm(affine[:3, :3], axis=0)))
    heart = np.flatnonzero((np.moveaxis(disk, axis, 0) > 0).any((1, 2)))
    cut = np.moveaxis(np.moveaxis(disk, axis, 0)[heart[1] :], 0, axis)
    shift = np.eye(4)
    shift[axis, 3] = heart[1]
    path = write_nifti(tmp_path / "cut_sa.nii.gz", cut, affine @ shift)
    code, err = _run(["enhance", "--sa", str(path), "-o", str(tmp_path / "o"), *FAST], capsys)
    assert code == 0 and any("reach the first slice" in line for line in err), err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["input_checks"]["coverage"]["touches_first_slice"] is True


# 5. views that disagree ------------------------------------------------------------------------------------


def test_a_mirrored_stack_disagrees_with_its_long_axis_view(case, tmp_path, capsys):
    args = ["--la", str(case["la"]), *FAST]
    assert main(["enhance", "--sa", str(case["sa"]), "-o", str(tmp_path / "ok"), *args]) == 0
    good = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert good["input_checks"]["view_agreement"][0]["dice"]["mean"] > 0.8
    assert not any("disagree" in r for r in good["qc"]["reasons"])
    disk, affine = _disk(case["sa"])
    mirrored = write_nifti(tmp_path / "m_sa.nii.gz", disk[::-1].copy(), affine)
    code, err = _run(["enhance", "--sa", str(mirrored), "-o", str(tmp_path / "bad"), *args], capsys)
    assert code == 0 and any("disagree where they cross" in line for line in err), err
    bad = json.loads((tmp_path / "bad" / "summary.json").read_text())
    assert bad["qc"]["flag"] and any("disagrees" in r for r in bad["qc"]["reasons"])


@needs_mnms
def test_an_ed_stack_with_an_es_view_is_flagged(tmp_path, capsys):
    sa, la = MNMS / "001_SA_ED_gt.nii.gz", MNMS / "001_LA_ES_gt.nii.gz"
    code, err = _run(["enhance", "--sa", str(sa), "--la-eval", str(la), "--la", str(la), "--labels", "mnms",
                      "-o", str(tmp_path / "o"), *FAST], capsys)  # fmt: skip
    assert code == 0 and any("disagree" in line for line in err)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["qc"]["flag"]


# 6. atria in long-axis views -------------------------------------------------------------------------------


def test_ignore_labels_reads_atria_as_background(case, tmp_path, capsys):
    disk, affine = _disk(case["la"])
    atria = np.where(disk == 4, 3, disk)  # UK Biobank 4-chamber: 1 LV, 2 MYO, 3 RV, 4 LA, 5 RA
    atria[:4, :4] = 4
    atria[-4:, -4:] = 5
    la = write_nifti(tmp_path / "c_la.nii.gz", atria, affine)
    sa_disk, sa_affine = _disk(case["sa"])
    sa = write_nifti(tmp_path / "c_sa.nii.gz", np.where(sa_disk == 4, 3, sa_disk), sa_affine)
    base = ["enhance", "--sa", str(sa), "--la-eval", str(la), "--labels", "mnms", *FAST]
    code, err = _run([*base, "-o", str(tmp_path / "a")], capsys)
    assert code == 2 and "[4, 5]" in err[-1]
    code, err = _run([*base, "-o", str(tmp_path / "b"), "--ignore-labels", "4,5"], capsys)
    assert code == 0, err
    code, err = _run([*base[:-4], "--labels", "ukbb", *FAST, "-o", str(tmp_path / "c"), "--ignore-labels", "4"], capsys)
    assert code == 2 and "would remove structures" in err[-1]


# 7. output folders -----------------------------------------------------------------------------------------


def test_a_rerun_replaces_the_whole_set_of_files_and_keeps_others(case, tmp_path):
    out = tmp_path / "o"
    assert main(["enhance", "--sa", str(case["sa"]), "-o", str(out), "--method", "nn", "--quiet", "--mesh", "stl"]) == 0
    assert (out / "figure.png").is_file() and (out / "LV.stl").is_file()
    (out / "notes.txt").write_text("mine")
    assert main(["enhance", "--sa", str(case["sa"]), "-o", str(out), *FAST]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"sr.nii.gz", "sr_canonical.nii.gz", "shifts.json", "loss.csv", "summary.json", "notes.txt"}


def test_a_second_run_into_a_locked_folder_is_refused(case, tmp_path, capsys):
    out = tmp_path / "o"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from cardiosr.output_folder import locked\n"
         f"with locked({str(out)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, err = _run(["enhance", "--sa", str(case["sa"]), "-o", str(out), *FAST], capsys)
        assert code == 2 and len(err) == 1 and "another cardiosr run" in err[0], err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(["enhance", "--sa", str(case["sa"]), "-o", str(out), *FAST]) == 0  # released with its holder


def test_an_immutable_output_folder_is_refused_before_any_work(case, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        os.chmod(out, 0o555)  # without CAP_LINUX_IMMUTABLE: a read-only folder (refused unless running as root)
        if os.access(out, os.W_OK):
            pytest.skip("neither chattr +i nor a read-only folder can stop this user from writing")
    try:
        start = time.perf_counter()
        code, err = _run(["enhance", "--sa", str(case["sa"]), "-o", str(out), "--quiet", "--no-figure"], capsys)
        assert code == 2 and len(err) == 1 and "cannot write here" in err[0], err
        assert time.perf_counter() - start < 2.0  # refused before the optimisation, not after
    finally:
        subprocess.run(["chattr", "-i", str(out)], capture_output=True)
        os.chmod(out, 0o755)
    assert list(out.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["o"]


# 8. signals ------------------------------------------------------------------------------------------------


def test_sigterm_while_writing_cleans_up_and_exits_143(case, tmp_path):
    out = tmp_path / "o"
    script = (
        "import os, signal, sys, time\n"
        "import cardiosr.figures as figures\n"
        "def slow(result, path):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # arrives while the other files are staged\n"
        "    time.sleep(30)\n"
        "figures.save_enhance_figure = slow\n"
        "from cardiosr.cli import main\n"
        f"sys.exit(main(['enhance', '--sa', {str(case['sa'])!r}, '-o', {str(out)!r}, '--method', 'nn', '--quiet']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    err = [line for line in proc.stderr.strip().splitlines() if not line.startswith("cardiosr: warning:")]
    assert proc.returncode == 143, proc.stderr
    assert len(err) == 1 and "terminated" in err[0], proc.stderr
    assert list(tmp_path.iterdir()) == [], "staging folder or partial output left behind"


def _marked_processes(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_batch_workers_stop_with_their_parent_on_sigterm(case, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(12):
        (folder / f"c{k:02d}_sa.nii.gz").write_bytes(case["sa"].read_bytes())
    out = tmp_path / "out"
    mark = f"CARDIOSR_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, mark: "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cardiosr.cli", "batch", "-i", str(folder), "-o", str(out), "--workers", "2",
         "--quiet", "--max-iterations", "10", "--no-refine"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*/summary.json")):
        time.sleep(0.2)
    assert list(out.glob("*/summary.json")), "no case finished"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    time.sleep(1.0)
    assert _marked_processes(mark) == [], "worker processes outlived their parent"
    done = sorted(p.name for p in out.iterdir() if p.is_dir())
    time.sleep(3.0)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == done, "cases were written after the parent stopped"
    assert not list(out.glob(".*.tmp-*")), "staging folders left behind"


# 9. batch naming -------------------------------------------------------------------------------------------


def test_batch_naming_duplicates_stale_results_and_ignored_files(case, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_sa.nii.gz").write_bytes(case["sa"].read_bytes())
    (folder / "b_sa.nii.gz").write_bytes(case["sa"].read_bytes())
    (folder / "b_sa.nii").write_bytes(gzip.decompress(case["sa"].read_bytes()))
    (folder / "C_SA.nii.gz").write_bytes(case["sa"].read_bytes())
    (folder / "notes.txt").write_text("x")
    out = tmp_path / "out"
    code, err = _run(["batch", "-i", str(folder), "-o", str(out), *FAST], capsys)
    assert code == 3
    assert any("ignored 1 entries" in line and "notes.txt" in line for line in err), err
    with (out / "failures.csv").open() as f:
        failures = {r["case"]: r["reason"] for r in csv.DictReader(f)}
    assert list(failures) == ["b"] and "two short-axis files" in failures["b"]
    assert (out / "a" / "summary.json").is_file() and (out / "C" / "summary.json").is_file()
    (folder / "a_sa.nii.gz").write_bytes(b"broken")  # a rerun in which case a now fails
    assert main(["batch", "-i", str(folder), "-o", str(out), *FAST]) == 3
    assert not (out / "a").exists(), "the stale result of a failed case was kept"
    with (out / "cohort.csv").open() as f:
        assert [r["case"] for r in csv.DictReader(f)] == ["C"]


# 10. file formats ------------------------------------------------------------------------------------------


def test_nifti2_and_misnamed_compression_are_read_by_content(case, tmp_path):
    disk, affine = _disk(case["sa"])
    reference = load_labels(case["sa"])
    nifti2 = tmp_path / "n2.nii.gz"
    img = nib.Nifti2Image(disk.astype(np.uint8), affine)
    nib.save(img, str(nifti2))
    code = (
        "from cardiosr.io import load_labels, save_labels\n"
        f"v = load_labels({str(nifti2)!r})\n"
        f"save_labels(v, {str(tmp_path / 'back.nii.gz')!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr
    assert np.array_equal(load_labels(tmp_path / "back.nii.gz").array, reference.array)
    plain_named_gz = tmp_path / "plain.nii.gz"
    plain_named_gz.write_bytes(gzip.decompress(case["sa"].read_bytes()))
    gz_named_plain = tmp_path / "packed.nii"
    gz_named_plain.write_bytes(case["sa"].read_bytes())
    for path in (plain_named_gz, gz_named_plain):
        vol = load_labels(path)
        assert np.array_equal(vol.array, reference.array)
        np.testing.assert_allclose(vol.affine, reference.affine, atol=1e-6)
