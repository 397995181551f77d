"""The paper's baselines (§2.1) through the same result: nearest neighbour, shape-based interpolation, EDSR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardiosr.errors import InputError
from cardiosr.labels import STRUCTURES, one_hot
from cardiosr.optimise.init import GAUGE_NOT_ESTIMATED
from cardiosr.optimise.problem import Problem, multi_view_loss
from cardiosr.optimise.result import OptimisationResult
from cardiosr.pipeline.settings import METHODS
from cardiosr.volume import LabelVolume

#: The EDSR used by ``method='edsr'`` when none is given: trained on normal motion (as the paper's Table 3).
DEFAULT_EDSR = Path(__file__).parents[1] / "models" / "edsr_normal.safetensors"


def baseline_probabilities(
    method: str, sa: LabelVolume, shape: tuple[int, int, int], affine: np.ndarray, edsr: Any = None
) -> np.ndarray:
    """Class probabilities ``(4, *shape)`` of a baseline up-sampling of ``sa`` on a target grid.

    ``method`` is ``'nn'`` (:func:`~cardiosr.interpolation.nearest_upsample`), ``'sbi'``
    (:func:`~cardiosr.interpolation.shape_based_interpolation`) or ``'edsr'``
    (:func:`~cardiosr.edsr.edsr_upsample` with the loaded model ``edsr``). None corrects motion.
    """
    if method in ("nn", "sbi"):
        from cardiosr.interpolation import nearest_upsample, shape_based_interpolation

        fn = nearest_upsample if method == "nn" else shape_based_interpolation
        labels = fn(sa, shape, affine)
        return one_hot(labels, len(STRUCTURES) + 1)
    if method == "edsr":
        from cardiosr.edsr import edsr_upsample

        return edsr_upsample(edsr, sa, shape, affine).astype(np.float32)
    raise InputError(f"unknown method {method!r} (choose one of: {', '.join(METHODS)})")


def baseline_result(problem: Problem, probs: np.ndarray, seconds: float) -> OptimisationResult:
    """An :class:`OptimisationResult` for a baseline: no search, no shifts; its losses of Eq. 3–5 at d = 0."""
    device = problem.sa_loss.target.device
    with torch.no_grad():
        logits = torch.log(torch.from_numpy(probs).to(device)[None].clamp_min(1e-6))
        zero = torch.zeros(1, problem.sa_loss.n_slices, 2, device=device)
        total, parts = multi_view_loss(logits, zero, problem)  # the same Eq. 5 as latent optimisation
    final = {k: float(v[0]) for k, v in parts.items()}
    final["total"] = float(total[0])
    return OptimisationResult(
        probs=probs,
        z=np.zeros(0, np.float32),
        shifts_mm=np.zeros((problem.sa_loss.n_slices, 2)),
        history=[],
        iterations={"latent": 0, "refine": 0},
        converged=True,
        final=final,
        restart_losses=[],
        seconds=seconds,
        gauge=GAUGE_NOT_ESTIMATED,
    )
