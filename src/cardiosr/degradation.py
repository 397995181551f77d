"""The degradation model of the paper's Eq. 1: ``S_LR = F(S_HR) = M_d(↓s S_HR) + ε``.

* :class:`Downsample` is ↓s: it samples a high-resolution volume at the voxel centres of the
  low-resolution stack (the thick slices' centres), through a sampling grid with trilinear interpolation.
  The LR positions come from the LR stack's affine, so the same layer serves simulation and inversion.
* :class:`SliceShift` is M_d: a per-slice in-plane translation ``d`` (mm), bilinear, differentiable in ``d``.
* :class:`Degradation` is ``F = M_d ∘ ↓s`` as one module (two resamplings: simulation).
* :class:`ShiftedResampling` is the same ``F`` as **one** resampling, for the fitting loss (Eq. 3).
* :func:`add_segmentation_errors` is ε (simulation only): boundary label errors and small topological defects.
* :func:`simulate_shifts` draws the paper's motion patterns (§3.2).
* :func:`long_axis_view` simulates a four-chamber-like long-axis view of an HR map (simulation only).

All layers work on class-probability volumes ``(B, C, D, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from cardiosr.errors import InputError
from cardiosr.geometry import resample_labels, unit_columns, voxel_coordinates
from cardiosr.labels import N_CLASSES
from cardiosr.volume import LabelVolume

#: Paper §3.2: in-plane displacement amplitude of normal respiratory motion (UK Biobank), mm.
NORMAL_MOTION_MEAN_MM = 2.3
NORMAL_MOTION_STD_MM = 0.87
#: Motion patterns of the paper's experiments, as multiples of the normal amplitude.
MOTION_PATTERNS: dict[str, float] = {"none": 0.0, "normal": 1.0, "severe": 4.0}


def lr_affine(hr_affine: np.ndarray, factor: tuple[int, int, int] | int = (5, 1, 1)) -> np.ndarray:
    """Affine of the stack made from an HR grid by ↓s with integer ``factor`` per axis.

    LR voxel ``i`` along an axis is centred on its slab of ``f`` HR voxels, at HR index ``f*i + (f-1)/2``
    (so for ``f = 5`` LR slice ``i`` lies exactly on HR slice ``5i + 2``).
    """
    f = np.broadcast_to(np.asarray(factor, dtype=float), (3,))
    m = np.eye(4)
    m[:3, :3] = np.diag(f)
    m[:3, 3] = (f - 1.0) / 2.0
    return np.asarray(hr_affine, float) @ m


def lr_shape(hr_shape: tuple[int, int, int], factor: tuple[int, int, int] | int = (5, 1, 1)) -> tuple[int, int, int]:
    """Shape of the stack made by ↓s: ``hr_shape // factor`` per axis (whole slabs only)."""
    f = np.broadcast_to(np.asarray(factor, dtype=int), (3,))
    return tuple(int(n) // int(k) for n, k in zip(hr_shape, f, strict=True))  # type: ignore[return-value]


class Downsample(torch.nn.Module):
    """↓s of Eq. 1: sample an HR probability volume at the voxel centres of an LR stack.

    Parameters
    ----------
    hr_affine, hr_shape:
        Geometry of the HR grid (e.g. the canonical grid).
    lr_affine, lr_shape:
        Geometry of the LR stack. Each LR voxel samples the HR volume at its own world position, with
        trilinear interpolation (``grid_sample``); outside the HR grid the border value (background on a
        heart-centred grid) is used.

    Examples
    --------
    >>> import numpy as np, torch
    >>> hr = np.diag([2.0, 1.25, 1.25, 1.0])
    >>> down = Downsample.from_factor(hr, (64, 128, 128), (5, 1, 1))
    >>> down(torch.rand(1, 4, 64, 128, 128)).shape
    torch.Size([1, 4, 12, 128, 128])
    """

    grid: torch.Tensor

    def __init__(
        self,
        hr_affine: np.ndarray,
        hr_shape: tuple[int, int, int],
        lr_affine: np.ndarray,
        lr_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        coords = voxel_coordinates(hr_affine, lr_affine, lr_shape)  # (D, H, W, 3) HR indices (d, h, w)
        normalised = 2.0 * coords / (np.asarray(hr_shape, float) - 1.0) - 1.0
        self.register_buffer("grid", torch.from_numpy(normalised[..., ::-1].copy()).float()[None])
        self.lr_shape = tuple(int(n) for n in lr_shape)
        self.lr_affine = np.asarray(lr_affine, float)

    @classmethod
    def from_factor(
        cls, hr_affine: np.ndarray, hr_shape: tuple[int, int, int], factor: tuple[int, int, int] | int = (5, 1, 1)
    ) -> Downsample:
        """↓s with an integer down-scaling factor ``s`` per axis (paper: ``s = (5, 1, 1)``)."""
        return cls(hr_affine, hr_shape, lr_affine(hr_affine, factor), lr_shape(hr_shape, factor))

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        """``(B, C, D, H, W)`` HR probabilities → ``(B, C, D_LR, H_LR, W_LR)``."""
        grid = self.grid.to(dtype=hr.dtype, device=hr.device).expand(hr.shape[0], -1, -1, -1, -1)
        return F.grid_sample(hr, grid, mode="bilinear", padding_mode="border", align_corners=True)


class SliceShift(torch.nn.Module):
    """M_d of Eq. 1: translate every slice of a stack in-plane by its own displacement ``d`` (mm).

    ``d`` has shape ``(D, 2)`` or ``(B, D, 2)``: the displacement of each slice along the stack's row
    (``H``) and column (``W``) directions in mm; slice content moves by ``+d``. Bilinear interpolation
    on a shifted sampling grid makes the output differentiable with respect to ``d`` (nearest-neighbour
    sampling would give zero gradient).

    Parameters
    ----------
    spacing:
        In-plane pixel size ``(row, column)`` of the stack in mm.

    Examples
    --------
    >>> import torch
    >>> shift = SliceShift((1.25, 1.25))
    >>> x = torch.rand(1, 4, 12, 128, 128, dtype=torch.float64)
    >>> torch.allclose(shift(x, torch.zeros(12, 2)), x, atol=1e-10)
    True
    """

    def __init__(self, spacing: tuple[float, float]) -> None:
        super().__init__()
        self.spacing = (float(spacing[0]), float(spacing[1]))

    def sampling_grid(self, d: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``grid_sample`` grid ``(N, H, W, 2)`` (x = column, y = row, ``align_corners=True``) for ``N`` shifts.

        Content moves by ``+d`` mm, so pixel ``(r, c)`` samples the input at ``(r, c) - d / spacing``.
        """
        rows = torch.linspace(-1.0, 1.0, h, dtype=d.dtype, device=d.device)
        cols = torch.linspace(-1.0, 1.0, w, dtype=d.dtype, device=d.device)
        dy = 2.0 * d[:, 0] / (self.spacing[0] * max(h - 1, 1))
        dx = 2.0 * d[:, 1] / (self.spacing[1] * max(w - 1, 1))
        gx = cols[None, None, :] - dx[:, None, None]
        gy = rows[None, :, None] - dy[:, None, None]
        return torch.stack(torch.broadcast_tensors(gx, gy), -1)

    def forward(self, stack: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Shift ``(B, C, D, H, W)`` slices by ``d`` mm; returns the same shape."""
        b, c, depth, h, w = stack.shape
        d = d.to(dtype=stack.dtype, device=stack.device)
        d = d.expand(b, depth, 2) if d.dim() == 2 else d
        slices = stack.permute(0, 2, 1, 3, 4).reshape(b * depth, c, h, w)
        grid = self.sampling_grid(d.reshape(b * depth, 2), h, w)
        out = F.grid_sample(slices, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(b, depth, c, h, w).permute(0, 2, 1, 3, 4)


class Degradation(torch.nn.Module):
    """``F(S_HR) = M_d(↓s S_HR)``: Eq. 1 without the error term, as one differentiable module.

    Examples
    --------
    >>> import numpy as np, torch
    >>> degrade = Degradation(Downsample.from_factor(np.diag([2.0, 1.25, 1.25, 1.0]), (64, 128, 128)))
    >>> degrade(torch.rand(1, 4, 64, 128, 128), torch.zeros(12, 2)).shape
    torch.Size([1, 4, 12, 128, 128])
    """

    def __init__(self, downsample: Downsample) -> None:
        super().__init__()
        self.downsample = downsample
        spacing = np.linalg.norm(downsample.lr_affine[:3, :3], axis=0)
        self.shift = SliceShift((float(spacing[1]), float(spacing[2])))

    def forward(self, hr: torch.Tensor, d: torch.Tensor | None = None) -> torch.Tensor:
        """Degrade ``(B, C, D, H, W)`` probabilities; ``d`` (mm per LR slice) defaults to no motion."""
        lr = self.downsample(hr)
        return lr if d is None else self.shift(lr, d)


#: How far (HR voxels) an LR slice may leave an HR slice plane and still count as parallel to it, and (÷ 10, per
#: mm of shift) how far an in-plane shift may move it out of plane: the float32 rounding of clinical headers (an
#: M&Ms-2 stack: 0.0014 voxel, 3 µm, across the field of view) must not cost the planar path.
PLANAR_TOLERANCE = 0.01

#: How far (HR voxels) an LR slice may be from an HR slice plane for ↓s to read that plane alone (the blend
#: with the next plane it skips is at most this fraction of it).
ON_PLANE_TOLERANCE = 1e-4


class ShiftedResampling(torch.nn.Module):
    """``F(S_HR) = M_d(↓s S_HR)`` as **one** resampling: the form the fitting loss (Eq. 3) uses.

    Pixel ``p`` of LR slice ``k`` samples the HR volume at ``world(p) − d_k`` (the content moved by
    ``+d_k``), which is ``M_d(↓s S_HR)`` with one interpolation instead of two (:class:`Degradation`
    interpolates twice: it is the simulation's form). When every LR slice is parallel to the HR grid's
    slices (always, unless the affine is sheared), ↓s is done as a linear blend of the two nearest HR
    slices followed by a 2D bilinear resampling, which touches only those slices (the *planar* path).

    Input is class **scores** (logits): the softmax over classes is taken before any interpolation, and
    on the planar path only on the HR slices read.

    Parameters
    ----------
    hr_affine, hr_shape:
        Geometry of the HR grid (the canonical grid).
    lr_affine, lr_shape:
        Geometry of the LR stack (or of an in-plane crop of it).
    planar:
        Use the planar path when the geometry allows it (``None``, default) or never (``False``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> hr = np.diag([2.0, 1.25, 1.25, 1.0])
    >>> fused = ShiftedResampling(hr, (64, 128, 128), lr_affine(hr), (12, 128, 128))
    >>> two_step = Degradation(Downsample.from_factor(hr, (64, 128, 128)))
    >>> logits, d = torch.randn(1, 4, 64, 128, 128), torch.randn(1, 12, 2)
    >>> bool(torch.allclose(fused(logits, d), two_step(torch.softmax(logits, 1), d[0]), atol=0.05))
    True
    """

    base: torch.Tensor
    jacobian: torch.Tensor

    def __init__(
        self,
        hr_affine: np.ndarray,
        hr_shape: tuple[int, int, int],
        lr_affine: np.ndarray,
        lr_shape: tuple[int, int, int],
        planar: bool | None = None,
    ) -> None:
        super().__init__()
        coords = voxel_coordinates(hr_affine, lr_affine, lr_shape)  # HR indices of every LR voxel
        self.hr_shape = tuple(int(n) for n in hr_shape)
        size = np.asarray(hr_shape, float) - 1.0
        # A shift of (1 mm along the stack's rows, 1 mm along its columns) in HR voxel units.
        axes = np.asarray(lr_affine, float)[:3, 1:3] / np.linalg.norm(np.asarray(lr_affine, float)[:3, 1:3], axis=0)
        jac = -np.linalg.inv(np.asarray(hr_affine, float)[:3, :3]) @ axes  # (3, 2): sampling moves against content
        self.register_buffer("jacobian", torch.from_numpy(jac).float())
        depth = coords[..., 0]
        can_be_planar = bool(np.all(np.abs(depth - depth.mean((1, 2), keepdims=True)) < PLANAR_TOLERANCE)) and bool(
            np.all(np.abs(jac[0]) < PLANAR_TOLERANCE / 10.0)
        )
        self.planar = can_be_planar if planar is None else bool(planar) and can_be_planar
        self.on_planes = False
        if self.planar:
            k = np.clip(depth.mean((1, 2)), 0.0, size[0])
            # every LR slice on an HR slice plane (a canonical frame made with snap_slices puts them there when
            # the spacing allows): ↓s reads that one HR slice, half the decoding of the latent search
            self.on_planes = bool(np.all(np.abs(k - np.round(k)) < ON_PLANE_TOLERANCE))
            if self.on_planes:
                index, alpha = np.round(k).astype(np.int64), np.zeros(len(k))
            else:
                i0 = np.minimum(np.floor(k), size[0] - 1).astype(np.int64)
                index, alpha = np.concatenate([i0, i0 + 1]), k - i0
            self.register_buffer("slice_index", torch.from_numpy(index))
            # the weights of the two HR slices around each LR slice, (1, 2, D, 1, 1, 1) (lower, upper); on planes
            # one slice of weight 1 (forward_selected then skips the blend)
            blend = np.stack([1.0 - alpha, alpha]) if not self.on_planes else np.ones((1, len(k)))
            self.register_buffer("blend", torch.from_numpy(blend).float().view(1, len(blend), -1, 1, 1, 1))
            self.register_buffer("base", torch.from_numpy(coords[..., 1:].copy()).float())
        else:
            self.register_buffer("base", torch.from_numpy(coords.copy()).float())

    def select(self, logits: torch.Tensor) -> torch.Tensor:
        """The HR slices the planar path reads: ``(B, C, 2D, H, W)`` (the two around each LR slice), or
        ``(B, C, D, H, W)`` when every LR slice lies on an HR slice plane (``on_planes``)."""
        return logits.index_select(2, self.slice_index)

    def forward_selected(self, selected: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from the output of :meth:`select` (planar path only)."""
        b, c = selected.shape[:2]
        n, h, w = self.base.shape[:3]
        size = torch.tensor(self.hr_shape, dtype=selected.dtype, device=selected.device) - 1.0
        # slices first, (B, 2D or D, C, H, W): the memory order of FrozenDecoder.slices, so no copy is made there;
        # softmax commutes with picking slices: only the 2 HR slices around each LR slice are needed
        probs = torch.softmax(selected.transpose(1, 2), 2)
        if self.on_planes:
            slab = probs
        else:  # the blend of the two slices as one product and sum: no zero-filled gradient of each half
            slab = (probs.unflatten(1, (2, n)) * self.blend).sum(1)
        offset = d.to(selected.dtype) @ self.jacobian[1:].T.to(selected.dtype)  # (B, D, 2) HR (h, w)
        coords = self.base[None] + offset[:, :, None, None, :]  # (B, D, H, W, 2)
        grid = (2.0 * coords / size[1:] - 1.0).flip(-1).reshape(b * n, h, w, 2)
        slices = slab.reshape(b * n, c, *self.hr_shape[1:])
        out = F.grid_sample(slices, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(b, n, c, h, w).permute(0, 2, 1, 3, 4)

    def forward(self, logits: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``(B, C, D_HR, H_HR, W_HR)`` logits and ``(B, D, 2)`` mm → ``(B, C, D, H, W)`` probabilities."""
        if self.planar:
            return self.forward_selected(self.select(logits), d)
        size = torch.tensor(self.hr_shape, dtype=logits.dtype, device=logits.device) - 1.0
        offset = d.to(logits.dtype) @ self.jacobian.T.to(logits.dtype)  # (B, D, 3)
        coords = self.base[None] + offset[:, :, None, None, :]
        grid = (2.0 * coords / size - 1.0).flip(-1)
        probs = torch.softmax(logits, 1)
        return F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=True)


def simulate_shifts(n_slices: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Draw in-plane slice displacements (mm) of the paper's motion model (§3.2).

    Each slice moves in a uniformly random in-plane direction by an amplitude drawn from a Gaussian of mean
    2.3 mm and standard deviation 0.87 mm (fitted on UK Biobank), times ``scale`` (0 none, 1 normal,
    4 severe). Returns ``(n_slices, 2)`` displacements along (row, column).
    """
    amplitude = np.abs(rng.normal(NORMAL_MOTION_MEAN_MM, NORMAL_MOTION_STD_MM, size=n_slices)) * float(scale)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n_slices)
    return np.stack([amplitude * np.cos(angle), amplitude * np.sin(angle)], 1)


def simulate_view_displacements(n_views: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Draw each long-axis view's own breath-hold displacement of the heart (mm, world ``(x, y, z)``).

    The amplitude follows the paper's in-plane motion model (:func:`simulate_shifts`: a Gaussian of mean
    2.3 mm and standard deviation 0.87 mm, times ``scale``), the direction is uniform in 3D, since a view's
    breath-hold moves the heart through its plane as well as within it. For ``long_axis_view(...,
    displacement_mm=...)``.

    Examples
    --------
    >>> d = simulate_view_displacements(2, 1.0, np.random.default_rng(0))
    >>> d.shape, bool(np.all(np.linalg.norm(d, axis=1) < 6.0))
    ((2, 3), True)
    """
    amplitude = np.abs(rng.normal(NORMAL_MOTION_MEAN_MM, NORMAL_MOTION_STD_MM, size=n_views)) * float(scale)
    direction = rng.normal(size=(n_views, 3))
    return amplitude[:, None] * direction / np.linalg.norm(direction, axis=1, keepdims=True)


def add_segmentation_errors(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """ε of Eq. 1 (simulation only): voxel-wise label errors along boundaries and small topological defects.

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels of an LR stack.
    rate:
        Probability that a boundary pixel takes the label of a neighbour, and expected number of defects
        (a hole inside a structure or an island beside it, 1–2 pixels in radius) per slice. 0 leaves the
        labels unchanged.
    rng:
        Random generator (seeded by the caller).

    Returns
    -------
    numpy.ndarray
        A new label array.
    """
    out = np.array(labels, copy=True)
    if rate <= 0:
        return out
    footprint = ndimage.generate_binary_structure(2, 1)
    for k in range(out.shape[0]):
        s = out[k]
        # boundary errors: a pixel whose 4-neighbourhood has another label copies a random neighbour's label
        neighbour = np.stack([np.roll(s, 1, 0), np.roll(s, -1, 0), np.roll(s, 1, 1), np.roll(s, -1, 1)])
        boundary = np.any(neighbour != s[None], axis=0)
        flip = boundary & (rng.random(s.shape) < rate)
        choice = rng.integers(0, 4, size=s.shape)
        s[flip] = np.take_along_axis(neighbour, choice[None], 0)[0][flip]
        # topological defects
        heart = s > 0
        if not heart.any():
            continue
        for _ in range(rng.poisson(rate)):
            radius = int(rng.integers(1, 3))
            if rng.random() < 0.5:  # hole inside a structure
                candidates = np.argwhere(ndimage.binary_erosion(heart, footprint, iterations=radius + 1))
                value = 0
            else:  # island of a structure near the heart
                near = ndimage.binary_dilation(heart, footprint, iterations=6) & ~ndimage.binary_dilation(
                    heart, footprint, iterations=radius + 2
                )
                candidates = np.argwhere(near)
                value = int(rng.integers(1, N_CLASSES))
            if len(candidates) == 0:
                continue
            cy, cx = candidates[rng.integers(len(candidates))]
            yy, xx = np.ogrid[: s.shape[0], : s.shape[1]]
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            s[disc] = value
    return out


def degrade_labels(
    volume: LabelVolume,
    downsample: Downsample,
    shifts_mm: np.ndarray | None = None,
) -> LabelVolume:
    """Apply ``F`` to a label map: one-hot → :class:`Degradation` → argmax, with the LR stack's affine.

    ``shifts_mm`` (``(D_LR, 2)``, mm along the LR rows/columns) defaults to no motion.
    """
    hr = torch.from_numpy(volume.one_hot())[None]
    d = None if shifts_mm is None else torch.as_tensor(np.asarray(shifts_mm), dtype=torch.float32)
    with torch.no_grad():
        lr = Degradation(downsample)(hr, d)[0].argmax(0).numpy().astype(np.uint8)
    return volume.with_array(lr, downsample.lr_affine.copy())


def degrade_with_motion(
    volume: LabelVolume, scale: float, rng: np.random.Generator, factor: int = 5
) -> tuple[LabelVolume, np.ndarray]:
    """Eq. 1 without ε: ↓s by ``factor`` along the slice axis, a fresh motion draw (:func:`simulate_shifts`
    with ``scale``: 0 none, 1 normal, 4 severe), M_d. Returns the stack and its shifts ``(D_LR, 2)`` mm.

    The one place that makes a moving clinical-style stack (simulated cohorts, EDSR pairs, the demo).
    """
    down = Downsample.from_factor(volume.affine, volume.shape, (factor, 1, 1))
    shifts = simulate_shifts(down.lr_shape[0], scale, rng)
    return degrade_labels(volume, down, shifts), shifts


def degrade_cine_with_motion(
    frames: list[LabelVolume], scale: float, rng: np.random.Generator, factor: int = 5, jitter_mm: float = 0.0
) -> tuple[list[LabelVolume], np.ndarray]:
    """Eq. 1 for every frame of a cine with **one** motion draw per slice shared by all frames (each slice is
    acquired in one breath-hold over the whole cycle), plus optional per-frame jitter (Gaussian, ``jitter_mm``
    per axis). Returns the stacks and the shared shifts ``(D_LR, 2)`` mm."""
    down = Downsample.from_factor(frames[0].affine, frames[0].shape, (factor, 1, 1))
    shifts = simulate_shifts(down.lr_shape[0], scale, rng)
    stacks = []
    for frame in frames:
        d = shifts + rng.normal(0.0, jitter_mm, shifts.shape) if jitter_mm > 0 else shifts
        stacks.append(degrade_labels(frame, down, d))
    return stacks, shifts


def downsample_slices(volume: LabelVolume, factor: int = 5) -> LabelVolume:
    """↓s along the slice axis only, without motion: a clinical-style stack of ``factor``-times thicker slices.

    With an odd ``factor`` LR slice ``i`` is exactly HR slice ``factor*i + factor//2``, and the LR affine
    places it at that slice's world position.

    Examples
    --------
    >>> import numpy as np
    >>> hr = LabelVolume(np.zeros((64, 8, 8), np.uint8), np.diag([2.0, 1.25, 1.25, 1.0]))
    >>> lr = downsample_slices(hr, 5)
    >>> lr.shape, lr.spacing.tolist(), float(lr.affine[0, 3])
    ((12, 8, 8), [10.0, 1.25, 1.25], 4.0)
    """
    if int(factor) < 1 or volume.shape[0] // int(factor) < 1:
        raise InputError(f"cannot down-sample {volume.shape[0]} slices by a factor of {factor}", volume.path)
    return degrade_labels(volume, Downsample.from_factor(volume.affine, volume.shape, (int(factor), 1, 1)))


def drop_odd_slices(volume: LabelVolume) -> LabelVolume:
    """The even-numbered slices of a stack (0, 2, 4, ...) with the affine of that sub-stack (slices twice as far
    apart): the drop-slice protocol of the real-data benchmark and of ``train-prior --stacks``'s validation.

    Examples
    --------
    >>> import numpy as np
    >>> stack = LabelVolume(np.zeros((5, 4, 4), np.uint8), np.diag([10.0, 1.5, 1.5, 1.0]))
    >>> sub = drop_odd_slices(stack)
    >>> sub.shape, sub.spacing.tolist()
    ((3, 4, 4), [20.0, 1.5, 1.5])
    """
    return volume.with_array(volume.array[::2].copy(), volume.affine @ np.diag([2.0, 1.0, 1.0, 1.0]))


def long_axis_view(
    hr: LabelVolume,
    *,
    view: str = "4ch",
    offset_mm: float = 0.0,
    displacement_mm: Sequence[float] | np.ndarray | None = None,
    pixel_mm: float = 1.5,
    size: int = 140,
    thickness_mm: float = 2.0,
) -> LabelVolume:
    """A four- or two-chamber-like long-axis view of an HR label map (simulation, like the views of the paper's §3.3).

    Both planes hold ``hr``'s slice axis. The four-chamber-like plane (``view='4ch'``) also holds the direction
    from the LV's centre to the RV's (made perpendicular to the slice axis) and passes through the heart's
    centre; the two-chamber-like plane (``'2ch'``) is perpendicular to it and passes through the LV blood pool's
    centre, so it cuts the LV's anterior and inferior walls and not the RV. Either is moved by ``offset_mm``
    along its normal. Labels are sampled by nearest neighbour. ``displacement_mm`` simulates a view acquired in
    its own breath-hold: the plane stays where it was planned on ``hr`` and the heart it shows is moved by
    that world vector (the part along the normal changes the cut, the rest moves the labels in the view).

    Parameters
    ----------
    hr:
        Internal labels with LV and RV present, slices along axis 0.
    view:
        ``'4ch'`` (default) or ``'2ch'``.
    offset_mm:
        Distance of the plane from its centre (the heart's, or the LV blood pool's) along its normal, mm.
    displacement_mm:
        World translation ``(x, y, z)`` of the heart during this view's acquisition, mm (default: none).
    pixel_mm, size:
        Pixel size (mm) and side (pixels) of the square view.
    thickness_mm:
        Voxel size along the normal written in the view's affine, mm.

    Returns
    -------
    LabelVolume
        One slice ``(1, size, size)`` with its affine (axis 1 along the slice axis of ``hr``).

    Raises
    ------
    ValueError
        For a ``view`` other than ``'4ch'`` and ``'2ch'``.

    Examples
    --------
    >>> lab = np.zeros((20, 30, 30), np.uint8); lab[2:18, 5:15, 8:14] = 1; lab[2:18, 15:25, 8:14] = 3
    >>> view = long_axis_view(LabelVolume(lab, np.eye(4)), pixel_mm=1.0, size=40)
    >>> view.shape, sorted(np.unique(view.array).tolist())
    ((1, 40, 40), [0, 1, 3])
    >>> sorted(np.unique(long_axis_view(LabelVolume(lab, np.eye(4)), view="2ch", size=40).array).tolist())
    [0, 1]
    """
    if view not in ("4ch", "2ch"):
        raise ValueError(f"view must be '4ch' or '2ch', got {view!r}")
    axes = unit_columns(hr.affine)
    centre = (hr.affine @ np.r_[np.argwhere(hr.array > 0).mean(0), 1.0])[:3]
    lv = (hr.affine @ np.r_[np.argwhere(hr.array == 1).mean(0), 1.0])[:3]
    rv = (hr.affine @ np.r_[np.argwhere(hr.array == 3).mean(0), 1.0])[:3]
    along = axes[:, 0]
    across = (rv - lv) - ((rv - lv) @ along) * along
    across /= np.linalg.norm(across)
    if view == "2ch":
        across, centre = np.cross(along, across), lv
    normal = np.cross(along, across)
    affine = np.eye(4)
    affine[:3, 0] = normal * thickness_mm
    affine[:3, 1] = along * pixel_mm
    affine[:3, 2] = across * pixel_mm
    affine[:3, 3] = centre + offset_mm * normal - (size - 1) / 2 * pixel_mm * (along + across)
    # the heart moved by d shows on the planned plane what the still heart shows on the plane moved by -d
    sampled = affine.copy()
    if displacement_mm is not None:
        sampled[:3, 3] -= np.asarray(displacement_mm, float)
    return LabelVolume(resample_labels(hr.array, hr.affine, (1, size, size), sampled), affine)
