"""The command line: demo, phantoms, canonical, and the error contract (exit 2, one line, no output)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from conftest import MNMS_SA, needs_shared, write_nifti

from cardiosr.cli import main
from cardiosr.io import load_labels


def test_demo_writes_its_files_and_a_png(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--motion", "none"]) == 0
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["figure.png", "hr.nii.gz", "lr.nii.gz", "sr.nii.gz", "summary.json", "upsampled.nii.gz"]
    assert (tmp_path / "demo" / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hr, lr = load_labels(tmp_path / "demo" / "hr.nii.gz"), load_labels(tmp_path / "demo" / "lr.nii.gz")
    assert lr.shape[0] == hr.shape[0] // 5
    assert np.allclose(lr.spacing, [10.0, 1.25, 1.25])
    # LR slice i is the HR slice at the centre of its slab, at the same world position (no motion)
    np.testing.assert_allclose(lr.affine @ [3, 0, 0, 1], hr.affine @ [17, 0, 0, 1], atol=1e-6)
    assert np.array_equal(lr.array[3], hr.array[17])
    assert "enhanced" in capsys.readouterr().out


def test_demo_with_motion_enhance_beats_interpolation(tmp_path):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--motion", "severe"]) == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    mean = {k: np.mean(list(summary[k].values())) for k in ("dice_interpolated_vs_hr", "dice_enhanced_vs_hr")}
    assert mean["dice_enhanced_vs_hr"] > mean["dice_interpolated_vs_hr"] + 0.1


def test_outputs_get_the_permissions_of_the_umask_not_those_of_temporary_files(tmp_path):
    import os

    mask = os.umask(0o022)  # a group-readable setting, whatever the test runner's
    try:
        import importlib

        import cardiosr.io

        importlib.reload(cardiosr.io)  # the umask is read once, at import
        from cardiosr.degradation import downsample_slices
        from cardiosr.io import save_labels
        from cardiosr.phantom import generate_phantom

        sa = save_labels(downsample_slices(generate_phantom(0)[0]), tmp_path / "sa.nii.gz")
        assert main(["enhance", "--sa", str(sa), "-o", str(tmp_path / "out"), "--method", "nn", "--quiet"]) == 0
    finally:
        os.umask(mask)
        importlib.reload(cardiosr.io)
    assert oct(sa.stat().st_mode & 0o777) == oct(0o644)
    assert oct((tmp_path / "out").stat().st_mode & 0o777) == oct(0o755)
    for name in ("sr.nii.gz", "summary.json", "shifts.json", "figure.png"):
        assert oct((tmp_path / "out" / name).stat().st_mode & 0o777) == oct(0o644), name


def test_phantoms_command_writes_files_and_csv(tmp_path):
    assert main(["phantoms", "-n", "3", "-o", str(tmp_path / "ph"), "--seed", "4", "--labels", "mnms"]) == 0
    files = sorted((tmp_path / "ph").glob("*.nii.gz"))
    assert len(files) == 3
    with open(tmp_path / "ph" / "phantoms.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["case"] for r in rows] == [f.name.removesuffix(".nii.gz") for f in files]
    disk = np.asanyarray(nib.load(files[0]).dataobj)
    assert set(np.unique(disk)) == {0, 1, 2, 3}  # written in the mnms convention
    vol = load_labels(files[0], "mnms")
    assert float(rows[0]["lv_ml"]) == pytest.approx(vol.volumes_ml()["LV"], rel=1e-3)


def test_canonical_command_and_round_trip(tmp_path, phantom):
    from cardiosr.io import save_labels

    src = save_labels(phantom[0], tmp_path / "p.nii.gz")
    rc = main(["canonical", "-i", str(src), "-o", str(tmp_path / "c.nii.gz"), "--back", str(tmp_path / "b.nii.gz")])
    assert rc == 0
    assert load_labels(tmp_path / "c.nii.gz").shape == (64, 128, 128)
    back = load_labels(tmp_path / "b.nii.gz")
    np.testing.assert_allclose(back.affine, phantom[0].affine, atol=1e-5)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"this is not a nifti file at all" * 20, "NIfTI"),
        (None, "label values"),
    ],
)
def test_bad_input_exit_code_2_one_line_no_output(tmp_path, capsys, content, problem):
    bad = tmp_path / "bad.nii.gz"
    if content is None:
        write_nifti(bad, np.full((4, 8, 8), 9, np.int16), np.diag([10.0, 1.5, 1.5, 1]))
    else:
        bad.write_bytes(content)
    out = tmp_path / "out.nii.gz"
    assert main(["canonical", "-i", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and problem in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii.gz"]


def test_console_script_reports_errors_without_traceback(tmp_path):
    missing = tmp_path / "missing.nii.gz"
    proc = subprocess.run(
        [sys.executable, "-m", "cardiosr.cli", "canonical", "-i", str(missing), "-o", str(tmp_path / "o.nii.gz")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "cardiosr.cli", "phantoms"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


@needs_shared
def test_canonical_command_warns_in_one_line_on_the_mnms_stack(tmp_path, capsys):
    rc = main(["canonical", "-i", str(MNMS_SA), "--labels", "mnms", "-o", str(tmp_path / "c.nii.gz")])
    assert rc == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cardiosr: warning:") and "apex" in err[0]
