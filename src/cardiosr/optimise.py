"""Latent optimisation: joint motion correction and super-resolution (paper §2.2, Eq. 3–5, Algorithm 1).

Given a low-resolution short-axis label map ``S_LR`` (and optionally long-axis maps ``S_LA``), find the
latent code ``z`` of a prior ``G`` and the in-plane shift ``d`` (mm) of every short-axis slice that minimise

* Eq. 3, :class:`ShortAxisLoss`: ``L_SA(z, d) = CE(M_d(↓s G(z)), S_LR)``,
* Eq. 4, :class:`LongAxisLoss`: ``L_LA(z) = CE(R(G(z)), S_LA)``,
* Eq. 5, :func:`multi_view_loss`: ``L(z, d) = L_SA + γ · Σ_views L_LA`` (γ = 1 with a long-axis view, else 0),

with Adam on ``z`` and ``d`` (:func:`latent_optimisation`, Algorithm 1) until :class:`StoppingRule` (the
paper's "mean relative change of the loss below 5 %") or an iteration cap. Beyond the paper, each behind an
option of :class:`OptimiseOptions`: an encoder warm start, restarts with a per-voxel uncertainty map, many
subjects in one batch, and a data-consistency stage (:func:`refine_consistency`). The published
procedure's schedule is re-implemented as ``schedule='reference'`` to benchmark against.

Gauge
-----
Shifting every slice by the same vector and moving the heart the other way gives the same loss, so
``d`` is fixed up to that common translation by the **zero-mean gauge**: the shifts of the slices that
hold heart labels sum to zero (slices with no heart labels carry no information and keep ``d = 0``).
With a long-axis view the long-axis plane fixes the world position and the mean shift is estimated too
(gauge ``'long-axis'``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cardiosr.degradation import SliceShift
from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, LongAxisSlicer, canonical_frame, to_canonical, voxel_coordinates
from cardiosr.labels import N_CLASSES
from cardiosr.prior.networks import VAE3D, GenerativePrior
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.volume import LabelVolume

#: Description of the zero-mean gauge, written into ``shifts.json``.
GAUGE_ZERO_MEAN = (
    "zero-mean: the shifts of the short-axis slices that hold heart labels sum to zero; a common in-plane "
    "translation of all slices is not identifiable from the short-axis stack alone"
)
#: Description of the gauge when a long-axis view fixes the world position.
GAUGE_LONG_AXIS = "long-axis: the long-axis view(s) fix the world position; the mean shift is estimated"
#: The baselines (``enhance(method='nn'|'sbi'|'edsr')``) estimate no shifts.
GAUGE_NOT_ESTIMATED = "not estimated: this method corrects no motion (shifts are reported as 0)"
_EPS = 1e-6
#: The paper's motion model (§3.2, fitted on UK Biobank): in-plane displacement of every slice with an
#: amplitude ~ N(2.3 mm, 0.87 mm) in a uniformly random direction.
MOTION_AMPLITUDE_MM: tuple[float, float] = (2.3, 0.87)
#: Per-axis variance (mm²) of the isotropic Gaussian with the same second moment, E|d|² = μ² + σ², used as
#: p(d) in the MAP term: the model's own density, N(|d|; μ, σ)/(2π|d|), is infinite at d = 0 and not smooth
#: there, so it cannot be a MAP prior on its own.
MOTION_VARIANCE_MM2 = (MOTION_AMPLITUDE_MM[0] ** 2 + MOTION_AMPLITUDE_MM[1] ** 2) / 2.0


def motion_prior_term(d: torch.Tensor, heart_slices: torch.Tensor) -> torch.Tensor:
    """``−log p(d)`` per subject, up to a constant, averaged over the slices with heart labels: ``(B,)``.

    ``p`` is the paper's motion model moment-matched to an isotropic Gaussian (:data:`MOTION_VARIANCE_MM2`),
    so the term is ``mean_k |d_k|² / (2 s²)``, about 1 for typical breathing motion.

    Examples
    --------
    >>> d = torch.tensor([[[1.7416, 0.0], [0.0, -1.7416], [9.0, 9.0]]])
    >>> round(float(motion_prior_term(d, torch.tensor([True, True, False]))[0]), 3)  # 1.7416² / (2 · 3.0235)
    0.502
    """
    m = heart_slices.to(d.dtype)[None, :, None]
    per_slice = (d * m).pow(2).sum(-1) / (2.0 * MOTION_VARIANCE_MM2)
    return per_slice.sum(1) / m.sum().clamp_min(1.0)


def cross_entropy(probs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The CE of Eq. 3–4: mean of ``-log p(target)`` over the voxels where ``mask`` is True.

    Parameters
    ----------
    probs:
        ``(B, C, ...)`` class probabilities (the degraded or sliced prior output).
    target:
        ``(...)`` integer labels, broadcast over the batch.
    mask:
        ``(...)`` bool: voxels that count (inside the prior's field of view).

    Returns
    -------
    torch.Tensor
        ``(B,)`` one loss per batch item.

    Examples
    --------
    >>> p = torch.tensor([[[0.5, 1.0], [0.5, 0.0]]])        # (B=1, C=2, N=2)
    >>> float(cross_entropy(p, torch.tensor([0, 0]), torch.tensor([True, True])))  # (ln 2 + 0) / 2
    0.3465...
    """
    picked = probs.gather(1, target.expand(probs.shape[0], *target.shape).unsqueeze(1)).squeeze(1)
    m = mask.to(picked.dtype)
    return -(torch.log(picked.clamp_min(_EPS)) * m).flatten(1).sum(1) / m.sum().clamp_min(1.0)


