"""The data-consistency stage (beyond the paper): a smooth residual on ``G(z*)`` fitted to the acquired slices."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cardiosr.optimise.init import apply_gauge, keep_measured
from cardiosr.optimise.losses import motion_prior_term
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import PartialLogits, Problem, multi_view_loss
from cardiosr.optimise.stopping import StoppingRule


def refine_consistency(
    logits: torch.Tensor,
    d: torch.Tensor,
    problem: Problem,
    options: OptimiseOptions,
    fix_shifts: bool = False,
    gauge: bool = True,
    free: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Data-consistency stage (beyond the paper): a smooth residual on ``G(z)`` so that it agrees with the slices.

    A low-dimensional prior cannot represent every heart exactly, so ``G(z*)`` can disagree with the
    acquired slices even with no motion. This stage adds to the logits of ``G(z*)`` a residual ``r``
    defined on a coarse control grid (``options.refine_grid``, default 16×32×32, i.e. 8×5×5 mm on the
    canonical grid) and interpolated trilinearly, so it is smooth between the slices, and minimises
    ``L(G(z*) + r, d) + λ·mean(r²)`` over ``r`` and ``d`` (``d`` stays fixed with ``fix_shifts``: the
    motion test found no motion) with Adam (λ = ``options.refine_weight``; plus the motion prior), under
    the same :class:`StoppingRule`. The decoder is not run, so an iteration costs less than one of
    the latent search (on the published pair it adds 1.3 s to 1.9 s of latent search).

    ``gauge=False`` (only with ``fix_shifts``) uses ``d`` exactly as given: the shifts a cine shares over its
    frames, already in their gauge. ``free`` ``(D, 2, 2)`` (:func:`~cardiosr.optimise.init.views_unmeasured`):
    the moving shifts keep the components the long-axis views measured (:func:`~cardiosr.optimise.init.keep_measured`).

    Returns
    -------
    (logits, d, history rows)
    """
    base = logits.detach()
    r = torch.zeros(1, base.shape[1], *options.refine_grid, device=base.device, requires_grad=True)
    dd = d.detach().clone()[None].requires_grad_(not fix_shifts)
    start = d.detach().clone()
    groups = [{"params": [r], "lr": options.refine_lr}]
    if not fix_shifts:
        groups.append({"params": [dd], "lr": options.lr_d})
    optimiser = torch.optim.Adam(groups)
    rule = StoppingRule(options.window, options.tolerance)
    rows: list[dict] = []
    heart, zero_mean = problem.sa_loss.heart_slices, problem.zero_mean_gauge
    if not gauge:
        if not fix_shifts:
            raise ValueError("gauge=False needs fix_shifts=True")
        heart, zero_mean = torch.ones_like(heart), False  # apply_gauge is then the identity
    sa = problem.sa_loss
    resample = sa.resample
    # Only the canonical slices around the stack's slices (and the voxels the long-axis views interpolate)
    # enter the loss: evaluate the residual there alone (the same values as the full trilinear up-sampling,
    # a fraction of the work).
    selected_only = problem.reads_parts
    if selected_only:
        # slices first, (1, 2D, C, H, W): the memory order forward_selected reads without a copy
        base_selected = resample.select(base).transpose(1, 2).contiguous()
        position = resample.slice_index.to(base.dtype) * (r.shape[2] - 1) / (base.shape[2] - 1)
        k0 = position.floor().long().clamp(max=r.shape[2] - 2)
        weight = (position - k0).view(1, 1, -1, 1, 1)
        base_voxels = problem.select(base).voxels
        if base_voxels is not None:
            # the voxels' places for grid_sample (align_corners, (x, y, z) = (W, H, D)): trilinear up-sampling
            # with aligned corners puts voxel i of n at the control grid's i (m - 1) / (n - 1)
            voxels = problem.view_voxels().to(base.dtype)
            places = 2.0 * voxels / (torch.tensor(base.shape[2:], dtype=base.dtype, device=base.device) - 1.0) - 1.0
            places = places.flip(-1).view(1, 1, 1, -1, 3)

    def evaluate() -> tuple[torch.Tensor, dict]:
        if selected_only:
            # trilinear is separable: blend the control slices around each canonical slice, then bilinear in-plane
            along = r.index_select(2, k0) * (1.0 - weight) + r.index_select(2, k0 + 1) * weight
            planes = along.transpose(1, 2).flatten(1, 2)  # (1, 2D·C, h, w), slices first
            flat = F.interpolate(planes, size=base.shape[3:], mode="bilinear", align_corners=True)
            residual = flat.view(1, len(k0), r.shape[1], *base.shape[3:])
            slices = (base_selected + residual).transpose(1, 2)
            at_voxels = None
            if base_voxels is not None:
                at_voxels = base_voxels + F.grid_sample(r, places, mode="bilinear", align_corners=True)[:, :, 0, 0]
            total, parts = multi_view_loss(
                PartialLogits(slices, at_voxels), apply_gauge(dd, heart, zero_mean), problem, selected=True
            )
        else:
            residual = F.interpolate(r, size=base.shape[2:], mode="trilinear", align_corners=True)
            total, parts = multi_view_loss(base + residual, apply_gauge(dd, heart, zero_mean), problem)
        penalty = options.refine_weight * r.pow(2).mean()
        if options.motion_prior and not fix_shifts:
            penalty = penalty + options.motion_prior * motion_prior_term(apply_gauge(dd, heart, zero_mean), heart)[0]
        row = {"total": total[0].item(), **{k: v[0].item() for k, v in parts.items()}, "penalty": penalty.item()}
        return total[0] + penalty, row

    for iteration in range(options.refine_iterations + 1):
        optimiser.zero_grad(set_to_none=True)
        objective, row = evaluate()
        rows.append({"stage": "refine", "iteration": iteration, **row})
        if iteration == options.refine_iterations or rule.converged([h["total"] + h["penalty"] for h in rows]):
            break
        objective.backward()
        optimiser.step()
        if free is not None and not fix_shifts:
            keep_measured(dd[0], start, free)
    with torch.no_grad():
        residual = F.interpolate(r, size=base.shape[2:], mode="trilinear", align_corners=True)
        d_out = apply_gauge(dd, heart, zero_mean)[0]
    return base + residual, d_out, rows
