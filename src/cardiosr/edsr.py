"""The learning-based baseline of the paper's §2.1: a 3D EDSR trained on simulated LR → HR pairs.

:class:`EDSR3D` follows Lim et al. (2017) in 3D: a head convolution, residual blocks without batch
normalisation (conv–ReLU–conv, scaled by ``res_scale``), a global skip, then a learned up-sampling along
the slice axis only (a convolution to ``factor × n_feats`` channels rearranged into ``factor`` times more
slices, the 1D analogue of sub-pixel convolution) and a tail convolution to the class logits. All residual
blocks run at the stack's own (low) resolution, which keeps it trainable on a CPU.

The model maps a one-hot stack ``(B, 4, D, H, W)`` with in-plane voxels of ``in_plane_mm`` to logits
``(B, 4, factor·D, H, W)``; output slice ``j`` lies at stack position ``(j - (factor-1)/2) / factor``, so
for ``factor = 5`` slice ``5i + 2`` lies on input slice ``i`` (the convention of
:func:`cardiosr.degradation.lr_affine`). The paper trains one model per motion pattern
(:func:`train_edsr`, ``cardiosr train-edsr``).

Checkpoints are ``.safetensors`` files with JSON metadata under ``"cardiosr_edsr"``, like priors: loading
(:func:`load_edsr`) never runs code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from cardiosr.degradation import degrade_with_motion
from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SPACING, resample_labels, resample_probabilities, unit_columns
from cardiosr.io import read_safetensors_metadata, save_safetensors, write_json
from cardiosr.labels import N_CLASSES
from cardiosr.prior.train import one_hot_tensor
from cardiosr.volume import LabelVolume

#: Header key of the metadata JSON inside a ``.safetensors`` EDSR checkpoint.
METADATA_KEY = "cardiosr_edsr"
#: File name of the model inside a training folder.
EDSR_FILE = "edsr.safetensors"


class DepthShuffle(nn.Module):
    """Rearrange ``(B, C·f, D, H, W)`` into ``(B, C, D·f, H, W)``: sub-pixel convolution along the slice axis."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = int(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, cf, d, h, w = x.shape
        c = cf // self.factor
        return x.view(b, c, self.factor, d, h, w).permute(0, 1, 3, 2, 4, 5).reshape(b, c, d * self.factor, h, w)


