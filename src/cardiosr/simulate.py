"""Simulated cohorts: paired HR ground truth and clinical-style LR stacks with known motion (paper §3.2).

Each case is written as three files into one folder, named by the case:

* ``CASE_hr.nii.gz``: the HR ground truth on the canonical grid (64×128×128, 2×1.25×1.25 mm, world affine);
* ``CASE_sa.nii.gz``: the LR short-axis stack, a clinical file on its own: thick slices with their own
  affine (10 mm for ``s = 5``), labels in the chosen convention, nothing else needed to process it;
* ``CASE_truth.json``: the true shifts (mm per LR slice, along the stack's rows and columns and as world
  vectors), the motion pattern, the factor, the error rate and the seed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiosr.degradation import (
    MOTION_PATTERNS,
    add_segmentation_errors,
    degrade_with_motion,
)
from cardiosr.errors import InputError
from cardiosr.geometry import to_canonical, unit_columns
from cardiosr.io import load_labels, save_labels, write_json
from cardiosr.volume import LabelVolume


@dataclass
class SimulatedCase:
    """One simulated pair: HR ground truth (canonical grid), LR stack, and the true shifts (mm)."""

    name: str
    hr: LabelVolume
    lr: LabelVolume
    shifts_mm: np.ndarray
    truth: dict


def motion_scale(pattern: str | None, scale: float | None) -> float:
    """The amplitude multiplier of a named pattern (``none``, ``normal``, ``severe``) or an explicit scale."""
    if scale is not None:
        if not np.isfinite(scale) or scale < 0:
            raise InputError(f"--motion-scale must be a non-negative number, got {scale}")
        return float(scale)
    if pattern not in MOTION_PATTERNS:
        raise InputError(f"unknown motion pattern '{pattern}' (choose one of: {', '.join(MOTION_PATTERNS)})")
    return MOTION_PATTERNS[pattern]


def simulate_case(
    name: str,
    hr: LabelVolume,
    scale: float,
    rng: np.random.Generator,
    factor: int = 5,
    error_rate: float = 0.0,
    pattern: str | None = None,
) -> SimulatedCase:
    """Degrade one HR label map on the canonical grid with Eq. 1.

    Parameters
    ----------
    name:
        Case name.
    hr:
        HR ground truth, already on the canonical grid.
    scale:
        Motion amplitude multiplier (0 none, 1 normal, 4 severe).
    rng:
        Seeded generator for the shifts and ε.
    factor:
        Down-sampling factor along the slice axis (``s = (factor, 1, 1)``).
    error_rate:
        Rate of ε (see :func:`cardiosr.degradation.add_segmentation_errors`); 0 for none.
    """
    lr, shifts = degrade_with_motion(hr, scale, rng, factor)
    lr = lr.with_array(add_segmentation_errors(lr.array, error_rate, rng))
    axes = unit_columns(lr.affine)
    truth = {
        "case": name,
        "motion_pattern": pattern,
        "motion_scale": scale,
        "factor": [factor, 1, 1],
        "error_rate": error_rate,
        "shifts_mm": np.round(shifts, 6).tolist(),
        "shifts_axes": "per LR slice: (row, column) of the LR stack, mm; slice content moved by +d",
        "shifts_world_mm": np.round(shifts @ axes[:, 1:].T, 6).tolist(),
        "gauge": "raw draws (not zero-mean): estimates are comparable only up to a common translation",
        "lr_shape": list(lr.shape),
        "lr_spacing_mm": np.round(lr.spacing, 6).tolist(),
    }
    return SimulatedCase(name, hr, lr, shifts, truth)


def iter_hr_sources(
    phantoms: int | None,
    hr_dir: str | os.PathLike | None,
    labels: str,
    seed: int,
    *,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
) -> Iterator[tuple[str, LabelVolume]]:
    """Yield ``(case name, HR label map on the canonical grid)`` from phantoms or a folder of files
    (read with :func:`cardiosr.io.load_labels`'s ``slice_axis`` and ``ignore_labels``)."""
    if (phantoms is None) == (hr_dir is None):
        raise InputError("give exactly one source: --phantoms N or --hr DIR")
    if phantoms is not None:
        from cardiosr.phantom import iter_phantoms

        if phantoms < 1:
            raise InputError(f"--phantoms must be at least 1, got {phantoms}")
        for vol, params in iter_phantoms(phantoms, seed):
            yield f"phantom_{params.cohort_index:04d}", vol
        return
    folder = Path(hr_dir)  # type: ignore[arg-type]
    if not folder.is_dir():
        raise InputError("is not a folder", folder)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".nii.gz", ".nii")))
    if not files:
        raise InputError("holds no .nii or .nii.gz files", folder)
    for path in files:
        canon, _ = to_canonical(load_labels(path, labels, slice_axis=slice_axis, ignore_labels=ignore_labels))
        yield path.name.removesuffix(".gz").removesuffix(".nii"), canon


