"""A corpus of malformed inputs: exit code 2, one line naming the file and the problem, no partial output.

Every entry is generated here from one good simulated stack. Each goes through ``cardiosr enhance``; the
short-axis and long-axis entries also go through one ``cardiosr batch`` run together with a good case,
which must complete while each bad case lands in ``failures.csv``.
"""

from __future__ import annotations

import csv
import gzip
import os
import resource
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import write_nifti
from tests_helpers import long_axis_view

from cardiosr.cli import main
from cardiosr.edsr import EDSR3D, save_edsr
from cardiosr.io import save_labels
from cardiosr.phantom import cohort_member
from cardiosr.prior import load_prior
from cardiosr.prior.checkpoint import save_prior
from cardiosr.prior.metadata import make_metadata
from cardiosr.simulate import case_rng, simulate_case

SA_AFFINE = np.diag([1.25, 1.25, 10.0, 1.0])  # on disk (row, column, slice)


@dataclass
class Good:
    """The good inputs every malformed entry is derived from."""

    folder: Path
    sa: Path
    la: Path
    sa_disk: np.ndarray  # on-disk array of the good stack (ukbb values)
    affine: np.ndarray


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Good:
    folder = tmp_path_factory.mktemp("good")
    hr = cohort_member(1, 0)[0]
    case = simulate_case("c", hr, 1.0, case_rng(1, 0))
    sa = save_labels(case.lr, folder / "good_sa.nii.gz")
    la = save_labels(long_axis_view(hr), folder / "good_la.nii.gz")
    img = nib.load(str(sa))
    return Good(folder, sa, la, np.asarray(img.dataobj), img.affine)


@dataclass
class Entry:
    """One malformed input: how to make it, which option it goes to, what the message must say."""

    name: str
    make: Callable[[Path, Good], Path]
    option: str = "sa"  # sa, la, prior, edsr, output
    says: str = ""  # a fragment the one-line message must contain
    batch: bool = True  # also part of the batch run (short-axis and long-axis entries)
    extra: list[str] = field(default_factory=list)


def _nii(array, affine=None, name="x_sa.nii.gz", sform_code=2) -> Callable[[Path, Good], Path]:
    def make(folder: Path, good: Good) -> Path:
        a = array(good) if callable(array) else array
        aff = good.affine if affine is None else affine(good) if callable(affine) else affine
        return write_nifti(folder / name, a, aff, sform_code=sform_code)

    return make


def _bytes(content: bytes | Callable[[Good], bytes], name="x_sa.nii.gz") -> Callable[[Path, Good], Path]:
    def make(folder: Path, good: Good) -> Path:
        path = folder / name
        path.write_bytes(content(good) if callable(content) else content)
        return path

    return make


def _good_array(transform: Callable[[np.ndarray], np.ndarray]) -> Callable[[Good], np.ndarray]:
    return lambda good: transform(good.sa_disk.copy())


def _set(value):
    """Put ``value`` into one heart voxel."""

    def transform(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float32) if isinstance(value, float) else a.astype(np.int16)
        a[tuple(np.argwhere(a > 0)[0])] = value
        return a

    return transform


def _scaled_affine(slice_mm: float, pixel_mm: float) -> Callable[[Good], np.ndarray]:
    """The good stack's affine with other voxel sizes (same directions)."""

    def make(good: Good) -> np.ndarray:
        affine = good.affine.copy()
        norms = np.linalg.norm(affine[:3, :3], axis=0)
        sizes = np.where(norms == norms.max(), slice_mm, pixel_mm)
        affine[:3, :3] = affine[:3, :3] / norms * sizes
        return affine

    return make


def _nan_affine(folder: Path, good: Good) -> Path:
    path = write_nifti(folder / "x_sa.nii", good.sa_disk, good.affine)
    data = bytearray(path.read_bytes())
    struct.pack_into("<h", data, 252, 0)  # qform_code 0: the (NaN) sform is the affine
    struct.pack_into("<f", data, 280, float("nan"))  # srow_x[0]
    path.write_bytes(bytes(data))
    return path


