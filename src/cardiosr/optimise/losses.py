"""The losses of Eq. 3–5 and the MAP motion term: ``L_SA``, ``L_LA``, ``L = L_SA + γ·ΣL_LA``, ``−log p(d)``."""

from __future__ import annotations

import numpy as np
import torch

from cardiosr.degradation import ShiftedResampling
from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, LongAxisSlicer, voxel_coordinates
from cardiosr.volume import LabelVolume

#: Floor of probabilities and denominators (avoids log 0 and 0/0).
EPS = 1e-6
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
    return -(torch.log(picked.clamp_min(EPS)) * m).flatten(1).sum(1) / m.sum().clamp_min(1.0)


class ShortAxisLoss(torch.nn.Module):
    """``L_SA(z, d) = CE(M_d(↓s G(z)), S_LR)``, Eq. 3, for one short-axis stack.

    ``M_d(↓s G(z))`` is :class:`~cardiosr.degradation.ShiftedResampling`: the degradation of Eq. 1 as one
    resampling (pixel ``p`` of slice ``k`` samples ``G(z)`` at ``world(p) − d_k``), on its fast planar path
    whenever the stack's slices are parallel to the canonical grid's.

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
    resample:
        The fused ``M_d ∘ ↓s`` onto the cropped stack.
    """

    target: torch.Tensor
    inside: torch.Tensor
    heart_slices: torch.Tensor

    def __init__(self, sa: LabelVolume, frame: CanonicalFrame, planar: bool | None = None) -> None:
        super().__init__()
        coords = voxel_coordinates(frame.affine, sa.affine, sa.shape)  # canonical indices of SA voxels
        size = np.asarray(frame.shape, float) - 1.0
        inside = np.all((coords >= -0.5) & (coords <= size + 0.5), axis=-1)
        if not inside.any():
            raise InputError("the short-axis stack does not overlap its own canonical grid", sa.path)
        rows, cols = np.nonzero(inside.any(0))
        h0, h1, w0, w1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        inside = inside[:, h0:h1, w0:w1]
        crop = np.eye(4)
        crop[1, 3], crop[2, 3] = h0, w0
        #: Affine of the cropped stack the loss is computed on.
        self.crop_affine = sa.affine @ crop
        self.resample = ShiftedResampling(frame.affine, frame.shape, self.crop_affine, inside.shape, planar)
        # unsegmented slices between labelled ones are missing data: they do not count in the loss
        inside[sa.missing_slices()] = False
        labels = sa.array[:, h0:h1, w0:w1].astype(np.int64)
        self.register_buffer("target", torch.from_numpy(labels))
        self.register_buffer("inside", torch.from_numpy(inside.copy()))
        self.register_buffer("heart_slices", torch.from_numpy((sa.array > 0).any((1, 2))))

    @property
    def n_slices(self) -> int:
        """Number of short-axis slices (length of ``d``)."""
        return int(self.target.shape[0])

    @property
    def planar(self) -> bool:
        """Whether the fused degradation takes its planar path."""
        return self.resample.planar

    def degrade(self, logits: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``M_d(↓s G(z))``: ``(B, C, 64, 128, 128)`` logits and ``(B, D, 2)`` mm → ``(B, C, D, H, W)`` probabilities.

        The prior's logits are turned into probabilities (softmax over classes) before any interpolation.
        """
        return self.resample(logits, d)

    def forward(self, logits: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for a batch of canonical logit volumes ``G(z)`` and shifts ``(B, D, 2)`` mm: ``(B,)``."""
        return cross_entropy(self.degrade(logits, d), self.target, self.inside)

    def forward_selected(self, selected: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from the canonical slices :attr:`ShiftedResampling.slice_index` alone (planar path)."""
        return cross_entropy(self.resample.forward_selected(selected, d), self.target, self.inside)


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
        self.register_buffer("inside_target", torch.from_numpy(labels[inside]))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Eq. 4 for a batch of canonical logit volumes ``G(z)``: ``(B,)`` (softmax, then R)."""
        return cross_entropy(self.slicer(torch.softmax(logits, 1)), self.target, self.slicer.inside)

    def forward_voxels(self, logits: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from ``G(z)`` at the view's :attr:`~cardiosr.geometry.LongAxisSlicer.corner_voxels`
        alone, ``(B, C, m)`` (:meth:`cardiosr.prior.networks.FrozenDecoder.voxels`): ``(B,)``."""
        probs = self.slicer.sample_voxels(torch.softmax(logits, 1))
        return cross_entropy(probs, self.inside_target, torch.ones_like(self.inside_target, dtype=torch.bool))
