"""Quality control of a finished fit: back to the world frame, clean topology, consistency with the slices, flags."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from cardiosr.errors import InputWarning
from cardiosr.geometry import from_canonical, hr_grid, resample_probabilities, unit_columns
from cardiosr.labels import STRUCTURES
from cardiosr.metrics import clinical_volumes, dice, long_axis_dice
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import Problem
from cardiosr.optimise.result import OptimisationResult
from cardiosr.pipeline.checks import QC_MIN_VIEW_AGREEMENT, physiology_checks
from cardiosr.pipeline.result import Result
from cardiosr.topology import clean_topology
from cardiosr.volume import LabelVolume

#: QC: the final short-axis loss above which a result is flagged (mean cross-entropy per voxel). The
#: largest final loss measured on the 60 simulated phantoms of ``benchmarks/enhance_phantoms.py`` (no,
#: normal and severe motion) is 0.013, on the real files of ``benchmarks/enhance_real_files.py`` 0.016;
#: a loss this high means the prior could not explain the input.
QC_MAX_LOSS = 0.1


#: QC: the lowest acceptable Dice between the input stack and the result degraded back onto it.
QC_MIN_CONSISTENCY_DICE = 0.7


def describe_prior(meta: dict[str, Any]) -> str:
    source = (meta.get("source") or {}).get("path") or (meta.get("training") or {}).get("data") or "default"
    return f"{meta.get('architecture', '?')} M={meta.get('latent_dim', '?')} ({source})"


def consistency_dice(problem: Problem, probs: np.ndarray, shifts_mm: np.ndarray) -> dict[str, float]:
    """Dice per structure between the stack and ``probs`` degraded back onto it by Eq. 1 (with ``shifts_mm``,
    ``NaN`` read as 0), over the stack's pixels inside the canonical field of view: the QC's consistency.

    ``probs`` are ``(4, D, H, W)`` class probabilities (or one-hot labels) on ``problem``'s canonical grid.
    """
    device = problem.sa_loss.target.device
    with torch.no_grad():
        p = torch.from_numpy(np.ascontiguousarray(probs, np.float32)).to(device)[None]
        d = torch.from_numpy(np.nan_to_num(np.asarray(shifts_mm, float))).float().to(device)[None]
        degraded = problem.sa_loss.degrade(torch.log(p.clamp_min(1e-6)), d)[0].argmax(0).cpu().numpy()
    inside = problem.sa_loss.inside.cpu().numpy()
    return dice(degraded, problem.sa_loss.target.cpu().numpy(), mask=inside)


def finish_result(
    problem: Problem,
    opt: OptimisationResult,
    options: OptimiseOptions,
    meta: dict[str, Any],
    seconds: float,
    la: list[LabelVolume],
) -> Result:
    frame, sa = problem.frame, problem.sa
    labels = clean_topology(opt.probs.argmax(0).astype(np.uint8))
    canonical = LabelVolume(labels, frame.affine.copy(), sa.convention, (0, 1, 2), sa.path, sa.header)
    if opt.output_labels is None:
        sr = from_canonical(opt.probs, frame, sa)
    else:  # fused on the output grid itself (cardiosr.fidelity.fused_labels)
        sr = sa.with_array(opt.output_labels, hr_grid(sa)[1])
    sr = sr.with_array(clean_topology(sr.array), sr.affine)
    uncertainty = None
    if opt.uncertainty is not None:
        u = np.stack([1.0 - opt.uncertainty, opt.uncertainty]).astype(np.float32)
        # resample_probabilities treats channel 0 as background (1 outside): channel 1 is the map itself.
        uncertainty = resample_probabilities(u, frame.affine, sr.shape, sr.affine)[1]
    heart = problem.sa_loss.heart_slices.cpu().numpy()
    shifts = np.where(heart[:, None], opt.shifts_mm, np.nan)
    axes = unit_columns(sa.affine)[:, 1:]
    consistency = consistency_dice(problem, opt.probs, shifts)
    with torch.no_grad():
        probs = torch.from_numpy(opt.probs).to(problem.sa_loss.target.device)[None]
        sections = [term.slicer(probs)[0].argmax(0).cpu().numpy() for term in problem.la_losses]
    present = {name for value, name in STRUCTURES if (problem.sa_loss.target.cpu().numpy() == value).any()}
    reasons = []
    if opt.final["sa"] > QC_MAX_LOSS:
        reasons.append(f"final short-axis loss {opt.final['sa']:.3f} > {QC_MAX_LOSS}")
    for name in sorted(present):
        if consistency[name] < QC_MIN_CONSISTENCY_DICE:
            reasons.append(f"{name} consistency Dice {consistency[name]:.2f} < {QC_MIN_CONSISTENCY_DICE}")
    return Result(
        sa=sa,
        la=la,
        frame=frame,
        sr=sr,
        sr_canonical=canonical,
        shifts_mm=shifts,
        shifts_world_mm=shifts @ axes.T,
        gauge=opt.gauge,
        optimisation=opt,
        consistency_dice=consistency,
        qc={"flag": bool(reasons), "reasons": reasons},
        seconds=seconds,
        options=options,
        prior_description=describe_prior(meta),
        uncertainty=uncertainty,
        la_sections=sections,
    )


def add_input_qc(
    result: Result, found: dict[str, Any], notes: list[str], views: list[LabelVolume], extra: list[LabelVolume]
) -> None:
    """Add the input checks, the physiology check and the long-axis evaluation to a finished ``result``."""
    result.input_checks = found
    implausible = physiology_checks(clinical_volumes(result.sr.array, result.sr.spacing), result.sa)
    if implausible:
        result.qc["reasons"] += implausible
        result.qc["flag"] = True
    for reason in implausible:
        warnings.warn(f"{result.sa.path or 'result'}: implausible result: {reason}", InputWarning, stacklevel=4)
    for row in found["view_agreement"]:
        score = row["dice"]
        if score is not None and score["mean"] < QC_MIN_VIEW_AGREEMENT:
            result.qc["reasons"].append(
                f"long-axis view {row['path']} disagrees with the stack (Dice {score['mean']:.2f})"
            )
            result.qc["flag"] = True
    result.warnings = notes + [f"implausible result: {r}" for r in implausible]
    result.la_evaluation = [
        {"path": v.path, "used_in_optimisation": used, "dice": long_axis_dice(result.sr, v)}
        for v, used in [(v, True) for v in views] + [(v, False) for v in extra]
    ]
