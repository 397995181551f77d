"""Light, anatomy-preserving augmentation of canonical label maps for prior training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cardiosr.geometry import REFERENCE_LV_TO_RV_ANGLE_DEG


class RandomInPlaneAffine:
    """Random in-plane rotation and scaling about the grid centre, optionally mirrored.

    The slice (apex→base) axis is left alone. Mirroring reflects across the plane spanned by the long
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

    Examples
    --------
    >>> import torch
    >>> labels = torch.zeros(2, 64, 128, 128, dtype=torch.uint8)
    >>> RandomInPlaneAffine()(labels, torch.Generator().manual_seed(0)).shape
    torch.Size([2, 64, 128, 128])
    """

    def __init__(self, max_rotation_deg: float = 10.0, max_scaling: float = 0.1, mirror_probability: float = 0.0):
        self.max_rotation_deg = float(max_rotation_deg)
        self.max_scaling = float(max_scaling)
        self.mirror_probability = float(mirror_probability)

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
        return theta

    def __call__(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch of label maps ``(B, D, H, W)`` (integers); returns int64 labels, same shape."""
        theta = self.matrices(labels.shape[0], generator).to(device=labels.device, dtype=torch.float32)
        grid = F.affine_grid(theta, [labels.shape[0], 1, *labels.shape[1:]], align_corners=False)
        out = F.grid_sample(labels[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
        return out[:, 0].round().long()