def _truncated(good: Good) -> bytes:
    data = good.sa.read_bytes()
    return data[: len(data) // 2]


def _huge_header(folder: Path, good: Good) -> Path:
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), SA_AFFINE)
    img.header.set_data_shape((30000, 30000, 100))
    path = folder / "x_sa.nii"
    with path.open("wb") as f:
        f.write(img.header.binaryblock)
        f.write(b"\0" * (352 - len(img.header.binaryblock)) + b"\0" * 64)
    return path


def _la_far(folder: Path, good: Good) -> Path:
    img = nib.load(str(good.la))
    affine = img.affine.copy()
    affine[:3, 3] += 500.0
    return write_nifti(folder / "x_la.nii.gz", np.asarray(img.dataobj), affine)


def _la_relabelled(folder: Path, good: Good) -> Path:
    img = nib.load(str(good.la))
    a = np.asarray(img.dataobj).astype(np.int16)
    a[a == 4] = 3  # written in the M&Ms convention, read as UK Biobank
    return write_nifti(folder / "x_la.nii.gz", a, img.affine)


def _lv_rv_swapped(folder: Path, good: Good) -> Path:
    a = good.sa_disk.astype(np.int16)
    mnms = np.where(a == 4, 3, a)  # an M&Ms file (1/2/3), read with --labels acdc (3/2/1): LV and RV swapped
    return write_nifti(folder / "x_sa.nii.gz", mnms, good.affine)


def _no_myocardium(folder: Path, good: Good) -> Path:
    a = good.sa_disk.astype(np.int16)
    return write_nifti(folder / "x_sa.nii.gz", np.where(a == 2, 0, a), good.affine)  # --labels auto has no evidence


def _cube(folder: Path, good: Good) -> Path:
    a = np.zeros((24, 24, 24), np.int16)
    a[4:20, 4:20, 4:20] = 2
    a[8:16, 8:16, 8:16] = 1
    return write_nifti(folder / "x_sa.nii.gz", a, np.diag([1.5, 1.5, 1.5, 1.0]))  # nothing tells the slice axis


def _la_atria(folder: Path, good: Good) -> Path:
    img = nib.load(str(good.la))
    a = np.asarray(img.dataobj).astype(np.int16)
    a[:3, :3] = 5  # an atrium label (UK Biobank 4-chamber views), without --ignore-labels
    return write_nifti(folder / "x_la.nii.gz", a, img.affine)


def _la_stack(folder: Path, good: Good) -> Path:
    return write_nifti(folder / "x_la.nii.gz", good.sa_disk, good.affine)  # many slices


def _la_empty(folder: Path, good: Good) -> Path:
    img = nib.load(str(good.la))
    return write_nifti(folder / "x_la.nii.gz", np.zeros(img.shape, np.uint8), img.affine)


def _prior_wrong_grid(folder: Path, good: Good) -> Path:
    prior, _ = load_prior()
    meta = make_metadata(prior, "vae")
    meta["grid"]["shape"] = [32, 64, 64]
    return save_prior(prior, folder / "prior.safetensors", meta)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch cardiosr-was-exploited",))


def _malicious_pickle(name: str) -> Callable[[Path, Good], Path]:
    def make(folder: Path, good: Good) -> Path:
        path = folder / name
        torch.save({"state_dict": {"encoder.0.weight": torch.zeros(1)}, "x": _Exploit()}, path, pickle_protocol=2)
        return path

    return make


def _edsr_wrong_metadata(folder: Path, good: Good) -> Path:
    model = EDSR3D(n_feats=4, n_blocks=1)
    return save_edsr(model, folder / "edsr.safetensors", {"model": {"factor": 5, "n_feats": 4, "n_blocks": "many"}})


def _output_under_a_file(folder: Path, good: Good) -> Path:
    blocker = folder / "a_file"
    blocker.write_text("not a folder")
    return blocker / "out"


def _output_is_a_file(folder: Path, good: Good) -> Path:
    path = folder / "out_file"
    path.write_text("not a folder")
    return path


def _directory(folder: Path, good: Good) -> Path:
    path = folder / "x_sa.nii.gz"
    path.mkdir()
    return path


def _disk_4d_unlabelled_frame(good: Good) -> np.ndarray:
    return np.stack([good.sa_disk, np.zeros_like(good.sa_disk), good.sa_disk], -1)


