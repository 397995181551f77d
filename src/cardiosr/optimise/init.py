"""The gauge of ``d`` and the starts of ``d`` and ``z``: zero-mean gauge, shift estimates, encoder warm start."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cardiosr.degradation import SliceShift
from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, to_canonical, voxel_coordinates
from cardiosr.labels import N_CLASSES
from cardiosr.optimise.options import INITIAL_SHIFT_NAMES, OptimiseOptions
from cardiosr.optimise.problem import Problem
from cardiosr.optimise.run import Run
from cardiosr.prior.networks import VAE3D, GenerativePrior
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.view_alignment import unmeasured_directions, view_alignment_shifts
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


def centroid_shifts(sa: LabelVolume | Sequence[LabelVolume], *, trend_frame: int | None = None) -> np.ndarray:
    """A quick first guess of the slice shifts (mm) from the left ventricle's centroids (beyond the paper).

    The LV (blood pool and myocardium) centroid of each slice is compared with a straight line fitted
    through all of them (least squares, weighted by the LV area), and the deviation is taken as the
    slice's shift: a heart's LV axis is close to straight, so breathing shows up as the jitter around
    that line. A slice with fewer than 4 LV voxels has no point on that line, whatever else it holds, and
    gets no deviation of its own (0 before the gauge, as a slice without heart labels): the centroid of
    the RV alone lies far off the LV's line (a basal slice holding only RV gave the voxelised biv-me ED
    heart a 42 mm "shift" that way, and its whole estimate 14 mm RMS of error against 4.6 without it: README,
    *the slice alignment*, and section *shift-estimates-lv* of ``docs/benchmarks.md``). The
    result is in the zero-mean gauge and is the starting point of ``d`` with ``init_shifts='centroid'``.

    Given the frames of a cine (one geometry), the shifts are shared: every frame has its own line (the
    LV axis moves through the cycle) and every slice one deviation from it in all frames, fitted together by
    least squares weighted by the LV areas (alternating between the lines and the deviations until they
    settle). A linear trend of the shifts along the slices is the same as a tilt of every line, so it is
    removed, weighted by the slice's LV area summed over the frames, or in frame ``trend_frame`` alone (the
    cine's ED frame: a cine and its ED stack alone then share this convention). For one frame this is the
    fit above.

    Returns
    -------
    numpy.ndarray
        ``(D, 2)`` shifts along the rows and columns, mm (content moved by ``+d``).

    Examples
    --------
    >>> lab = np.zeros((6, 32, 32), np.uint8)
    >>> for k, dx in enumerate([0, 2, -2, -2, 2, 0]):   # pixels of 1.5 mm
    ...     lab[k, 10:20, 10 + dx : 20 + dx] = 1
    >>> (centroid_shifts(LabelVolume(lab, np.diag([10.0, 1.5, 1.5, 1.0])))[:, 1].round(2) + 0.0).tolist()
    [0.0, 3.0, -3.0, -3.0, 3.0, 0.0]
    >>> frames = [LabelVolume(np.roll(lab, t, axis=1), np.diag([10.0, 1.5, 1.5, 1.0])) for t in range(3)]
    >>> (centroid_shifts(frames)[:, 1].round(2) + 0.0).tolist()   # the same jitter in every frame
    [0.0, 3.0, -3.0, -3.0, 3.0, 0.0]
    """
    frames = [sa] if isinstance(sa, LabelVolume) else list(sa)
    n = frames[0].shape[0]
    centres, weights = np.zeros((len(frames), n, 2)), np.zeros((len(frames), n))
    for t, frame in enumerate(frames):
        labels, spacing = frame.array, frame.spacing[1:]
        for k in range(n):
            lv = np.isin(labels[k], (1, 2))
            if lv.sum() >= 4:  # else no point on the LV's line (see above)
                centres[t, k] = np.argwhere(lv).mean(0) * spacing
                weights[t, k] = float(lv.sum())
    d = np.zeros((n, 2))
    usable = (weights > 0).sum(1) >= 3  # a line needs three slices
    if not usable.any():
        return d
    trend = weights[trend_frame] if trend_frame is not None and usable[trend_frame] else None
    centres, weights = centres[usable], weights[usable]
    k = np.arange(n, dtype=float)
    design = np.stack([np.ones_like(k), k], 1)
    total = weights.sum(0)
    trend = total if trend is None else trend
    rows = total > 0

    def line(target: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The weighted least-squares line through ``target`` ``(D, 2)`` evaluated at every slice."""
        coef, *_ = np.linalg.lstsq(
            design[w > 0] * np.sqrt(w[w > 0])[:, None], target[w > 0] * np.sqrt(w[w > 0])[:, None], rcond=None
        )
        return design @ coef

    for _ in range(100):
        lines = np.stack([line(centres[t] - d, weights[t]) for t in range(len(centres))])
        new = np.zeros_like(d)
        new[rows] = ((centres - lines) * weights[..., None]).sum(0)[rows] / total[rows, None]
        new[rows] -= line(new, trend)[rows]  # the gauge: no weighted trend (one frame: the residual of the line)
        change = float(np.abs(new - d).max())
        d = new
        if change < 1e-6:
            break
    heart = np.zeros(n, bool)
    for frame in frames:
        heart |= (frame.array > 0).any((1, 2))
    d[~heart] = 0.0
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
assert tuple(INITIAL_SHIFTS) == INITIAL_SHIFT_NAMES


