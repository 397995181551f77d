"""``cardiosr batch`` (resume, sharding, workers, Ray), surface meshes and ``cardiosr report``."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from tests_helpers import long_axis_view

from cardiosr.batch import find_cases, shard
from cardiosr.cli import main
from cardiosr.io import load_labels, save_labels
from cardiosr.mesh import surface_mesh
from cardiosr.phantom import cohort_member
from cardiosr.simulate import case_rng, simulate_case

FAST = ["--quiet", "--no-figure", "--max-iterations", "8", "--no-refine"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Three simulated cases; the second also has a four-chamber view."""
    folder = tmp_path_factory.mktemp("cohort")
    for i in range(3):
        hr = cohort_member(2, i)[0]
        case = simulate_case(f"s{i}", hr, 1.0, case_rng(2, i))
        save_labels(case.lr, folder / f"s{i}_sa.nii.gz")
        if i == 1:
            save_labels(long_axis_view(hr), folder / f"s{i}_la_4ch.nii.gz")
    (folder / "README.txt").write_text("not a case")
    return folder


def _outputs(out: Path) -> dict[str, tuple]:
    """What must be identical between two runs: labels, affines, shifts and the cohort table without times."""
    result = {}
    for case in sorted(p for p in out.iterdir() if p.is_dir()):
        img = nib.load(str(case / "sr.nii.gz"))
        shifts = json.loads((case / "shifts.json").read_text())
        result[case.name] = (np.asarray(img.dataobj).tobytes(), img.affine.tobytes(), json.dumps(shifts))
    with (out / "cohort.csv").open() as f:
        rows = [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]
    result["cohort.csv"] = (json.dumps(rows),)
    return result


def test_naming_rule_and_sharding(cohort):
    cases = find_cases(cohort)
    assert [c.name for c in cases] == ["s0", "s1", "s2"]
    assert [p.name for p in cases[1].la] == ["s1_la_4ch.nii.gz"] and cases[0].la == []
    parts = [shard(cases, 2, k) for k in (0, 1)]
    assert [c.name for c in parts[0]] == ["s0", "s2"] and [c.name for c in parts[1]] == ["s1"]


