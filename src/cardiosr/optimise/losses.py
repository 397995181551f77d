"""The losses of Eq. 3–5 and the MAP motion term: ``L_SA``, ``L_LA``, ``L = L_SA + γ·ΣL_LA``, ``−log p(d)``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

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