def _disk_5d(good: Good) -> np.ndarray:
    return np.stack([np.stack([good.sa_disk] * 2, -1)] * 2, -1)


CORPUS = [
    Entry("zero-byte file", _bytes(b""), says="empty (0 bytes)"),
    Entry("text, not NIfTI", _bytes(b"case,label\n1,2\n"), says="not a readable NIfTI"),
    Entry("truncated gzip", _bytes(_truncated)),
    Entry("gzip of random bytes", _bytes(gzip.compress(np.random.default_rng(0).bytes(4000)))),
    Entry("PNG bytes named .nii.gz", _bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 400)),
    Entry("a folder named like a file", _directory, says="folder", batch=False),
    Entry("missing file", lambda folder, good: folder / "x_sa.nii.gz", says="does not exist", batch=False),
    Entry("2D array", _nii(_good_array(lambda a: a[:, :, 5])), says="3D"),
    Entry("4D cine with a frame without labels", _nii(_disk_4d_unlabelled_frame), says="frame 1 has no labels"),
    Entry("5D array", _nii(_disk_5d), says="4D cine"),
    Entry("non-integer float labels", _nii(_good_array(_set(1.5))), says="non-integer"),
    Entry("NaN values", _nii(_good_array(_set(float("nan")))), says="NaN"),
    Entry("infinite values", _nii(_good_array(_set(float("inf")))), says="infinite"),
    Entry("unknown label value 7", _nii(_good_array(_set(7))), says="7"),
    Entry("negative label", _nii(_good_array(_set(-1))), says="-1"),
    Entry("M&Ms labels read as UK Biobank", _nii(_good_array(lambda a: np.where(a == 4, 3, a))), says="3"),
    Entry("empty segmentation", _nii(_good_array(np.zeros_like)), says="no heart labels"),
    Entry("a single slice", _nii(np.ones((64, 64, 1), np.uint8), affine=SA_AFFINE), says="single slice"),
    Entry("4x4 in-plane", _nii(np.ones((4, 4, 10), np.uint8), affine=SA_AFFINE), says="too small"),
    Entry("1000 mm voxels", _nii(_good_array(lambda a: a), affine=_scaled_affine(2000.0, 1000.0)), says="voxel size"),
    Entry("singular affine", _nii(_good_array(lambda a: a), affine=np.diag([1.25, 0.0, 10.0, 1.0])), says="singular"),
    Entry("no orientation (codes 0)", _nii(_good_array(lambda a: a), sform_code=0), says="orientation"),
    Entry("NaN in the affine", _nan_affine, says="NaN"),
    Entry("absurd header size", _huge_header, says="too large"),
    Entry("complex voxels", _nii(_good_array(lambda a: a.astype(np.complex64))), says="complex"),
    Entry("long-axis view misses the stack", _la_far, option="la", says="does not intersect"),
    Entry("long-axis view in another convention", _la_relabelled, option="la", says="3"),
    Entry("long-axis file that is a stack", _la_stack, option="la", says="single"),
    Entry(
        "LV and RV swapped by the convention",
        _lv_rv_swapped,
        says="fit --labels mnms",
        batch=False,
        extra=["--labels", "acdc"],
    ),
    Entry("--labels auto without myocardium", _no_myocardium, says="auto", batch=False, extra=["--labels", "auto"]),
    Entry("isotropic cube: no slice axis", _cube, says="slice axis"),
    Entry("long-axis view with atria (no --ignore-labels)", _la_atria, option="la", says="[5]"),
    Entry("long-axis view without heart labels", _la_empty, option="la", says="heart"),
    Entry("long-axis zero-byte file", _bytes(b"", name="x_la.nii.gz"), option="la", says="empty"),
    Entry("prior with the wrong grid", _prior_wrong_grid, option="prior", says="grid", batch=False),
    Entry(
        "prior that is a malicious pickle", _malicious_pickle("prior.pt"), option="prior", says="refusing", batch=False
    ),
    Entry("prior that is random bytes", _bytes(b"\0" * 64, name="p.safetensors"), option="prior", batch=False),
    Entry(
        "missing prior", lambda folder, good: folder / "none.safetensors", option="prior", says="no such", batch=False
    ),
    Entry("EDSR that is a malicious pickle", _malicious_pickle("edsr.pt"), option="edsr", batch=False),
    Entry("EDSR with wrong metadata", _edsr_wrong_metadata, option="edsr", says="metadata", batch=False),
    Entry("output under a regular file", _output_under_a_file, option="output", says="cannot write", batch=False),
    Entry("output is an existing file", _output_is_a_file, option="output", batch=False),
]