def test_batch_writes_each_case_the_cohort_table_and_resumes(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", "-i", str(cohort), "-o", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["s0", "s1", "s2"]
    summary = json.loads((out / "s1" / "summary.json").read_text())
    assert summary["input"]["la"][0].endswith("s1_la_4ch.nii.gz") and "la0" in summary["final_loss"]
    with (out / "cohort.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["case"] for r in rows] == ["s0", "s1", "s2"]
    assert float(rows[0]["LV_ml"]) > 50 and rows[1]["la_dice_mean"] != "" and rows[0]["qc_flag"] == "0"
    assert (out / "failures.csv").read_text().strip() == "case,file,reason"
    capsys.readouterr()
    # --continue skips all three; a staging folder left by a killed run is removed
    (out / ".s0.tmp-leftover").mkdir()
    stamp = (out / "s0" / "summary.json").stat().st_mtime_ns
    assert main(["batch", "-i", str(cohort), "-o", str(out), "--continue", *FAST]) == 0
    assert "0 done, 3 skipped" in capsys.readouterr().out
    assert (out / "s0" / "summary.json").stat().st_mtime_ns == stamp
    assert not (out / ".s0.tmp-leftover").exists()


def test_sharded_parts_together_cover_the_cohort(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    for part in ("0", "1"):
        args = ["batch", "-i", str(cohort), "-o", str(out), "--num-parts", "2", "--part-id", part, *FAST]
        assert main(args) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["s0", "s1", "s2"]
    assert (out / "failures_part0of2.csv").is_file() and (out / "failures_part1of2.csv").is_file()
    capsys.readouterr()
    assert main(["batch", "-i", str(cohort), "-o", str(out), "--num-parts", "2", "--part-id", "2", *FAST]) == 2


@pytest.mark.slow
def test_two_workers_give_the_same_segmentations(cohort, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["batch", "-i", str(cohort), "-o", str(one), *FAST]) == 0
    assert main(["batch", "-i", str(cohort), "-o", str(two), "--workers", "2", *FAST]) == 0
    for case in ("s0", "s1", "s2"):
        a = load_labels(one / case / "sr.nii.gz").array
        b = load_labels(two / case / "sr.nii.gz").array
        assert (a == b).mean() > 0.999  # two workers run one thread each: float rounding may differ


@pytest.mark.slow
def test_sigkill_then_continue_gives_exactly_the_uninterrupted_outputs(cohort, tmp_path):
    cmd = [sys.executable, "-c", "import sys; from cardiosr.cli import main; sys.exit(main(sys.argv[1:]))"]
    args = ["batch", "-i", str(cohort), *FAST]
    reference = tmp_path / "reference"
    subprocess.run([*cmd, *args, "-o", str(reference)], check=True, timeout=900)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, *args, "-o", str(killed)])
    deadline = time.time() + 600
    while not (killed / "s0" / "summary.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(p.parent.name for p in killed.glob("*/summary.json"))
    assert 1 <= len(finished) < 3, "the kill should land mid-run"
    subprocess.run([*cmd, *args, "-o", str(killed), "--continue"], check=True, timeout=900)
    assert not list(killed.glob(".*.tmp-*"))
    assert _outputs(killed) == _outputs(reference)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_backend_on_a_local_cluster_same_semantics(cohort, tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throw-away cluster on loopback: no token needed
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists():
        ray_bin = Path(shutil.which("ray") or "ray")
    port = _free_port()
    env_args = ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
    start = subprocess.run(
        [str(ray_bin), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), *env_args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        folder = tmp_path / "in"
        shutil.copytree(cohort, folder)
        (folder / "broken_sa.nii.gz").write_bytes(b"not nifti")
        out = tmp_path / "out"
        ray_args = ["--backend", "ray", "--address", f"127.0.0.1:{port}"]
        assert main(["batch", "-i", str(folder), "-o", str(out), *ray_args, *FAST]) == 3
        assert sorted(p.parent.name for p in out.glob("*/summary.json")) == ["s0", "s1", "s2"]
        with (out / "failures.csv").open() as f:
            (failure,) = list(csv.DictReader(f))
        assert failure["case"] == "broken" and "NIfTI" in failure["reason"]
        capsys.readouterr()
        assert main(["batch", "-i", str(folder), "-o", str(out), "--continue", *ray_args, *FAST]) == 3
        printed = capsys.readouterr().out
        assert "0 done, 3 skipped" in printed and "1 failed" in printed
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, timeout=120, env=dict(os.environ))


def test_meshes_are_closed_world_surfaces_matching_the_voxel_volume(cohort, tmp_path):
    import meshio

    out = tmp_path / "out"
    args = ["enhance", "--sa", str(cohort / "s0_sa.nii.gz"), "-o", str(out), "--mesh", "stl", *FAST]
    assert main(args) == 0
    sr = load_labels(out / "sr.nii.gz")
    voxel_ml = float(np.prod(sr.spacing)) / 1000.0
    world = np.argwhere(sr.array > 0) @ sr.affine[:3, :3].T + sr.affine[:3, 3]
    for value, name in ((1, "LV"), (2, "MYO"), (3, "RV")):
        mesh = meshio.read(out / f"{name}.stl")
        tri = mesh.points[mesh.cells_dict["triangle"]]
        # divergence theorem: the signed volume of a closed, outward-oriented surface
        volume_ml = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0 / 1000.0
        expected = (sr.array == value).sum() * voxel_ml
        assert volume_ml == pytest.approx(expected, rel=0.08), name
        assert np.all(mesh.points.min(0) > world.min(0) - 5) and np.all(mesh.points.max(0) < world.max(0) + 5)


def test_surface_mesh_of_a_mirrored_affine_still_points_outwards():
    cube = np.zeros((6, 6, 6), bool)
    cube[1:5, 1:5, 1:5] = True
    for affine in (np.diag([2.0, 1.0, 1.0, 1.0]), np.diag([-2.0, 1.0, 1.0, 1.0])):
        v, f = surface_mesh(cube, affine)
        tri = v[f]
        volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
        assert volume == pytest.approx(4 * 4 * 4 * 2.0, rel=0.1)  # marching cubes cuts the cube's corners


@pytest.mark.slow
def test_report_renders_in_headless_chromium_and_every_image_exists(cohort, tmp_path, capsys):
    folder = tmp_path / "in"
    shutil.copytree(cohort, folder)
    (folder / "broken_sa.nii.gz").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["batch", "-i", str(folder), "-o", str(out), "--quiet", "--max-iterations", "8", "--no-refine"]) == 3
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 3 + 2  # a thumbnail per finished case, two distribution plots
    assert all((out / src).is_file() for src in images)
    assert page.count("<tr") == 1 + 4  # header, three cases, one failure
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium installed (Debian package 'chromium'); the HTML was checked statically")
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (out / "report.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-rendered="true"' in dom  # the script ran: the table was sorted in the browser
    rows = re.findall(r"<tr[^>]*>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", dom)
    assert rows[0][1] == "failed" and {r[0] for r in rows} == {"s0", "s1", "s2", "broken"}