def views_correct_estimates(problems: Sequence[Problem], options: OptimiseOptions) -> bool:
    """Whether :func:`corrected_by_views` corrects the shift estimates of ``problems`` (``options.view_alignment``
    and a long-axis view with γ > 0)."""
    return bool(options.view_alignment and any(p.views and p.gamma > 0 for p in problems))


def corrected_by_views(d: np.ndarray, problems: Sequence[Problem], options: OptimiseOptions) -> np.ndarray:
    """A stack-only shift estimate ``d`` ``(D, 2)`` mm of one stack (one problem) or of the frames of a cine
    (their shared shifts) corrected by where the slices cross the long-axis views
    (:func:`~cardiosr.view_alignment.view_alignment_shifts`, ``d`` kept where the views cannot tell) when
    ``options.view_alignment`` and a problem has views with γ > 0; else ``d`` itself."""
    if not views_correct_estimates(problems, options):
        return d
    views = [p.views if p.gamma > 0 else () for p in problems]
    return view_alignment_shifts([p.sa for p in problems], views, reference=d)


def views_unmeasured(problems: Sequence[Problem], options: OptimiseOptions) -> np.ndarray | None:
    """With :func:`corrected_by_views` correcting the estimates: per slice, the projection ``(D, 2, 2)`` onto the
    directions of its shift no view measures (:func:`~cardiosr.view_alignment.unmeasured_directions`), the only
    ones a search of the shifts from such an estimate moves (:func:`keep_measured`); else ``None``."""
    if not views_correct_estimates(problems, options):
        return None
    return unmeasured_directions([p.sa for p in problems], [p.views if p.gamma > 0 else () for p in problems])


def keep_measured(d: torch.Tensor, start: torch.Tensor, free: torch.Tensor) -> None:
    """Put the components of the shifts ``d`` ``(..., D, 2)`` that the views measure back to ``start``'s
    (in place): ``d ← start + P (d − start)`` with ``free`` the projections ``(D, 2, 2)`` of
    :func:`views_unmeasured`, after every step of a search (a projected gradient step).

    Examples
    --------
    >>> d, start = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.zeros(2, 2)
    >>> free = torch.stack([torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [0.0, 0.0]])])  # slice 1: rows free
    >>> keep_measured(d, start, free); d.tolist()
    [[0.0, 0.0], [3.0, 0.0]]
    """
    with torch.no_grad():
        d.copy_(start + torch.einsum("kij,...kj->...ki", free, d - start))


