"""Light, anatomy-preserving augmentation of canonical label maps for prior training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cardiosr.geometry import CANONICAL_SHAPE, CANONICAL_SPACING, REFERENCE_LV_TO_RV_ANGLE_DEG


class RandomInPlaneAffine:
    """Random in-plane rotation and scaling about the grid centre, optionally mirrored and tilted.

    Without a tilt the slice (apex→base) axis is left alone. The tilt rotates the heart about an in-plane
    axis through the grid centre (in millimetres, on the canonical spacing), so that its long axis leans
    against the slice normal by a further angle: its direction is uniform and its size is uniform over the
    disc of radius ``max_tilt_deg`` (the angle is ``max_tilt_deg · √u``), so that no tilt within that disc is
    favoured. Mirroring reflects across the plane spanned by the long
    axis and the canonical LV→RV direction, so the LV→RV direction is kept and only the handedness
    (which side the anterior wall is on) flips: real files' handedness cannot always be trusted.
    Labels are resampled with nearest neighbour; what comes in from outside the grid is background.

    Parameters
    ----------
    max_rotation_deg : float
        Rotations are uniform in ``[-max_rotation_deg, max_rotation_deg]`` degrees.
    max_scaling : float
        In-plane scale factors are uniform in ``[1 - max_scaling, 1 + max_scaling]``.
    mirror_probability : float
        Probability of the handedness mirror (0 disables it).
    max_tilt_deg : float
        Radius of the disc of tilts, degrees (0 disables it and draws no random numbers for it).

    Examples
    --------
    >>> import torch
    >>> labels = torch.zeros(2, 64, 128, 128, dtype=torch.uint8)
    >>> RandomInPlaneAffine()(labels, torch.Generator().manual_seed(0)).shape
    torch.Size([2, 64, 128, 128])
    """

    def __init__(
        self,
        max_rotation_deg: float = 10.0,
        max_scaling: float = 0.1,
        mirror_probability: float = 0.0,
        max_tilt_deg: float = 0.0,
    ):
        self.max_rotation_deg = float(max_rotation_deg)
        self.max_scaling = float(max_scaling)
        self.mirror_probability = float(mirror_probability)
        self.max_tilt_deg = float(max_tilt_deg)

    def matrices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``affine_grid`` matrices (n, 3, 4) mapping output to input normalised coordinates (x=W, y=H, z=D)."""
        u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
        angle = torch.deg2rad((2 * u[:, 0] - 1) * self.max_rotation_deg)
        scale = 1 + (2 * u[:, 1] - 1) * self.max_scaling
        mirror = u[:, 2] < self.mirror_probability
        theta = torch.zeros(n, 3, 4, dtype=torch.float64)
        c, s = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = c, -s, s, c
        theta[:, 2, 2] = 1.0
        # Reflection across the LV→RV line: in (x=w, y=h) the direction is (sin a, cos a).
        a = math.radians(REFERENCE_LV_TO_RV_ANGLE_DEG)
        d = torch.tensor([math.sin(a), math.cos(a)], dtype=torch.float64)
        reflect = 2 * torch.outer(d, d) - torch.eye(2, dtype=torch.float64)
        theta[mirror, :2, :2] = theta[mirror, :2, :2] @ reflect
        if self.max_tilt_deg > 0:
            theta[:, :, :3] = theta[:, :, :3] @ self.tilts(n, generator)
        return theta

    def tilts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Random tilts as (n, 3, 3) matrices on normalised coordinates (x=W, y=H, z=D) of the canonical grid."""
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        angle = torch.deg2rad(self.max_tilt_deg * torch.sqrt(u[:, 0]))
        azimuth = 2 * math.pi * u[:, 1]
        # Rodrigues' formula about the in-plane unit axis k = (-sin φ, cos φ, 0), in millimetres.
        k = torch.stack([-torch.sin(azimuth), torch.cos(azimuth), torch.zeros(n, dtype=torch.float64)], dim=1)
        cross = torch.zeros(n, 3, 3, dtype=torch.float64)
        cross[:, 0, 2], cross[:, 1, 2] = k[:, 1], -k[:, 0]
        cross[:, 2, 0], cross[:, 2, 1] = -k[:, 1], k[:, 0]
        s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
        rotation = torch.eye(3, dtype=torch.float64) + s * cross + (1 - c) * cross @ cross
        # Normalised coordinates of affine_grid are millimetres over the half extents of the grid.
        half = (
            torch.tensor(CANONICAL_SHAPE[::-1], dtype=torch.float64)
            * torch.tensor(CANONICAL_SPACING[::-1], dtype=torch.float64)
            / 2
        )
        return torch.diag(1 / half) @ rotation @ torch.diag(half)

    def __call__(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch of label maps ``(B, D, H, W)`` (integers); returns int64 labels, same shape."""
        theta = self.matrices(labels.shape[0], generator).to(device=labels.device, dtype=torch.float32)
        grid = F.affine_grid(theta, [labels.shape[0], 1, *labels.shape[1:]], align_corners=False)
        out = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
        return out[:, 0].round().long()