class ShortAxisLoss(torch.nn.Module):
    """``L_SA(z, d) = CE(M_d(↓s G(z)), S_LR)``, Eq. 3, for one short-axis stack.

    ↓s samples the canonical-grid probabilities at the world positions of the stack's voxels and M_d
    shifts each slice by ``d`` mm (paper §2.3; :class:`~cardiosr.degradation.Downsample` and
    :class:`~cardiosr.degradation.SliceShift` are the same two layers used for simulation). Here both are
    applied as **one** resampling: pixel ``p`` of slice ``k`` samples ``G(z)`` at ``world(p) - d_k`` (the
    content moved by ``+d_k``), which is ``M_d(↓s G(z))`` with one interpolation instead of two. When every
    slice is parallel to the canonical grid's slices (always, unless the affine is sheared), this is done
    as a linear blend of the two nearest canonical slices followed by a 2D bilinear resampling, which
    touches only those slices instead of the whole volume (:meth:`degrade`).

    Only the stack's voxels inside the canonical field of view count; the stack is cropped in-plane to
    that field of view.

    Parameters
    ----------
    sa:
        The short-axis stack, internal labels and order.
    frame:
        Its canonical frame (:func:`cardiosr.geometry.canonical_frame`).
    planar:
        Use the fast path when possible (``None``, default) or never (``False``: always the 3D resampling).

    Attributes
    ----------
    heart_slices:
        ``(D,)`` bool: slices that hold heart labels (the others keep ``d = 0``).
    """

    target: torch.Tensor
    inside: torch.Tensor
    heart_slices: torch.Tensor
    base: torch.Tensor
    jacobian: torch.Tensor

    def __init__(self, sa: LabelVolume, frame: CanonicalFrame, planar: bool | None = None) -> None:
        super().__init__()
        coords = voxel_coordinates(frame.affine, sa.affine, sa.shape)  # canonical indices of SA voxels
        size = np.asarray(frame.shape, float) - 1.0
        inside = np.all((coords >= -0.5) & (coords <= size + 0.5), axis=-1)
        if not inside.any():
            raise InputError("the short-axis stack does not overlap its own canonical grid", sa.path)
        rows, cols = np.nonzero(inside.any(0))
        h0, h1, w0, w1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        coords, inside = coords[:, h0:h1, w0:w1], inside[:, h0:h1, w0:w1]
        crop = np.eye(4)
        crop[1, 3], crop[2, 3] = h0, w0
        #: Affine of the cropped stack the loss is computed on.
        self.crop_affine = sa.affine @ crop
        self.shape = tuple(int(n) for n in frame.shape)
        # unsegmented slices between labelled ones are missing data: they do not count in the loss
        inside[sa.missing_slices()] = False
        labels = sa.array[:, h0:h1, w0:w1].astype(np.int64)
        self.register_buffer("target", torch.from_numpy(labels))
        self.register_buffer("inside", torch.from_numpy(inside.copy()))
        self.register_buffer("heart_slices", torch.from_numpy((sa.array > 0).any((1, 2))))
        # A shift of (1 mm along the stack's rows, 1 mm along its columns) in canonical voxel units.
        axes = sa.affine[:3, 1:3] / np.linalg.norm(sa.affine[:3, 1:3], axis=0)
        jac = -np.linalg.inv(frame.affine[:3, :3]) @ axes  # (3, 2): sampling moves against the content
        self.register_buffer("jacobian", torch.from_numpy(jac).float())
        depth = coords[..., 0]
        can_be_planar = bool(np.all(np.abs(depth - depth.mean((1, 2), keepdims=True)) < 1e-3)) and bool(
            np.all(np.abs(jac[0]) < 1e-6)
        )
        self.planar = can_be_planar if planar is None else bool(planar) and can_be_planar
        if self.planar:
            k = np.clip(depth.mean((1, 2)), 0.0, size[0])
            i0 = np.minimum(np.floor(k), size[0] - 1).astype(np.int64)
            self.register_buffer("slice_index", torch.from_numpy(np.concatenate([i0, i0 + 1])))
            self.register_buffer("alpha", torch.from_numpy(k - i0).float().view(1, 1, -1, 1, 1))
            self.register_buffer("base", torch.from_numpy(coords[..., 1:].copy()).float())
        else:
            self.register_buffer("base", torch.from_numpy(coords.copy()).float())

    @property
    def n_slices(self) -> int:
        """Number of short-axis slices (length of ``d``)."""
        return int(self.target.shape[0])

    def select(self, logits: torch.Tensor) -> torch.Tensor:
        """The canonical slices the planar path reads: ``(B, C, 2D, H, W)`` (the two around each stack slice)."""
        return logits.index_select(2, self.slice_index)

    def degrade_selected(self, selected: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """:meth:`degrade` from the output of :meth:`select` (planar path only)."""
        b, c = selected.shape[:2]
        n, h, w = self.target.shape
        size = torch.tensor(self.shape, dtype=selected.dtype, device=selected.device) - 1.0
        # softmax commutes with picking slices: only the 2 canonical slices around each SA slice are needed
        probs = torch.softmax(selected, 1)
        slab = probs[:, :, :n] * (1.0 - self.alpha) + probs[:, :, n:] * self.alpha
        offset = d.to(selected.dtype) @ self.jacobian[1:].T.to(selected.dtype)  # (B, D, 2) canonical (h, w)
        coords = self.base[None] + offset[:, :, None, None, :]  # (B, D, H, W, 2)
        grid = (2.0 * coords / size[1:] - 1.0).flip(-1).reshape(b * n, h, w, 2)
        slices = slab.permute(0, 2, 1, 3, 4).reshape(b * n, c, *self.shape[1:])
        out = F.grid_sample(slices, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(b, n, c, h, w).permute(0, 2, 1, 3, 4)

    def degrade(self, logits: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``M_d(↓s G(z))``: ``(B, C, 64, 128, 128)`` logits and ``(B, D, 2)`` mm → ``(B, C, D, H, W)`` probabilities.

        The prior's logits are turned into probabilities (softmax over classes) before any interpolation.
        """
        if self.planar:
            return self.degrade_selected(self.select(logits), d)
        size = torch.tensor(self.shape, dtype=logits.dtype, device=logits.device) - 1.0
        offset = d.to(logits.dtype) @ self.jacobian.T.to(logits.dtype)  # (B, D, 3)
        coords = self.base[None] + offset[:, :, None, None, :]
        grid = (2.0 * coords / size - 1.0).flip(-1)
        probs = torch.softmax(logits, 1)
        return F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=True)

    def forward(self, logits: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for a batch of canonical logit volumes ``G(z)`` and shifts ``(B, D, 2)`` mm: ``(B,)``."""
        return cross_entropy(self.degrade(logits, d), self.target, self.inside)


class LongAxisLoss(torch.nn.Module):
    """``L_LA(z) = CE(R(G(z)), S_LA)``, Eq. 4, for one long-axis view.

    R samples the canonical probabilities on the view's pixel grid through world coordinates
    (:class:`~cardiosr.geometry.LongAxisSlicer`); only pixels inside the canonical field of view count.

    Raises
    ------
    InputError
        If the view is not a single slice, misses the canonical field of view around the short-axis heart,
        or shows no heart labels inside it.
    """

    target: torch.Tensor

    def __init__(self, la: LabelVolume, frame: CanonicalFrame) -> None:
        super().__init__()
        if la.shape[0] != 1:
            raise InputError(f"a long-axis view must be a single slice, this one has {la.shape[0]}", la.path)
        self.slicer = LongAxisSlicer(frame.affine, frame.shape, la.affine, la.shape[1:])
        labels = la.array[0].astype(np.int64)
        inside = self.slicer.inside.numpy()
        if not inside.any():
            raise InputError(
                "the long-axis plane does not intersect the short-axis stack's heart (no pixel inside the "
                "160x160x128 mm region around it); are both files from the same scan and world space?",
                la.path,
            )
        if not (labels[inside] > 0).any():
            raise InputError(
                "the long-axis view shows no heart labels where it crosses the short-axis stack's heart; "
                "are both files from the same scan and world space?",
                la.path,
            )
        self.register_buffer("target", torch.from_numpy(labels))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Eq. 4 for a batch of canonical logit volumes ``G(z)``: ``(B,)`` (softmax, then R)."""
        return cross_entropy(self.slicer(torch.softmax(logits, 1)), self.target, self.slicer.inside)


@dataclass
class Problem:
    """One subject: its short-axis term, long-axis terms, γ and the canonical frame.

    Build it with :func:`make_problem`.
    """

    sa: LabelVolume
    frame: CanonicalFrame
    sa_loss: ShortAxisLoss
    la_losses: list[LongAxisLoss]
    gamma: float
    _canonical_lr: LabelVolume | None = None

    @property
    def canonical_lr(self) -> LabelVolume:
        """The short-axis stack on the canonical grid (interpolated between slices; made on first use)."""
        if self._canonical_lr is None:
            self._canonical_lr = to_canonical(self.sa, frame=self.frame)[0]
        return self._canonical_lr

    @property
    def zero_mean_gauge(self) -> bool:
        """True without long-axis views (see the module's *Gauge*)."""
        return not self.la_losses or self.gamma == 0.0


def make_problem(
    sa: LabelVolume,
    la: Sequence[LabelVolume] = (),
    centre_voxel: Sequence[float] | None = None,
    centring: str = "mass",
    gamma: float | None = None,
) -> Problem:
    """Set up Eq. 3–5 for one subject on its canonical grid.

    Parameters
    ----------
    sa:
        Short-axis stack (internal labels and order, with its affine).
    la:
        Long-axis views in the same world space (each a single slice).
    centre_voxel, centring:
        The prior's grid centring (:func:`cardiosr.prior.canonical_options`).
    gamma:
        γ of Eq. 5; by default 1 with long-axis views and 0 without (paper §2.3).
    """
    frame = canonical_frame(sa, centre_voxel=centre_voxel, centring=centring)
    if gamma is None:
        gamma = 1.0 if la else 0.0
    if gamma < 0 or not math.isfinite(gamma):
        raise InputError(f"gamma must be a non-negative number, got {gamma}")
    return Problem(
        sa=sa,
        frame=frame,
        sa_loss=ShortAxisLoss(sa, frame),
        la_losses=[LongAxisLoss(v, frame) for v in la],
        gamma=float(gamma),
    )


def multi_view_loss(
    logits: torch.Tensor, d: torch.Tensor, problem: Problem
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``L(z, d) = L_SA(z, d) + γ · Σ_views L_LA(z)``, Eq. 5 (line 3 of Algorithm 1).

    ``logits`` is ``G(z)``, ``(B, 4, 64, 128, 128)``; ``d`` the gauge-fixed shifts ``(B, D, 2)`` mm.
    Returns the total ``(B,)`` and its parts (``'sa'``, ``'la0'``, ``'la1'``, ...).
    """
    parts = {"sa": problem.sa_loss(logits, d)}
    total = parts["sa"]
    for i, term in enumerate(problem.la_losses):
        parts[f"la{i}"] = term(logits)
        total = total + problem.gamma * parts[f"la{i}"]
    return total, parts


def apply_gauge(d: torch.Tensor, heart_slices: torch.Tensor, zero_mean: bool) -> torch.Tensor:
    """Shifts in the gauge of the module docstring: ``d`` ``(B, D, 2)`` mm → gauge-fixed shifts.

    Slices without heart labels get 0; with ``zero_mean`` the heart slices' shifts are centred.

    Examples
    --------
    >>> d = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]]])
    >>> apply_gauge(d, torch.tensor([True, True, False]), zero_mean=True).tolist()
    [[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]]
    """
    m = heart_slices.to(d.dtype)[None, :, None]
    d = d * m
    if zero_mean:
        d = d - d.sum(1, keepdim=True) / m.sum().clamp_min(1.0) * m
    return d


def centroid_shifts(sa: LabelVolume) -> np.ndarray:
    """A quick first guess of the slice shifts (mm) from the left ventricle's centroids (beyond the paper).

    The LV (blood pool and myocardium) centroid of each slice is compared with a straight line fitted
    through all of them (least squares, weighted by the LV area), and the deviation is taken as the
    slice's shift: a heart's LV axis is close to straight, so breathing shows up as the jitter around
    that line. Slices without LV labels use the whole heart; slices without heart labels get 0. The
    result is in the zero-mean gauge and is the starting point of ``d`` with ``init_shifts='centroid'``.

    Returns
    -------
    numpy.ndarray
        ``(D, 2)`` shifts along the stack's rows and columns, mm (content moved by ``+d``).

    Examples
    --------
    >>> lab = np.zeros((6, 32, 32), np.uint8)
    >>> for k, dx in enumerate([0, 2, -2, -2, 2, 0]):   # pixels of 1.5 mm
    ...     lab[k, 10:20, 10 + dx : 20 + dx] = 1
    >>> (centroid_shifts(LabelVolume(lab, np.diag([10.0, 1.5, 1.5, 1.0])))[:, 1].round(2) + 0.0).tolist()
    [0.0, 3.0, -3.0, -3.0, 3.0, 0.0]
    """
    labels = sa.array
    spacing = sa.spacing[1:]
    rows, centres, weights = [], [], []
    for k in range(labels.shape[0]):
        lv = np.isin(labels[k], (1, 2))
        mask = lv if lv.sum() >= 4 else labels[k] > 0
        if mask.sum() == 0:
            continue
        idx = np.argwhere(mask)
        rows.append(k)
        centres.append(idx.mean(0) * spacing)
        weights.append(float(mask.sum()))
    d = np.zeros((labels.shape[0], 2))
    if len(rows) < 3:
        return d
    k = np.asarray(rows, float)
    c = np.asarray(centres)
    w = np.sqrt(np.asarray(weights))
    design = np.stack([np.ones_like(k), k], 1)
    coef, *_ = np.linalg.lstsq(design * w[:, None], c * w[:, None], rcond=None)
    d[rows] = c - design @ coef
    heart = (labels > 0).any((1, 2))
    d[heart] -= d[heart].mean(0)
    return d


def _zero_shifts(sa: LabelVolume) -> np.ndarray:
    return np.zeros((sa.shape[0], 2))


#: The starts of ``d`` (:attr:`OptimiseOptions.init_shifts`), each a function ``stack → (D, 2)`` shifts in mm.
INITIAL_SHIFTS: dict[str, Callable[[LabelVolume], np.ndarray]] = {
    "align": alignment_shifts,
    "centroid": centroid_shifts,
    "zero": _zero_shifts,
}


def shift_slices(sa: LabelVolume, d: np.ndarray) -> LabelVolume:
    """Move every slice's content by ``d`` mm (``(D, 2)``, rows/columns) with :class:`~cardiosr.degradation.SliceShift`.

    ``shift_slices(sa, -d)`` undoes estimated motion (per-class bilinear interpolation, then argmax).
    """
    one_hot = torch.from_numpy(sa.one_hot())[None]
    with torch.no_grad():
        moved = SliceShift(tuple(sa.spacing[1:]))(one_hot, torch.as_tensor(np.asarray(d), dtype=torch.float32))
    return sa.with_array(moved[0].argmax(0).numpy().astype(np.uint8))


class StoppingRule:
    """The paper's stopping rule: stop when the mean relative change of the loss falls below ``tolerance``.

    The relative change is measured between two consecutive windows of ``window`` iterations:
    ``(mean(L over the previous window) - mean(L over the last window)) / mean(L over the previous window)``,
    so noise of single Adam steps does not stop (or prolong) the search. With the defaults (window 10,
    5 %) the search stops once ten more iterations improved the loss by less than 5 %. It is checked only
    after ``2 * window`` iterations.

    Examples
    --------
    >>> rule = StoppingRule(window=2, tolerance=0.05)
    >>> [rule.converged(h) for h in ([4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 0.99, 0.98])]
    [False, True]
    """

    def __init__(self, window: int = 10, tolerance: float = 0.05) -> None:
        if window < 1 or not tolerance > 0:
            raise InputError(f"the stopping window must be ≥ 1 and the tolerance > 0 (got {window}, {tolerance})")
        self.window = int(window)
        self.tolerance = float(tolerance)

    def relative_change(self, history: Sequence[float]) -> float:
        """The relative change between the last two windows of ``history`` (``inf`` if too short)."""
        w = self.window
        if len(history) < 2 * w:
            return math.inf
        previous = float(np.mean(history[-2 * w : -w]))
        last = float(np.mean(history[-w:]))
        return (previous - last) / max(abs(previous), 1e-12)

    def converged(self, history: Sequence[float]) -> bool:
        """True once the relative change is below the tolerance."""
        return self.relative_change(history) < self.tolerance


@dataclass
class OptimiseOptions:
    """Settings of :func:`latent_optimisation` (every beyond-the-paper step is an option).

    Attributes
    ----------
    lr_z, lr_d:
        Adam learning rates of the latent code and of the shifts (mm per step).
    max_iterations:
        Iteration cap of the latent search.
    window, tolerance:
        :class:`StoppingRule` (paper: 5 %).
    warm_start:
        Start ``z`` from the VAE encoder applied to the stack brought to the canonical grid, its slices
        moved back by the initial shifts (paper: ``z = 0``).
    init_shifts:
        ``'align'``: start ``d`` from :func:`cardiosr.slice_alignment.alignment_shifts` (the stack made as
        smooth as possible along the slice axis); ``'centroid'``: from :func:`centroid_shifts` (the LV
        centroids' deviation from a straight line, the default before; 7.7 against 4.6 mm RMS error on real
        hearts under severe motion, ``benchmarks/shift_estimates.py``); ``'zero'``: ``d = 0`` (paper).
    restarts:
        Number of starts per subject; the lowest final loss is kept, and with 2 or more the spread of the
        results gives a per-voxel uncertainty map.
    restart_spread:
        Standard deviation of the random perturbation of ``z`` of restarts 2, 3, ... (latent units).
    refine:
        Run the data-consistency stage (:func:`refine_consistency`) after the latent search.
    refine_iterations, refine_lr, refine_weight, refine_grid:
        Its iteration cap, Adam learning rate, weight of the penalty that keeps the result near ``G(z)``,
        and the control-point grid ``(D, H, W)`` of its smooth residual.
    schedule:
        ``'joint'`` (Adam on ``z`` and ``d`` together, the default) or ``'reference'`` (the published
        procedure: ``reference_rounds`` = 500 rounds alternating a ``z`` step and a ``d`` step, lr 0.2 and
        0.1 voxel halved every 100 rounds, ``z = 0`` start, no stopping rule), kept as the benchmark baseline.
    seed:
        Seed of the restarts.
    shift_search:
        Optimise ``d`` with ``z`` (the paper's Algorithm 1). Off by default: ``d`` stays at its start
        (:func:`cardiosr.slice_alignment.alignment_shifts` with ``init_shifts='align'``), because with the
        shipped prior the joint search explains real anatomy that the prior cannot represent by invented
        shifts (measured in ``docs/benchmarks.md``, section *motion-fidelity*).
    motion_prior:
        λ of the MAP term ``λ·(−log p(d))`` (:func:`motion_prior_term`) added to Eq. 5 wherever ``d`` is
        searched (``shift_search``, and the searched hypothesis of the motion test); 0 is the paper.
    motion_test:
        Also fit the stack with ``d = 0`` (one more run in the batch, two with ``search_threshold``) and keep
        shifts only when they lower the loss enough (relative) over that fit: the data must support motion
        (beyond the paper). The searched hypothesis' loss includes its motion-prior term.
    motion_threshold:
        Smallest relative gain ``(L(d=0) − L(d*)) / L(d=0)`` of the fixed estimate that counts as motion.
    second_estimate:
        With the motion test and without ``shift_search``: also fit, in the same batch, the shifts of this
        start (one of ``INITIAL_SHIFTS``) kept fixed; the motion test's estimate is whichever of the two fixed
        fits reaches the lower loss (the slice alignment is the better start on real hearts under severe
        motion, the LV-centroid line on hearts with a straight LV axis; the loss tells them apart, measured
        in ``docs/benchmarks.md``, section *second-estimate*). ``None`` (or equal to ``init_shifts``): one
        estimate.
    search_threshold:
        With the motion test and without ``shift_search``: also fit a third hypothesis in the batch, the
        estimated shifts refined by the joint search of ``z`` and ``d`` with the motion prior, and keep it
        when the fixed estimate's gain is at most ``motion_threshold`` but the searched one's exceeds this
        (the joint search recovers normal breathing motion that the stack alone cannot, and drifts under
        severe motion, where the fixed estimate wins). ``None``: two hypotheses only.
    fidelity:
        Weight of the prior between the slices in the final fusion with the motion-corrected stack
        (:func:`cardiosr.fidelity.fuse_with_stack`): 0 gives shape-based interpolation of the corrected
        stack inside its slab, 1 the prior midway; the acquired slices are always kept. ``None``: no fusion.
        The default 0.5 and ``motion_threshold`` 0.25 were chosen on real anatomy
        (``benchmarks/motion_fidelity.py``).
    """

    lr_z: float = 0.1
    lr_d: float = 0.5
    max_iterations: int = 60
    window: int = 10
    tolerance: float = 0.05
    warm_start: bool = True
    init_shifts: str = "align"
    restarts: int = 1
    restart_spread: float = 1.0
    refine: bool = True
    refine_iterations: int = 40
    refine_lr: float = 0.5
    refine_weight: float = 0.01
    refine_grid: tuple[int, int, int] = (16, 32, 32)
    schedule: str = "joint"
    reference_rounds: int = 500
    seed: int = 0
    shift_search: bool = False
    motion_prior: float = 0.003
    motion_test: bool = True
    motion_threshold: float = 0.25
    second_estimate: str | None = "centroid"
    search_threshold: float | None = 0.05
    fidelity: float | None = 0.5

    def check(self) -> None:
        """Raise :class:`InputError` on values that cannot work."""
        for name in ("init_shifts", "second_estimate"):
            value = getattr(self, name)
            if value not in INITIAL_SHIFTS and not (name == "second_estimate" and value is None):
                raise InputError(f"{name} must be one of {', '.join(INITIAL_SHIFTS)}, got {value!r}")
        if self.schedule not in ("joint", "reference"):
            raise InputError(f"schedule must be 'joint' or 'reference', got {self.schedule!r}")
        if self.max_iterations < 1 or self.restarts < 1 or self.refine_iterations < 0:
            raise InputError("max_iterations and restarts must be ≥ 1 and refine_iterations ≥ 0")
        if not self.motion_prior >= 0:
            raise InputError(f"motion_prior must be non-negative, got {self.motion_prior}")
        if self.search_threshold is not None and not self.search_threshold >= 0:
            raise InputError(f"search_threshold must be non-negative, got {self.search_threshold}")
        if self.fidelity is not None and not 0.0 <= self.fidelity <= 1.0:
            raise InputError(f"fidelity must be in [0, 1], got {self.fidelity}")
        for name in ("lr_z", "lr_d", "refine_lr"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        StoppingRule(self.window, self.tolerance)


@dataclass
class OptimisationResult:
    """What the optimisation found for one subject (best restart, after the consistency stage if run).

    Attributes
    ----------
    probs:
        ``(4, 64, 128, 128)`` class probabilities on the canonical grid.
    z:
        The latent code ``(M,)``.
    shifts_mm:
        ``(D, 2)`` gauge-fixed shift of every short-axis slice along the stack's rows and columns (mm;
        slice content moved by ``+d``).
    history:
        One row per iteration: ``{'stage', 'iteration', 'total', 'sa', 'la0', ...}``.
    iterations:
        Iterations of the latent search (best restart) and of the consistency stage.
    converged:
        Whether the stopping rule ended the latent search (False: the iteration cap did).
    final:
        The final loss and its parts.
    restart_losses:
        Final latent-search loss of every restart.
    uncertainty:
        ``(64, 128, 128)`` share of restarts that disagree with the most common label (0 agree … 1), or
        ``None`` with a single start.
    seconds:
        Wall time of this subject's optimisation (a batch's time is shared equally).
    gauge:
        How the common translation of ``shifts_mm`` is fixed (:data:`GAUGE_ZERO_MEAN` or :data:`GAUGE_LONG_AXIS`).
    latent_probs:
        ``G(z)`` as probabilities before the data-consistency stage (``None`` if it did not run).
    motion:
        With ``motion_test``: the decision whether the data support motion and its evidence (losses with
        and without shifts, relative gain, threshold, λ).
    """

    probs: np.ndarray
    z: np.ndarray
    shifts_mm: np.ndarray
    history: list[dict[str, float | int | str]]
    iterations: dict[str, int]
    converged: bool
    final: dict[str, float]
    restart_losses: list[float]
    uncertainty: np.ndarray | None = None
    seconds: float = 0.0
    gauge: str = GAUGE_ZERO_MEAN
    latent_probs: np.ndarray | None = None
    motion: dict | None = None


@dataclass(eq=False)  # runs are compared by identity
class _Run:
    problem: int
    restart: int
    zero_motion: bool = False
    search: bool = False
    second: bool = False
    motion_prior: float = 0.0
    history: list[dict] = field(default_factory=list)
    done: bool = False
    converged: bool = False
    best: dict | None = None


def _warm_start(
    prior: GenerativePrior, problems: Sequence[Problem], shifts: Sequence[np.ndarray], device: torch.device
) -> torch.Tensor:
    """``z`` from the VAE encoder applied to each stack, its slices moved back by the initial shifts."""
    if not isinstance(prior, VAE3D):
        raise InputError("the encoder warm start needs a VAE prior (this one has no encoder); use no warm start")
    stacks = []
    for p, d in zip(problems, shifts, strict=True):
        if np.any(d != 0):
            canonical, _ = to_canonical(shift_slices(p.sa, -d), frame=p.frame)
        else:
            canonical = p.canonical_lr
        stacks.append(canonical.one_hot())
    x = torch.from_numpy(np.stack(stacks)).to(device)
    with torch.no_grad():
        mu, _ = prior.encode(x)
    return mu


def _initial_latents(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    runs: Sequence[_Run],
    options: OptimiseOptions,
    shifts: Sequence[np.ndarray],
    second: Sequence[np.ndarray],
) -> torch.Tensor:
    """The start of ``z`` of every run; a run of the second estimate is warm-started from its own shifts."""
    device = next(prior.parameters()).device
    base = second_base = torch.zeros(len(problems), prior.latent_dim, device=device)
    if options.warm_start and options.schedule == "joint":
        base = _warm_start(prior, problems, shifts, device)
        if any(run.second for run in runs):
            second_base = _warm_start(prior, problems, second, device)
    gen = torch.Generator().manual_seed(options.seed)
    z = []
    for run in runs:
        z0 = (second_base if run.second else base)[run.problem].clone()
        if run.restart > 0:
            z0 = z0 + options.restart_spread * torch.randn(prior.latent_dim, generator=gen).to(device)
        z.append(z0)
    return torch.stack(z)


def _losses(
    logits: torch.Tensor, d: torch.Tensor, problems: Sequence[Problem], runs: Sequence[_Run]
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    totals, rows = [], []
    for i, run in enumerate(runs):
        p = problems[run.problem]
        n = p.sa_loss.n_slices
        dd = apply_gauge(d[i : i + 1, :n], p.sa_loss.heart_slices, p.zero_mean_gauge)
        if run.zero_motion:
            dd = dd * 0.0
        total, parts = multi_view_loss(logits[i : i + 1], dd, p)
        if run.motion_prior:
            parts["motion"] = run.motion_prior * motion_prior_term(dd, p.sa_loss.heart_slices)
            total = total + parts["motion"]
        totals.append(total[0])
        rows.append({"total": total[0].item(), **{k: v[0].item() for k, v in parts.items()}})
    return torch.stack(totals), rows


def latent_optimisation(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    options: OptimiseOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[OptimisationResult]:
    """Algorithm 1 for one or more subjects at once: Adam on ``z`` and ``d`` to minimise Eq. 5.

    All restarts of all subjects are decoded as one batch per iteration (the prior is in ``eval`` mode, so
    batch items are independent and each gets exactly its own gradient). Each run stops on its own by
    :class:`StoppingRule`; its state at that iteration is kept.

    Parameters
    ----------
    prior:
        A generator ``G`` (:func:`cardiosr.prior.load_prior`).
    problems:
        Subjects from :func:`make_problem`.
    options:
        :class:`OptimiseOptions`.
    progress:
        Called as ``progress(iteration, max_iterations)`` after every iteration.

    Returns
    -------
    list of OptimisationResult
        One per subject, in order.
    """
    options = options or OptimiseOptions()
    options.check()
    if options.schedule == "reference":
        options = replace(options, warm_start=False, max_iterations=options.reference_rounds)
    start = time.perf_counter()
    prior.eval()
    device = next(prior.parameters()).device
    for p in problems:
        p.sa_loss.to(device)
        for term in p.la_losses:
            term.to(device)
    lam = options.motion_prior
    runs = [
        _Run(i, k, search=options.shift_search, motion_prior=lam if options.shift_search else 0.0)
        for i in range(len(problems))
        for k in range(options.restarts)
    ]
    if options.motion_test and options.schedule == "joint":  # the other hypotheses, in the same batch
        runs += [_Run(i, 0, zero_motion=True) for i in range(len(problems))]
        if options.search_threshold is not None and not options.shift_search:
            runs += [_Run(i, 0, search=True, motion_prior=lam) for i in range(len(problems))]
        if options.second_estimate not in (None, options.init_shifts) and not options.shift_search:
            runs += [_Run(i, 0, second=True) for i in range(len(problems))]
    n_slices = max(p.sa_loss.n_slices for p in problems)
    shifts = [np.zeros((p.sa_loss.n_slices, 2)) for p in problems]
    second = list(shifts)
    if options.schedule == "joint":
        shifts = [INITIAL_SHIFTS[options.init_shifts](p.sa) for p in problems]
        if any(run.second for run in runs):
            second = [INITIAL_SHIFTS[options.second_estimate](p.sa) for p in problems]  # type: ignore[index]
    z = _initial_latents(prior, problems, runs, options, shifts, second).requires_grad_(True)
    d0 = np.zeros((len(runs), n_slices, 2), np.float32)
    for i, run in enumerate(runs):
        if not run.zero_motion:
            start_d = second[run.problem] if run.second else shifts[run.problem]
            d0[i, : len(start_d)] = start_d
    d = torch.from_numpy(d0).to(device).requires_grad_(True)
    rule = StoppingRule(options.window, options.tolerance)
    decode = prior.frozen_decoder().to(device)
    if options.schedule == "reference":
        _reference_rounds(decode, problems, runs, z, d, progress, rounds=options.reference_rounds)
    else:
        _joint_search(decode, problems, runs, z, d, options, rule, progress)
    results = _collect(decode, problems, runs, options)
    elapsed = time.perf_counter() - start
    for r in results:
        r.seconds = elapsed / len(results)
    return results


def _snapshot(run: _Run, z: torch.Tensor, d: torch.Tensor, i: int, row: dict, iteration: int) -> None:
    run.best = {"z": z[i].detach().clone(), "d": d[i].detach().clone(), "iteration": iteration, **row}


def _joint_search(
    decode: torch.nn.Module,
    problems: Sequence[Problem],
    runs: list[_Run],
    z: torch.Tensor,
    d: torch.Tensor,
    options: OptimiseOptions,
    rule: StoppingRule,
    progress: Callable[[int, int], None] | None,
) -> None:
    groups = [{"params": [z], "lr": options.lr_z}]
    searched = torch.tensor([run.search for run in runs], device=d.device)[:, None, None]
    if searched.any():
        groups.append({"params": [d], "lr": options.lr_d})
    optimiser = torch.optim.Adam(groups)
    for iteration in range(1, options.max_iterations + 1):
        optimiser.zero_grad(set_to_none=True)
        # Only the runs still going are decoded: a stopped run's state is kept and costs nothing more.
        active = [i for i, run in enumerate(runs) if not run.done]
        totals, rows = _losses(decode(z[active]), d[active], problems, [runs[i] for i in active])
        for i, row in zip(active, rows, strict=True):
            run = runs[i]
            run.history.append({"stage": "latent", "iteration": iteration - 1, **row})
            _snapshot(run, z, d, i, row, iteration - 1)
            if rule.converged([h["total"] for h in run.history]):
                run.done = run.converged = True
        if progress is not None:
            progress(iteration, options.max_iterations)
        if all(run.done for run in runs):
            break
        totals.sum().backward()
        if d.grad is not None:
            d.grad.mul_(searched)  # the shifts of the other runs stay where they started (Adam: no step)
        optimiser.step()
    else:
        # The cap was reached: record the state after the last step.
        active = [i for i, run in enumerate(runs) if not run.done]
        with torch.no_grad():
            _, rows = _losses(decode(z[active]), d[active], problems, [runs[i] for i in active])
        for i, row in zip(active, rows, strict=True):
            runs[i].history.append({"stage": "latent", "iteration": options.max_iterations, **row})
            _snapshot(runs[i], z, d, i, row, options.max_iterations)
            runs[i].done = True


def _reference_rounds(
    decode: torch.nn.Module,
    problems: Sequence[Problem],
    runs: list[_Run],
    z: torch.Tensor,
    d: torch.Tensor,
    progress: Callable[[int, int], None] | None,
    rounds: int = 500,
) -> None:
    """The published procedure's schedule (``../shared/data/prior-format.md``), re-implemented from its description.

    Each round takes one Adam step on ``z`` (lr 0.2) with ``d`` fixed, then one on ``d`` (lr 0.1 voxel,
    i.e. 0.1 × the in-plane pixel size in mm) with ``z`` fixed: two decoder passes per round. Both learning
    rates are halved every 100 rounds; there is no stopping rule. Unlike the published shift layer
    (``nearest`` sampling, zero gradient) ours is bilinear, so the shifts do move.
    """
    pixel = float(np.mean([np.mean(p.sa.spacing[1:]) for p in problems]))
    opt_z = torch.optim.Adam([z], lr=0.2)
    opt_d = torch.optim.Adam([d], lr=0.1 * pixel)
    sched = [torch.optim.lr_scheduler.StepLR(o, step_size=100, gamma=0.5) for o in (opt_z, opt_d)]
    for r in range(rounds):
        opt_z.zero_grad(set_to_none=True)
        totals, _ = _losses(decode(z), d.detach(), problems, runs)
        totals.sum().backward()
        opt_z.step()
        opt_d.zero_grad(set_to_none=True)
        totals, rows = _losses(decode(z.detach()), d, problems, runs)
        totals.sum().backward()
        opt_d.step()
        for i, run in enumerate(runs):
            run.history.append({"stage": "reference", "iteration": r, **rows[i]})
        for s in sched:
            s.step()
        if progress is not None:
            progress(r + 1, rounds)
    with torch.no_grad():
        _, rows = _losses(decode(z), d, problems, runs)
    for i, run in enumerate(runs):
        run.history.append({"stage": "reference", "iteration": rounds, **rows[i]})
        _snapshot(run, z, d, i, rows[i], rounds)
        run.done = True


def _collect(
    decode: torch.nn.Module, problems: Sequence[Problem], runs: list[_Run], options: OptimiseOptions
) -> list[OptimisationResult]:
    results = []
    for index, problem in enumerate(problems):
        mine = [
            r
            for r in runs
            if r.problem == index and not r.zero_motion and not r.second and r.search == options.shift_search
        ]
        best = min(mine, key=lambda r: r.best["total"])  # type: ignore[index]
        motion = None
        still = [r for r in runs if r.problem == index and r.zero_motion]
        if still:
            best, motion = _motion_decision(
                best, still[0], [r for r in runs if r.problem == index and r not in mine], options
            )
        zs = torch.stack([r.best["z"] for r in mine])  # type: ignore[index]
        with torch.no_grad():
            logits = decode(zs)
            if best not in mine:
                chosen_logits = decode(best.best["z"][None])  # type: ignore[index]
        uncertainty = None
        if len(mine) > 1:
            votes = torch.nn.functional.one_hot(logits.argmax(1), N_CLASSES).sum(0)  # (D, H, W, C)
            uncertainty = (1.0 - votes.max(-1).values.float() / len(mine)).cpu().numpy()
        n = problem.sa_loss.n_slices
        d = apply_gauge(best.best["d"][None, :n], problem.sa_loss.heart_slices, problem.zero_mean_gauge)[0]  # type: ignore[index]
        if best.zero_motion:
            d = d * 0.0
        history = list(best.history)
        latent_iterations = int(best.best["iteration"])  # type: ignore[index]
        final_logits = logits[mine.index(best) : mine.index(best) + 1] if best in mine else chosen_logits
        refine_iterations, latent_probs = 0, None
        if options.refine and options.refine_iterations > 0 and options.schedule == "joint":
            latent_probs = torch.softmax(final_logits, 1)[0].cpu().numpy()
            final_logits, d, rows = refine_consistency(final_logits, d, problem, options, fix_shifts=not best.search)
            history += rows
            refine_iterations = len(rows) - 1
        with torch.no_grad():
            probs = torch.softmax(final_logits, 1)
            total, parts = multi_view_loss(final_logits, d[None], problem)
        results.append(
            OptimisationResult(
                probs=probs[0].cpu().numpy(),
                z=best.best["z"].cpu().numpy(),  # type: ignore[index]
                shifts_mm=d.detach().cpu().numpy(),
                history=history,
                iterations={"latent": latent_iterations, "refine": refine_iterations},
                converged=best.converged,
                final={"total": float(total[0]), **{k: float(v[0]) for k, v in parts.items()}},
                restart_losses=[float(r.best["total"]) for r in mine],  # type: ignore[index]
                uncertainty=uncertainty,
                gauge=GAUGE_ZERO_MEAN if problem.zero_mean_gauge else GAUGE_LONG_AXIS,
                latent_probs=latent_probs,
                motion=motion,
            )
        )
    return results


def _motion_decision(
    fixed: _Run, still: _Run, others: Sequence[_Run], options: OptimiseOptions
) -> tuple[_Run, dict[str, Any]]:
    """The motion test: which hypothesis explains the stack (``d = 0``, the estimate, the searched estimate).

    With a second estimate, the fixed hypothesis is the one of the two estimates with the lower loss
    (``motion["estimate"]`` names it).
    """
    estimate, loss_second = options.init_shifts, None
    second = [r for r in others if r.second]
    if second:
        loss_second = float(second[0].best["total"])  # type: ignore[index]
        if loss_second < float(fixed.best["total"]):  # type: ignore[index]
            fixed, estimate = second[0], options.second_estimate
    loss_0, loss_d = float(still.best["total"]), float(fixed.best["total"])  # type: ignore[index]
    gain = (loss_0 - loss_d) / max(loss_0, _EPS)
    motion: dict[str, Any] = {
        "supported": bool(gain > options.motion_threshold),
        "hypothesis": "estimated" if gain > options.motion_threshold else "none",
        "estimate": estimate,
        "loss_without_motion": round(loss_0, 6),
        "loss_with_motion": round(loss_d, 6),
        "relative_gain": round(gain, 4),
        "threshold": options.motion_threshold,
        "motion_prior_lambda": options.motion_prior,
    }
    if loss_second is not None:
        motion["loss_second_estimate"] = round(loss_second, 6)
    chosen = fixed if gain > options.motion_threshold else still
    searched = [r for r in others if r.search]
    if searched:
        loss_s = float(searched[0].best["total"])  # type: ignore[index]
        gain_s = (loss_0 - loss_s) / max(loss_0, _EPS)
        motion.update(
            loss_searched=round(loss_s, 6),
            relative_gain_searched=round(gain_s, 4),
            search_threshold=options.search_threshold,
        )
        if chosen is still and options.search_threshold is not None and gain_s > options.search_threshold:
            chosen = searched[0]
            motion.update(supported=True, hypothesis="searched")
    return chosen, motion


def refine_consistency(
    logits: torch.Tensor, d: torch.Tensor, problem: Problem, options: OptimiseOptions, fix_shifts: bool = False
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

    Returns
    -------
    (logits, d, history rows)
    """
    base = logits.detach()
    r = torch.zeros(1, base.shape[1], *options.refine_grid, device=base.device, requires_grad=True)
    dd = d.detach().clone()[None].requires_grad_(True)
    groups = [{"params": [r], "lr": options.refine_lr}]
    if not fix_shifts:
        groups.append({"params": [dd], "lr": options.lr_d})
    optimiser = torch.optim.Adam(groups)
    rule = StoppingRule(options.window, options.tolerance)
    rows: list[dict] = []
    heart, zero_mean = problem.sa_loss.heart_slices, problem.zero_mean_gauge
    sa = problem.sa_loss
    # Without long-axis views only the canonical slices around the stack's slices enter the loss: evaluate
    # the residual there alone (the same values as the full trilinear up-sampling, a fraction of the work).
    selected_only = sa.planar and not problem.la_losses
    if selected_only:
        base_selected = sa.select(base)
        position = sa.slice_index.to(base.dtype) * (r.shape[2] - 1) / (base.shape[2] - 1)
        k0 = position.floor().long().clamp(max=r.shape[2] - 2)
        weight = (position - k0).view(1, 1, -1, 1, 1)

    def evaluate() -> tuple[torch.Tensor, dict]:
        if selected_only:
            in_plane = F.interpolate(r, size=(r.shape[2], *base.shape[3:]), mode="trilinear", align_corners=True)
            residual = in_plane[:, :, k0] * (1.0 - weight) + in_plane[:, :, k0 + 1] * weight
            dz = apply_gauge(dd, heart, zero_mean)
            total = cross_entropy(sa.degrade_selected(base_selected + residual, dz), sa.target, sa.inside)
            parts = {"sa": total}
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
    with torch.no_grad():
        residual = F.interpolate(r, size=base.shape[2:], mode="trilinear", align_corners=True)
        d_out = apply_gauge(dd, heart, zero_mean)[0]
    return base + residual, d_out, rows