def write_case(case: SimulatedCase, output_dir: str | os.PathLike, labels: str, seed: int) -> list[Path]:
    """Write ``CASE_hr.nii.gz``, ``CASE_sa.nii.gz`` and ``CASE_truth.json`` (each atomically)."""
    out = Path(output_dir)
    hr_path = save_labels(case.hr, out / f"{case.name}_hr.nii.gz", convention=labels)
    sa_path = save_labels(case.lr, out / f"{case.name}_sa.nii.gz", convention=labels)
    truth_path = out / f"{case.name}_truth.json"
    write_json(truth_path, {**case.truth, "seed": seed, "labels": labels})
    return [hr_path, sa_path, truth_path]


def case_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of case ``index`` (independent of the cohort's size and of the phantom's stream)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index), 1)))


def write_cine_case(
    name: str,
    seed: int | np.random.SeedSequence,
    n_frames: int,
    scale: float,
    rng: np.random.Generator,
    output_dir: str | os.PathLike,
    labels: str,
    *,
    factor: int = 5,
    jitter_mm: float = 0.0,
) -> list[Path]:
    """A phantom cine with truth (:func:`cardiosr.phantom.phantom_cycle`, one breath-hold shift per slice for all
    frames, :func:`cardiosr.degradation.degrade_cine_with_motion`): ``CASE_hr.nii.gz`` and ``CASE_sa.nii.gz``
    (4D) and ``CASE_truth.json`` (shifts, volumes per frame, ED/ES frames, EF)."""
    from cardiosr.degradation import degrade_cine_with_motion
    from cardiosr.frames import save_frames
    from cardiosr.metrics import clinical_volumes, ejection_fraction
    from cardiosr.phantom import phantom_cycle

    hr = phantom_cycle(seed, n_frames)
    stacks, shifts = degrade_cine_with_motion(hr, scale, rng, factor, jitter_mm)
    volumes = [clinical_volumes(f.array, f.spacing) for f in hr]
    lv = [v["LV_ml"] for v in volumes]
    rv = [v["RV_ml"] for v in volumes]
    ed, es = int(np.argmax(lv)), int(np.argmin(lv))
    out = Path(output_dir)
    truth = {
        "case": name,
        "frames": n_frames,
        "motion_scale": scale,
        "factor": [factor, 1, 1],
        "jitter_mm": jitter_mm,
        "shifts_mm": np.round(shifts, 6).tolist(),
        "shifts_axes": "per LR slice: (row, column) of the LR stack, mm; shared by every frame (plus the jitter)",
        "LV_ml": [round(x, 3) for x in lv],
        "RV_ml": [round(x, 3) for x in rv],
        "ED_frame": ed,
        "ES_frame": es,
        "EF_LV": ejection_fraction(lv[ed], lv[es]),
        "EF_RV": ejection_fraction(rv[ed], rv[es]),
        "labels": labels,
    }
    return [
        save_frames(hr, out / f"{name}_hr.nii.gz", convention=labels),
        save_frames(stacks, out / f"{name}_sa.nii.gz", convention=labels),
        write_json(out / f"{name}_truth.json", truth),
    ]
