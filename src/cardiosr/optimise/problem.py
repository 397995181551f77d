"""One subject set up for Eq. 3–5 on its canonical grid: :class:`Problem`, :func:`make_problem`, Eq. 5."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, canonical_frame, to_canonical
from cardiosr.optimise.losses import LongAxisLoss, ShortAxisLoss
from cardiosr.prior.networks import FrozenDecoder
from cardiosr.volume import LabelVolume


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
    def reads_slices(self) -> bool:
        """True when Eq. 5 reads only the canonical slices around the stack's slices (:meth:`decode`)."""
        return self.sa_loss.planar and not self.la_losses

    def decode(self, decoder: FrozenDecoder, z: torch.Tensor) -> torch.Tensor:
        """What Eq. 5 reads of ``G(z)`` for this subject, for :func:`multi_view_loss` with ``selected=``
        :attr:`reads_slices`: without long-axis views only the two canonical slices around each short-axis
        slice (:meth:`cardiosr.prior.networks.FrozenDecoder.slices`, a third of the decoder's work), else the
        whole grid."""
        if self.reads_slices:
            return decoder.slices(z, self.sa_loss.resample.slice_index)
        return decoder(z)

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
    logits: torch.Tensor, d: torch.Tensor, problem: Problem, *, selected: bool = False
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``L(z, d) = L_SA(z, d) + γ · Σ_views L_LA(z)``, Eq. 5 (line 3 of Algorithm 1).

    ``logits`` is ``G(z)``, ``(B, 4, 64, 128, 128)`` (with ``selected``, only the slices that
    :meth:`Problem.decode` reads); ``d`` the gauge-fixed shifts ``(B, D, 2)`` mm. Returns the total ``(B,)``
    and its parts (``'sa'``, ``'la0'``, ``'la1'``, ...).
    """
    if selected:
        if not problem.reads_slices:
            raise ValueError("selected logits need a problem that reads slices only")
        sa = problem.sa_loss.forward_selected(logits, d)
        return sa, {"sa": sa}
    parts = {"sa": problem.sa_loss(logits, d)}
    total = parts["sa"]
    for i, term in enumerate(problem.la_losses):
        parts[f"la{i}"] = term(logits)
        total = total + problem.gamma * parts[f"la{i}"]
    return total, parts
