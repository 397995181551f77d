"""One subject set up for Eq. 3–5 on its canonical grid: :class:`Problem`, :func:`make_problem`, Eq. 5."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, canonical_frame, to_canonical
from cardiosr.optimise.losses import LongAxisLoss, ShortAxisLoss
from cardiosr.prior.networks import FrozenDecoder
from cardiosr.volume import LabelVolume


class PartialLogits(NamedTuple):
    """The parts of ``G(z)`` that Eq. 5 reads (:meth:`Problem.decode`): ``slices``, ``(B, 4, n, 128, 128)``
    (:meth:`cardiosr.degradation.ShiftedResampling.select`), and ``voxels``, ``(B, 4, Σ m)``, the long-axis
    views' corner voxels one view after another (``None`` without views)."""

    slices: torch.Tensor
    voxels: torch.Tensor | None


@dataclass
class Problem:
    """One subject: its short-axis term, long-axis terms, γ, the canonical frame and the long-axis views
    themselves (for :func:`~cardiosr.view_alignment.view_alignment_shifts`).

    Build it with :func:`make_problem`.
    """

    sa: LabelVolume
    frame: CanonicalFrame
    sa_loss: ShortAxisLoss
    la_losses: list[LongAxisLoss]
    gamma: float
    views: tuple[LabelVolume, ...] = ()
    _canonical_lr: LabelVolume | None = None

    @property
    def canonical_lr(self) -> LabelVolume:
        """The short-axis stack on the canonical grid (interpolated between slices; made on first use)."""
        if self._canonical_lr is None:
            self._canonical_lr = to_canonical(self.sa, frame=self.frame)[0]
        return self._canonical_lr

    def to(self, device: torch.device | str) -> Problem:
        """Move the loss terms' tensors to ``device`` (in place); returns the problem."""
        self.sa_loss.to(device)
        for term in self.la_losses:
            term.to(device)
        return self

    @property
    def reads_parts(self) -> bool:
        """True when Eq. 5 reads only parts of ``G(z)`` (:meth:`decode`): the stack's slices lie on planes of
        the canonical grid (the fused degradation's planar path)."""
        return self.sa_loss.planar

    def decode(self, decoder: FrozenDecoder, z: torch.Tensor) -> torch.Tensor | PartialLogits:
        """What Eq. 5 reads of ``G(z)`` for this subject, for :func:`multi_view_loss` with ``selected=``
        :attr:`reads_parts`: the two canonical slices around each short-axis slice
        (:meth:`cardiosr.prior.networks.FrozenDecoder.slices`, a third of the decoder's work) and the voxels
        each long-axis view interpolates (:meth:`~cardiosr.prior.networks.FrozenDecoder.voxels`, about 2 % of
        the grid per view), as :class:`PartialLogits`; else the whole grid."""
        if not self.reads_parts:
            return decoder(z)
        slices, voxels = decoder.read(
            z, slice_index=self.sa_loss.resample.slice_index, voxel_index=self.view_voxels() if self.la_losses else None
        )
        return PartialLogits(slices, voxels)  # type: ignore[arg-type]

    def select(self, logits: torch.Tensor) -> PartialLogits:
        """The :class:`PartialLogits` of a whole ``(B, 4, 64, 128, 128)`` ``G(z)`` (what :meth:`decode` reads)."""
        voxels = None
        if self.la_losses:
            index = self.view_voxels()
            voxels = logits[:, :, index[:, 0], index[:, 1], index[:, 2]]
        return PartialLogits(self.sa_loss.resample.select(logits), voxels)

    def view_voxels(self) -> torch.Tensor:
        """``(Σ m, 3)``: every view's :attr:`~cardiosr.geometry.LongAxisSlicer.corner_voxels`, one after another."""
        return torch.cat([term.slicer.corner_voxels for term in self.la_losses])

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
    frame: CanonicalFrame | None = None,
    snap_slices: bool = False,
) -> Problem:
    """Set up Eq. 3–5 for one subject on its canonical grid.

    Parameters
    ----------
    sa:
        Short-axis stack (internal labels and order, with its affine).
    la:
        Long-axis views in the same world space (each a single slice).
    centre_voxel, centring:
        The prior's grid centring (:func:`cardiosr.prior.canonical_placement`).
    gamma:
        γ of Eq. 5; by default 1 with long-axis views and 0 without (paper §2.3).
    frame:
        A canonical frame to use instead of the stack's own (the frames of a cine share their first one's).
    snap_slices:
        Move the stack's own frame by at most 1 mm along its slice axis so that the slices lie on canonical
        planes when the spacing allows (:func:`~cardiosr.geometry.canonical_frame`): half the decoding of the
        latent search.
    """
    if frame is None:
        frame = canonical_frame(sa, centre_voxel=centre_voxel, centring=centring, snap_slices=snap_slices)
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
        views=tuple(la),
    )


def multi_view_loss(
    logits: torch.Tensor | PartialLogits, d: torch.Tensor, problem: Problem, *, selected: bool = False
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``L(z, d) = L_SA(z, d) + γ · Σ_views L_LA(z)``, Eq. 5 (line 3 of Algorithm 1).

    ``logits`` is ``G(z)``, ``(B, 4, 64, 128, 128)`` (with ``selected``, the :class:`PartialLogits` that
    :meth:`Problem.decode` reads); ``d`` the gauge-fixed shifts ``(B, D, 2)`` mm. Returns the total ``(B,)``
    and its parts (``'sa'``, ``'la0'``, ``'la1'``, ...).
    """
    if selected:
        if not problem.reads_parts or not isinstance(logits, PartialLogits):
            raise ValueError("selected logits are the PartialLogits of a problem that reads parts of G(z)")
        parts = {"sa": problem.sa_loss.forward_selected(logits.slices, d)}
        if problem.la_losses:
            sizes = [len(term.slicer.corner_voxels) for term in problem.la_losses]
            views = torch.split(logits.voxels, sizes, dim=2)  # type: ignore[arg-type]
            for i, (term, voxels) in enumerate(zip(problem.la_losses, views, strict=True)):
                parts[f"la{i}"] = term.forward_voxels(voxels)
    else:
        if isinstance(logits, PartialLogits):
            raise ValueError("PartialLogits need selected=True")
        parts = {"sa": problem.sa_loss(logits, d)}
        for i, term in enumerate(problem.la_losses):
            parts[f"la{i}"] = term(logits)
    total = parts["sa"]
    for i in range(len(problem.la_losses)):
        total = total + problem.gamma * parts[f"la{i}"]
    return total, parts