#: Slices seen along one direction that :func:`blend_view_trend` needs before a linear trend means anything.
MIN_TREND_SLICES = 3


def blend_view_trend(d: np.ndarray, start: np.ndarray, free: np.ndarray, weight: float) -> np.ndarray:
    """Searched shifts ``d`` ``(D, 2)`` mm whose linear trend along the slices across one view's lines is moved
    by ``weight`` (0-1) towards that of the views' estimate ``start`` they were searched from.

    ``free`` are the projections ``(D, 2, 2)`` of :func:`views_unmeasured`. On a slice one view sees along one
    direction it is ``u uᵀ``, ``u`` the unit vector across the view's line, and the search moved only
    ``a_k = u_k · (d_k − start_k)``. The least-squares line ``a_k ≈ α + β (k − k̄)`` over those slices'
    indices ``k`` gives the trend ``β``, and ``d_k ← d_k − weight · β (k − k̄) u_k``. A linear trend of the
    shifts along the slices is a tilt of the long axis, which no short-axis slice tells from motion; across
    its lines a view reads it only from how the chords change over the slices, and the search sets it where
    the prior's shapes fit better, so the two readings of that tilt are weighed (``weight`` 0: the search's,
    1: the view's). Slices seen in two directions (nothing moved) or by none (everything moved) keep ``d``;
    with fewer than :data:`MIN_TREND_SLICES` slices seen along one direction ``d`` is returned as it is.

    Examples
    --------
    >>> free = np.tile([[1.0, 0.0], [0.0, 0.0]], (4, 1, 1))  # one view: every slice's rows are free
    >>> d = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])  # rows searched into a trend of 1 mm/slice
    >>> blend_view_trend(d, np.zeros((4, 2)), free, 0.5).tolist()
    [[0.75, 1.0], [1.25, 1.0], [1.75, 1.0], [2.25, 1.0]]
    """
    d = np.array(d, dtype=float)
    one = np.nonzero(np.abs(np.trace(free, axis1=1, axis2=2) - 1.0) < 1e-3)[0]
    if weight == 0 or len(one) < MIN_TREND_SLICES:
        return d
    p = np.asarray(free, dtype=float)[one]  # each u uᵀ
    column = p.diagonal(axis1=1, axis2=2).argmax(1)
    u = p[np.arange(len(one)), :, column]
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    u *= np.where(u @ u[0] < 0, -1.0, 1.0)[:, None]  # one orientation for all: a column's sign may differ
    a = ((d[one] - start[one]) * u).sum(1)
    k = one - one.mean()
    beta = float((a * k).sum() / (k * k).sum())
    d[one] -= weight * beta * k[:, None] * u
    return d


def shift_slices(sa: LabelVolume, d: np.ndarray) -> LabelVolume:
    """Move every slice's content by ``d`` mm (``(D, 2)``, rows/columns) with :class:`~cardiosr.degradation.SliceShift`.

    ``shift_slices(sa, -d)`` undoes estimated motion (per-class bilinear interpolation, then argmax).
    """
    one_hot = torch.from_numpy(sa.one_hot())[None]
    with torch.no_grad():
        moved = SliceShift(tuple(sa.spacing[1:]))(one_hot, torch.as_tensor(np.asarray(d), dtype=torch.float32))
    return sa.with_array(moved[0].argmax(0).numpy().astype(np.uint8))


#: Stacks encoded together by :func:`warm_start_latents` (the encoder is in ``eval`` mode: items are independent).
WARM_START_CHUNK = 4