def _argv(entry: Entry, bad: Path, good: Good, out: Path) -> list[str]:
    sa = bad if entry.option == "sa" else good.sa
    argv = ["enhance", "--sa", str(sa), "-o", str(bad if entry.option == "output" else out), "--quiet"]
    argv += ["--max-iterations", "5", "--no-refine", "--no-figure"]
    if entry.option == "la":
        argv += ["--la", str(bad)]
    if entry.option == "prior":
        argv += ["--prior", str(bad)]
    if entry.option == "edsr":
        argv += ["--method", "edsr", "--edsr", str(bad)]
    return argv + entry.extra


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_malformed_input_exit_2_one_line_no_output(entry, good, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = entry.make(tmp_path, good)
    out = tmp_path / "out"
    before = set(tmp_path.iterdir())
    code = main(_argv(entry, bad, good, out))
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("cardiosr: warning:")]
    assert code == 2, err
    assert len(errors) == 1 and errors[0].startswith("cardiosr: error:"), err
    assert "Traceback" not in "\n".join(err)
    named = bad.parent.name if entry.option == "output" and entry.name.startswith("output under") else bad.name
    assert named in errors[0], errors[0]
    assert entry.says in errors[0], errors[0]
    assert set(tmp_path.iterdir()) == before, "partial output left behind"
    assert not (tmp_path / "cardiosr-was-exploited").exists()


def test_an_unknown_option_value_is_one_line(good, tmp_path, capsys):
    code = main(["enhance", "--sa", str(good.sa), "-o", str(tmp_path / "o"), "--max-iterations", "0", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "max_iterations" in err[0] and not (tmp_path / "o").exists()


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))


def test_a_full_disk_is_one_line_and_leaves_nothing(good, tmp_path):
    out = tmp_path / "out"
    code = (
        "import sys; from cardiosr.cli import main; "
        f"sys.exit(main(['enhance', '--sa', {str(good.sa)!r}, '-o', {str(out)!r}, '--quiet', "
        "'--max-iterations', '5', '--no-refine']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_limit_file_size, timeout=600
    )
    err = [line for line in proc.stderr.strip().splitlines() if not line.startswith("cardiosr: warning:")]
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and "File too large" in err[0] and "out" in err[0], proc.stderr
    assert list(tmp_path.iterdir()) == [], "partial output left behind"


def test_batch_records_every_bad_case_and_finishes_the_good_one(good, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good_sa.nii.gz").write_bytes(good.sa.read_bytes())
    expected = {}
    for k, entry in enumerate(e for e in CORPUS if e.batch):
        made = entry.make(tmp_path, good)
        case = f"bad{k:02d}"
        if entry.option == "sa":
            made.rename(folder / f"{case}_sa{''.join(made.suffixes)}")
        else:  # a long-axis problem: the case has a good stack and the bad view
            (folder / f"{case}_sa.nii.gz").write_bytes(good.sa.read_bytes())
            made.rename(folder / f"{case}_la.nii.gz")
        expected[case] = entry
    out = tmp_path / "out"
    code = main(["batch", "-i", str(folder), "-o", str(out), "--quiet", "--no-figure", "--max-iterations", "5"])
    capsys.readouterr()
    assert code == 3  # finished, with failed cases
    with (out / "failures.csv").open() as f:
        failures = {r["case"]: r for r in csv.DictReader(f)}
    assert set(failures) == set(expected)
    for case, entry in expected.items():
        assert entry.says in failures[case]["reason"], (case, entry.name, failures[case])
        assert "\n" not in failures[case]["reason"]
        assert not (out / case).exists()
    assert (out / "good" / "summary.json").is_file()
    with (out / "cohort.csv").open() as f:
        assert [r["case"] for r in csv.DictReader(f)] == ["good"]
