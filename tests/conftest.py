"""Shared fixtures: the reference data beside the repository (optional) and small NIfTI writers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEMO_HR = SHARED / "srheart-demo" / "demo_HR.nii.gz"
DEMO_LR = SHARED / "srheart-demo" / "demo_LR.nii.gz"
MNMS_SA = SHARED / "mnms2-case001" / "001_SA_ED_gt.nii.gz"
MNMS_LA = SHARED / "mnms2-case001" / "001_LA_ED_gt.nii.gz"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data (reference data) is absent")


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray, sform_code: int = 2) -> Path:
    """Write ``array`` as NIfTI with the given affine (no label mapping, no checks)."""
    array = np.asarray(array)
    if array.dtype == np.int64:
        array = array.astype(np.int16)
    img = nib.Nifti1Image(array, None)
    affine = np.asarray(affine, float)
    zooms = np.linalg.norm(affine[:3, :3], axis=0) if np.all(np.isfinite(affine)) else np.zeros(3)
    if np.all(zooms > 0):  # pixdim as every writer keeps it (ITK reads the voxel size from pixdim)
        n = len(img.header.get_zooms())
        img.header.set_zooms((tuple(zooms) + img.header.get_zooms()[3:])[:n])
    img.set_sform(affine, code=sform_code)  # sform only: singular affines can be written
    nib.save(img, str(path))
    return path


@pytest.fixture(scope="session")
def phantom():
    """One phantom (LabelVolume, parameters), generated once per test session."""
    from cardiosr.phantom import generate_phantom

    return generate_phantom(7)


@pytest.fixture(scope="session")
def default_prior():
    """The shipped default prior and its metadata, loaded once per test session."""
    from cardiosr.prior import load_prior

    return load_prior()