def warm_start_latents(
    prior: GenerativePrior, problems: Sequence[Problem], shifts: Sequence[np.ndarray], device: torch.device
) -> torch.Tensor:
    """``z`` from the VAE encoder applied to each stack, its slices moved back by the initial shifts."""
    if not isinstance(prior, VAE3D):
        raise InputError("the encoder warm start needs a VAE prior (this one has no encoder); use no warm start")
    codes = []
    pairs = list(zip(problems, shifts, strict=True))
    for start in range(0, len(pairs), WARM_START_CHUNK):  # a few at a time: a cine's 50 frames would take 1.6 GB
        stacks = [
            _canonical_one_hot(shift_slices(p.sa, -d) if np.any(d != 0) else p.sa, p.frame.affine, p.frame.shape)
            for p, d in pairs[start : start + WARM_START_CHUNK]
        ]
        with torch.no_grad():
            codes.append(prior.encode(torch.stack(stacks).to(device))[0])
    return torch.cat(codes)


def _canonical_one_hot(sa: LabelVolume, affine: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """The stack on the canonical grid as one-hot labels ``(4, D, H, W)``, the encoder's input.

    What :func:`~cardiosr.geometry.to_canonical` gives (per-class linear interpolation, zero beyond the stack's
    edge voxels, then the most likely class), computed separably when the canonical slices are parallel to the
    stack's, as they are for the stack's own canonical frame: each stack slice is resampled in-plane once
    (``grid_sample``), then the canonical slices blend the two stack slices around them. A tenth of the time of
    the 3D resampling, which the warm start of a 50-frame cine would pay for every frame.
    """
    coords = voxel_coordinates(sa.affine, affine, shape)  # stack indices of every canonical voxel
    depth, plane = coords[..., 0], coords[..., 1:]
    if not (np.ptp(depth, axis=(1, 2)).max() < 1e-3 and np.abs(plane - plane[:1]).max() < 1e-3):
        return torch.from_numpy(to_canonical(sa, frame=CanonicalFrame(affine=affine, shape=shape))[0].one_hot())
    size = np.maximum(np.asarray(sa.shape[1:], float) - 1.0, 1.0)
    grid = torch.from_numpy((2.0 * plane[0] / size - 1.0)[..., ::-1].copy()).float()
    heart = torch.from_numpy(sa.one_hot()[1:]).permute(1, 0, 2, 3)  # (d, 3, h, w): the structures per slice
    grid = grid[None].expand(sa.shape[0], *grid.shape)
    in_plane = F.grid_sample(heart, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    t = depth[:, 0, 0]  # the stack index of every canonical slice
    below = np.floor(t).astype(int)
    weights = np.zeros((len(t), sa.shape[0]), np.float32)
    for i, (k, w) in enumerate(zip(below, t - below, strict=True)):
        for j, v in ((k, 1.0 - w), (k + 1, w)):
            if 0 <= j < sa.shape[0]:
                weights[i, j] = v
    sampled = torch.einsum("ik,kchw->ihwc", torch.from_numpy(weights), in_plane)  # classes last: a fast argmax
    labels = torch.cat([1.0 - sampled.sum(-1, keepdim=True), sampled], -1).argmax(-1)
    return (labels[None] == torch.arange(N_CLASSES).view(-1, 1, 1, 1)).float()


def initial_latents(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    runs: Sequence[Run],
    options: OptimiseOptions,
    shifts: Sequence[np.ndarray],
    second: Sequence[np.ndarray],
) -> torch.Tensor:
    """The start of ``z`` of every run; a run of the second estimate is warm-started from its own shifts."""
    device = next(prior.parameters()).device
    base = second_base = torch.zeros(len(problems), prior.latent_dim, device=device)
    if options.warm_start and options.schedule == "joint":
        base = warm_start_latents(prior, problems, shifts, device)
        if any(run.second for run in runs):
            second_base = warm_start_latents(prior, problems, second, device)
    gen = torch.Generator().manual_seed(options.seed)
    z = []
    for run in runs:
        z0 = (second_base if run.second else base)[run.problem].clone()
        if run.restart > 0:
            z0 = z0 + options.restart_spread * torch.randn(prior.latent_dim, generator=gen).to(device)
        z.append(z0)
    return torch.stack(z)