class ResidualBlock(nn.Module):
    """EDSR's residual block: ``x + res_scale · conv(relu(conv(x)))`` (no batch normalisation)."""

    def __init__(self, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(n_feats, n_feats, 3, padding=1), nn.ReLU(inplace=True), nn.Conv3d(n_feats, n_feats, 3, padding=1)
        )
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR3D(nn.Module):
    """3D EDSR for label maps with learned up-sampling along the slice axis.

    Parameters
    ----------
    factor:
        Up-sampling factor along the slice axis (paper: 5, from 10 mm to 2 mm).
    n_feats:
        Feature channels of the residual blocks.
    n_blocks:
        Residual blocks.
    res_scale:
        Residual scaling of each block (EDSR: 0.1).
    in_plane_mm:
        In-plane voxel size the model was trained at (mm); inputs are resampled to it.

    Examples
    --------
    >>> import torch
    >>> model = EDSR3D(factor=5, n_feats=8, n_blocks=2)
    >>> model(torch.zeros(1, 4, 3, 16, 16)).shape
    torch.Size([1, 4, 15, 16, 16])
    """

    def __init__(
        self,
        factor: int = 5,
        n_feats: int = 16,
        n_blocks: int = 4,
        res_scale: float = 0.1,
        in_plane_mm: float = float(CANONICAL_SPACING[1]),
    ) -> None:
        super().__init__()
        if factor < 1 or n_feats < 1 or n_blocks < 0:
            raise ValueError(f"invalid EDSR size: factor {factor}, n_feats {n_feats}, n_blocks {n_blocks}")
        self.factor, self.n_feats, self.n_blocks = int(factor), int(n_feats), int(n_blocks)
        self.res_scale, self.in_plane_mm = float(res_scale), float(in_plane_mm)
        self.head = nn.Conv3d(N_CLASSES, n_feats, 3, padding=1)
        self.body = nn.Sequential(
            *[ResidualBlock(n_feats, res_scale) for _ in range(n_blocks)], nn.Conv3d(n_feats, n_feats, 3, padding=1)
        )
        self.upsample = nn.Sequential(nn.Conv3d(n_feats, n_feats * factor, 3, padding=1), DepthShuffle(factor))
        self.tail = nn.Conv3d(n_feats, N_CLASSES, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot stack ``(B, 4, D, H, W)`` → logits ``(B, 4, factor·D, H, W)``."""
        h = self.head(x)
        h = h + self.body(h)
        return self.tail(self.upsample(h))

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored in the checkpoint's metadata)."""
        return {
            "factor": self.factor,
            "n_feats": self.n_feats,
            "n_blocks": self.n_blocks,
            "res_scale": self.res_scale,
            "in_plane_mm": self.in_plane_mm,
        }


# --- inference ----------------------------------------------------------------------------------------


def _input_grid(lr: LabelVolume, affine: np.ndarray, shape: tuple[int, int, int], step_mm: float) -> tuple:
    """The grid the model reads: the stack's slices, sampled in-plane along the target's in-plane axes.

    Returns ``(shape, affine)``: ``D`` = the stack's slices (ordered along the target's ``D`` axis), in-plane
    voxels of ``step_mm`` covering the target's in-plane field of view.
    """
    target_axes = unit_columns(affine)
    slice_dir = unit_columns(lr.affine)[:, 0]
    if abs(float(slice_dir @ target_axes[:, 0])) < 0.999:
        raise InputError("the stack's slices are not parallel to the target grid's planes", lr.path)
    sign = 1.0 if float(slice_dir @ target_axes[:, 0]) > 0 else -1.0
    first = 0 if sign > 0 else lr.shape[0] - 1
    target_spacing = np.linalg.norm(affine[:3, :3], axis=0)
    n_h = int(np.ceil(shape[1] * target_spacing[1] / step_mm))
    n_w = int(np.ceil(shape[2] * target_spacing[2] / step_mm))
    grid = np.eye(4)
    grid[:3, 0] = sign * lr.affine[:3, 0]
    grid[:3, 1] = target_axes[:, 1] * step_mm
    grid[:3, 2] = target_axes[:, 2] * step_mm
    origin = affine[:3, 3] - 0.5 * (target_axes[:, 1] * target_spacing[1] + target_axes[:, 2] * target_spacing[2])
    origin = origin + 0.5 * (grid[:3, 1] + grid[:3, 2])  # same outer corner as the target
    centre_first = (lr.affine @ np.array([first, 0, 0, 1.0]))[:3]
    origin = origin + ((centre_first - origin) @ slice_dir) * slice_dir  # onto the first slice's plane
    grid[:3, 3] = origin
    return (lr.shape[0], n_h, n_w), grid


def edsr_upsample(
    model: EDSR3D,
    lr: LabelVolume,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Class probabilities ``(4, *shape)`` of the EDSR up-sampling of a stack on a target grid.

    The stack is resampled in-plane onto the model's voxel size along the target's in-plane axes (its
    slices are kept), passed through the model, and the up-sampled output (slices ``factor`` times
    thinner) is resampled onto the target grid; outside the stack's slab the result is background.

    Parameters
    ----------
    model:
        A trained :class:`EDSR3D` (see :func:`load_edsr`).
    lr:
        The low-resolution stack (internal labels, with its affine); its slices must be parallel to the
        target grid's ``H``-``W`` planes (true of the canonical grid of that stack).
    shape, affine:
        Target grid (voxels) and its voxel → world (mm) affine.
    """
    in_shape, in_affine = _input_grid(lr, affine, shape, model.in_plane_mm)
    stack = resample_labels(lr.array, lr.affine, in_shape, in_affine)
    x = torch.from_numpy((np.arange(N_CLASSES).reshape(-1, 1, 1, 1) == stack[None]).astype(np.float32))[None]
    model = model.to(device).eval()
    with torch.no_grad():
        probs = torch.softmax(model(x.to(device)), 1)[0].cpu().numpy()
    f = model.factor
    up = np.eye(4)
    up[0, 0] = 1.0 / f
    up[0, 3] = -(f - 1.0) / (2.0 * f)
    return resample_probabilities(probs, in_affine @ up, shape, affine)


# --- training -----------------------------------------------------------------------------------------


@dataclass
class EDSRTrainConfig:
    """Hyper-parameters of :func:`train_edsr` (defaults: the benchmark's models, see ``docs/benchmarks.md``).

    Parameters
    ----------
    motion_scale : float
        Motion amplitude of the simulated pairs, as a multiple of normal motion (0 none, 1 normal, 4 severe).
    factor : int
        Down-sampling factor along the slice axis of the pairs and up-sampling factor of the model.
    n_feats, n_blocks : int
        Model size (:class:`EDSR3D`).
    steps : int
        Optimiser steps.
    batch_size : int
        Pairs per step.
    patch : int
        In-plane side of the random training crops (voxels); all slices are used.
    lr : float
        Adam learning rate (cosine-decayed to a tenth).
    seed : int
        Seeds initialisation, crops and the simulated motion (a new draw every time a case is used).
    """

    motion_scale: float = 1.0
    factor: int = 5
    n_feats: int = 16
    n_blocks: int = 4
    steps: int = 1000
    batch_size: int = 2
    patch: int = 64
    lr: float = 1e-3
    seed: int = 0


def simulate_pair(
    hr: np.ndarray, hr_affine: np.ndarray, scale: float, factor: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One LR → HR training pair: Eq. 1 with a fresh motion draw; the HR slices the stack covers.

    Returns ``(lr, hr_target)``: ``(D_LR, H, W)`` and ``(factor·D_LR, H, W)`` internal labels.
    """
    lr = degrade_with_motion(LabelVolume(hr, hr_affine), scale, rng, factor)[0].array
    return lr, hr[: lr.shape[0] * factor]


def train_edsr(
    hr_data: np.ndarray,
    hr_affine: np.ndarray,
    config: EDSRTrainConfig,
    output: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int, float], None] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> tuple[EDSR3D, list[dict[str, float]]]:
    """Train an :class:`EDSR3D` on LR → HR pairs simulated from ``hr_data`` with one motion pattern.

    Parameters
    ----------
    hr_data:
        ``(N, D, H, W)`` HR label maps on one grid (e.g. canonical phantoms).
    hr_affine:
        Their voxel → world affine (gives the voxel size; shifts are in mm).
    config:
        :class:`EDSRTrainConfig`.
    output:
        Folder to write ``edsr.safetensors`` (+ ``edsr.json``) and ``history.json`` into; ``None`` writes nothing.
    progress:
        Called as ``progress(step, steps, loss)``.

    Returns
    -------
    (EDSR3D, list)
        The trained model (eval mode) and the loss history (one row per 50 steps).
    """
    if len(hr_data) < 1:
        raise InputError("EDSR training needs at least one HR label map")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    spacing = np.linalg.norm(np.asarray(hr_affine)[:3, :3], axis=0)
    model = EDSR3D(config.factor, config.n_feats, config.n_blocks, in_plane_mm=float(spacing[1])).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(config.steps, 1), eta_min=config.lr / 10)
    _, h, w = hr_data.shape[1:]
    patch_h, patch_w = min(config.patch, h), min(config.patch, w)
    history: list[dict[str, float]] = []
    start, running = time.perf_counter(), []
    model.train()
    for step in range(1, config.steps + 1):
        xs, ys = [], []
        for _ in range(config.batch_size):
            lr, target = simulate_pair(
                hr_data[rng.integers(len(hr_data))], hr_affine, config.motion_scale, config.factor, rng
            )
            r0, c0 = int(rng.integers(h - patch_h + 1)), int(rng.integers(w - patch_w + 1))
            xs.append(lr[:, r0 : r0 + patch_h, c0 : c0 + patch_w])
            ys.append(target[:, r0 : r0 + patch_h, c0 : c0 + patch_w])
        x = torch.from_numpy(np.stack(xs)).long().to(device)
        y = torch.from_numpy(np.stack(ys)).long().to(device)
        x = one_hot_tensor(x)
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        running.append(value)
        if progress is not None:
            progress(step, config.steps, value)
        if step % 50 == 0 or step == config.steps:
            history.append({"step": step, "loss": float(np.mean(running)), "seconds": time.perf_counter() - start})
            running = []
    model.eval()
    if output is not None:
        out = Path(output)
        meta = {
            "format": "cardiosr-edsr",
            "format_version": 1,
            "model": model.config(),
            "training": {
                **asdict(config),
                "cases": int(len(hr_data)),
                "seconds": round(time.perf_counter() - start, 1),
            },
            **(extra_metadata or {}),
        }
        save_edsr(model, out / EDSR_FILE, meta)
        write_json(out / "edsr.json", meta)
        write_json(out / "history.json", history)
    return model, history


# --- checkpoints --------------------------------------------------------------------------------------


def save_edsr(model: EDSR3D, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``metadata`` (JSON in the header) to ``path`` atomically."""
    return save_safetensors(model, path, METADATA_KEY, metadata)


def load_edsr(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[EDSR3D, dict[str, Any]]:
    """Load an EDSR checkpoint (a ``.safetensors`` file or a ``train-edsr`` folder) in eval mode.

    Raises :class:`~cardiosr.errors.InputError` (one line) for a missing or unreadable file, missing or
    invalid metadata, or weights that do not fit the architecture it describes.
    """
    path = Path(path)
    if path.is_dir():
        path = path / EDSR_FILE
    if not path.is_file():
        raise InputError("no such EDSR checkpoint", path)
    meta = read_safetensors_metadata(path, METADATA_KEY, "EDSR checkpoint")
    try:
        model = EDSR3D(**meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"EDSR metadata does not describe a model ({' '.join(str(exc).split())})", path) from None
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        raise InputError(
            f"weights do not match the EDSR in the metadata: {lines[min(1, len(lines) - 1)].strip()}", path
        ) from None
    return model.to(device).eval(), meta
