"""Label conventions, NIfTI reading/writing with geometry, input validation and atomic writes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from conftest import DEMO_HR, DEMO_LR, MNMS_LA, MNMS_SA, needs_shared, write_nifti

from cardiosr.errors import InputError
from cardiosr.io import atomic_path, load_labels, save_labels
from cardiosr.labels import get_convention
from cardiosr.slice_axis import detect_slice_axis


@pytest.mark.parametrize(
    ("name", "disk", "internal"),
    [
        ("ukbb", [0, 1, 2, 4], [0, 1, 2, 3]),
        ("mnms", [0, 1, 2, 3], [0, 1, 2, 3]),
        ("acdc", [0, 1, 2, 3], [0, 3, 2, 1]),
    ],
)
def test_conventions_map_both_ways(name, disk, internal):
    conv = get_convention(name)
    assert conv.to_internal(np.array(disk)).tolist() == internal
    assert conv.from_internal(np.array(internal)).tolist() == disk


def test_unknown_label_value_is_an_error_naming_the_values():
    with pytest.raises(InputError, match=r"\[3\].*'ukbb'"):
        get_convention("ukbb").to_internal(np.array([0, 1, 2, 3]))
    with pytest.raises(InputError, match="unknown label convention"):
        get_convention("kaggle")


def _stack(shape=(6, 20, 24), seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([0, 1, 2, 4], size=shape).astype(np.int16)


def test_round_trip_preserves_affine_labels_and_disk_order(tmp_path):
    # slice axis last on disk, oblique affine with the largest spacing on axis 2
    rot, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    affine = np.eye(4)
    affine[:3, :3] = rot * np.array([1.48, 1.52, 10.0])
    affine[:3, 3] = [-120.5, 33.3, 80.1]
    data = np.moveaxis(_stack(), 0, 2)  # (20, 24, 6)
    src = write_nifti(tmp_path / "sa.nii.gz", data, affine)
    vol = load_labels(src)
    assert vol.shape == (6, 20, 24)
    assert vol.disk_axes == (2, 0, 1)
    # internal voxel (d, h, w) sits where disk voxel (h, w, d) sits
    np.testing.assert_allclose(vol.affine @ [3, 5, 7, 1], affine @ [5, 7, 3, 1], atol=1e-9)
    out = save_labels(vol, tmp_path / "out.nii.gz")
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    assert np.array_equal(np.asanyarray(img.dataobj), data)
    again = load_labels(out)
    np.testing.assert_allclose(again.affine, vol.affine, atol=1e-5)
    assert np.array_equal(again.array, vol.array)


def test_save_in_another_convention(tmp_path):
    data = np.zeros((3, 8, 8), np.int16)
    data[:, 2:4, 2:4] = 4
    data[:, 5:7, 5:7] = 1
    src = write_nifti(tmp_path / "a.nii.gz", data, np.diag([10.0, 1.5, 1.5, 1]))
    out = save_labels(load_labels(src, "ukbb"), tmp_path / "b.nii.gz", convention="acdc")
    disk = np.asanyarray(nib.load(out).dataobj)
    assert set(np.unique(disk)) == {0, 1, 3}
    assert (disk[:, 2:4, 2:4] == 1).all() and (disk[:, 5:7, 5:7] == 3).all()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: (np.full((4, 8, 8), 1.5), np.diag([10, 1, 1, 1.0])), "non-integer"),
        (lambda: (np.where(np.eye(8)[None] > 0, np.nan, 0.0).repeat(4, 0), np.diag([10, 1, 1, 1.0])), "NaN"),
        (lambda: (np.full((4, 8, 8), 7), np.diag([10, 1, 1, 1.0])), r"label values \[7\]"),
        (lambda: (np.zeros((8, 8)), np.diag([1, 1, 1, 1.0])), "3D"),
        (lambda: (np.zeros((2, 4, 8, 8)), np.diag([10, 1, 1, 1.0])), "3D"),
        (lambda: (np.zeros((4, 8, 8)), np.diag([10, 1, 0, 1.0])), "singular"),
        (lambda: (np.zeros((8, 8, 8)), np.diag([1.5, 1.5, 1.5, 1.0])), "slice axis"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, make, message):
    data, affine = make()
    path = write_nifti(tmp_path / "bad.nii.gz", data, affine)
    with pytest.raises(InputError, match=message) as info:
        load_labels(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_missing_affine_empty_and_truncated_files(tmp_path):
    path = write_nifti(tmp_path / "noaffine.nii.gz", np.zeros((4, 8, 8), np.int16), np.eye(4), sform_code=0)
    with pytest.raises(InputError, match="no orientation"):
        load_labels(path)
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_labels(tmp_path / "empty.nii.gz")
    good = write_nifti(tmp_path / "good.nii.gz", _stack(), np.diag([10.0, 1.5, 1.5, 1]))
    (tmp_path / "cut.nii.gz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.nii.gz"):
        load_labels(tmp_path / "cut.nii.gz")
    (tmp_path / "text.nii.gz").write_text("not an image")
    with pytest.raises(InputError, match="text.nii.gz"):
        load_labels(tmp_path / "text.nii.gz")
    with pytest.raises(InputError, match="does not exist"):
        load_labels(tmp_path / "nothing.nii.gz")


def test_slice_axis_detection_and_override():
    assert detect_slice_axis(np.diag([1.25, 10.0, 1.25, 1]), (100, 12, 100)) == 1
    assert detect_slice_axis(np.diag([1.7, 1.7, 1.0, 1]), (256, 256, 1)) == 2  # single slice (LA view)
    with pytest.raises(InputError, match="slice axis"):
        detect_slice_axis(np.diag([1.5, 1.5, 1.5, 1]), (10, 10, 10))
    assert detect_slice_axis(np.diag([1.5, 1.5, 1.5, 1]), (10, 10, 10), slice_axis=0) == 0


@needs_shared
def test_axis_detection_on_the_shared_files():
    hr, lr = load_labels(DEMO_HR), load_labels(DEMO_LR)
    assert hr.disk_axes[0] == 0 and hr.shape == (64, 128, 128)
    assert lr.disk_axes[0] == 0 and lr.shape == (13, 128, 128)
    sa, la = load_labels(MNMS_SA, "mnms"), load_labels(MNMS_LA, "mnms")
    assert sa.disk_axes[0] == 2 and sa.shape == (12, 256, 256)
    np.testing.assert_allclose(sa.spacing, [10.0, 1.4844, 1.4844], atol=1e-3)
    assert la.disk_axes[0] == 2 and la.shape == (1, 256, 256)
    with pytest.raises(InputError, match=r"\[3\]"):
        load_labels(MNMS_SA)  # ukbb has no label 3: never a silent guess


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_unwritable_destination_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    vol = load_labels(write_nifti(tmp_path / "a.nii.gz", _stack(), np.diag([10.0, 1.5, 1.5, 1])))
    with pytest.raises(InputError, match="cannot write"):
        save_labels(vol, blocker / "sub" / "out.nii.gz")
