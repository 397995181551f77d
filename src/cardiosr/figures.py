"""Figures: three orthogonal views of label maps (matplotlib, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from cardiosr.io import atomic_path  # noqa: E402
from cardiosr.volume import LabelVolume  # noqa: E402

#: Colours of background, LV, MYO, RV.
LABEL_COLOURS = ListedColormap(["#000000", "#e4572e", "#f3c623", "#2e86ab"])


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Lay out ``fig``, write it as PNG atomically (temp file + rename) and close it."""
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _views(vol: LabelVolume, centre: Sequence[float] | None) -> list[tuple[np.ndarray, float]]:
    """Three central sections (D-H, D-W, H-W planes) with their pixel aspect ratios."""
    a = vol.array
    if centre is None:
        idx = np.argwhere(a > 0)
        centre = idx.mean(0) if idx.size else (np.asarray(a.shape) - 1) / 2
    d, h, w = (int(round(c)) for c in centre)
    d, h, w = (int(np.clip(v, 0, n - 1)) for v, n in zip((d, h, w), a.shape, strict=True))
    sd, sh, sw = vol.spacing
    return [(a[d], sh / sw), (a[:, h, :], sd / sw), (a[:, :, w], sd / sh)]


def _draw_views(
    axes: Sequence[plt.Axes], vol: LabelVolume, centre: Sequence[float] | None, title: str, column_titles: bool
) -> None:
    """Draw the three sections of :func:`_views` into three axes of a row."""
    for col, (section, aspect) in enumerate(_views(vol, centre)):
        ax = axes[col]
        ax.imshow(section, cmap=LABEL_COLOURS, vmin=0, vmax=3, interpolation="nearest", aspect=aspect, origin="lower")
        ax.set_xticks([])
        ax.set_yticks([])
        if col == 0:
            ax.set_ylabel(title)
        if column_titles:
            ax.set_title(["short axis (H-W)", "through-plane (D-W)", "through-plane (D-H)"][col])


def save_orthogonal_views(
    volumes: Sequence[LabelVolume],
    titles: Sequence[str],
    path: str | os.PathLike,
    suptitle: str | None = None,
) -> Path:
    """Write a PNG with one row per volume and three orthogonal sections through its heart centre.

    Columns: short-axis plane (H-W), and the two long-axis-like planes (D-W and D-H), shown with their
    physical aspect ratio (thick slices look thick). Colours: LV red, MYO yellow, RV blue.
    """
    fig, axes = plt.subplots(len(volumes), 3, figsize=(9, 3 * len(volumes)), squeeze=False)
    for row, (vol, title) in enumerate(zip(volumes, titles, strict=True)):
        _draw_views(axes[row], vol, None, title, column_titles=row == 0)
    if suptitle:
        fig.suptitle(suptitle)
    return save_figure(fig, path)


def save_simulation_figure(hr: LabelVolume, lr: LabelVolume, shifts_mm: np.ndarray, path: str | os.PathLike) -> Path:
    """HR ground truth, the LR stack (through-plane sections at their physical aspect) and the shifts per slice."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    hr_views, lr_views = _views(hr, None), _views(lr, None)
    for ax, (section, aspect), title in zip(
        axes[:3],
        [hr_views[1], lr_views[1], lr_views[0]],
        ["HR ground truth (D-W)", "LR stack (D-W)", "LR stack, one slice (H-W)"],
        strict=True,
    ):
        ax.imshow(section, cmap=LABEL_COLOURS, vmin=0, vmax=3, interpolation="nearest", aspect=aspect, origin="lower")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    k = np.arange(len(shifts_mm))
    axes[3].plot(k, shifts_mm[:, 0], "o-", label="row (H)")
    axes[3].plot(k, shifts_mm[:, 1], "s-", label="column (W)")
    axes[3].plot(k, np.linalg.norm(shifts_mm, axis=1), "k:", label="amplitude")
    axes[3].set_xlabel("LR slice (apex → base)")
    axes[3].set_ylabel("shift (mm)")
    axes[3].legend(fontsize=8)
    axes[3].set_title("true in-plane shifts")
    return save_figure(fig, path)


def save_enhance_figure(result: Any, path: str | os.PathLike) -> Path:
    """The figure of ``cardiosr enhance``: input and result in three orthogonal views, the shifts, and the
    long-axis overlay when long-axis views were given.

    Rows: the input stack (thick slices at their physical aspect), the super-resolved result on the same
    axes, then one row per long-axis view: its labels, the result sliced on its plane, and their
    disagreement. The last panel of the first row plots the estimated shifts per slice.
    """
    n_la = len(result.la)
    fig, axes = plt.subplots(2 + n_la, 4, figsize=(13, 3.2 * (2 + n_la)), squeeze=False)
    centre_world = result.frame.centre
    for row, (vol, title) in enumerate(((result.sa, "input stack"), (result.sr, "result"))):
        centre = (np.linalg.inv(vol.affine) @ np.r_[centre_world, 1.0])[:3]
        _draw_views(axes[row], vol, centre, title, column_titles=row == 0)
    shifts = result.shifts_mm
    k = np.arange(len(shifts))
    ax = axes[0, 3]
    ax.plot(k, shifts[:, 0], "o-", label="row (H)")
    ax.plot(k, shifts[:, 1], "s-", label="column (W)")
    ax.set_xlabel("input slice")
    ax.set_ylabel("estimated shift (mm)")
    ax.set_title("slice shifts")
    ax.legend(fontsize=8)
    q = result.optimisation.history
    axes[1, 3].semilogy([h["total"] for h in q], "k-")
    axes[1, 3].set_xlabel("iteration (latent search, then refinement)")
    axes[1, 3].set_title("loss L (Eq. 5)")
    for i, (view, section) in enumerate(zip(result.la, result.la_sections, strict=True)):
        row = 2 + i
        spacing = view.spacing[1:]
        aspect = spacing[0] / spacing[1]
        panels = [(view.array[0], f"long-axis view {i}"), (section, "result on that plane")]
        for col, (image, title) in enumerate(panels):
            axes[row, col].imshow(
                image, cmap=LABEL_COLOURS, vmin=0, vmax=3, interpolation="nearest", aspect=aspect, origin="lower"
            )
            axes[row, col].set_title(title)
        differ = (view.array[0] != section) & ((view.array[0] > 0) | (section > 0))
        axes[row, 2].imshow(view.array[0] > 0, cmap="gray", aspect=aspect, origin="lower", alpha=0.6)
        axes[row, 2].imshow(np.ma.masked_where(~differ, differ), cmap="autumn", aspect=aspect, origin="lower")
        axes[row, 2].set_title("disagreement (red)")
        for col in range(4):
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[row, 3].axis("off")
    return save_figure(fig, path)


def save_volume_curves(
    input_ml: dict[str, Sequence[float]],
    result_ml: dict[str, Sequence[float]],
    result_frames: Sequence[int],
    path: str | os.PathLike,
    time_step_ms: float | None = None,
) -> Path:
    """Volume curves of a cine: LV and RV cavity volumes (mL) per frame, of the input (voxel counts × voxel
    volume of the thick-slice stack) and of the result, one panel per structure."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))  # save_figure lays it out
    step = time_step_ms or 1.0
    unit = "ms" if time_step_ms else "frame"
    for ax, key, title in zip(axes, ("LV_ml", "RV_ml"), ("LV cavity", "RV cavity"), strict=True):
        x_in = np.arange(len(input_ml[key])) * step
        ax.plot(x_in, input_ml[key], "o--", color="0.5", label="input (voxel count)")
        ax.plot(np.asarray(result_frames) * step, result_ml[key], "o-", color="C3", label="cardiosr enhance")
        ax.set_title(title)
        ax.set_xlabel(f"time ({unit})")
        ax.set_ylabel("volume (mL)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)
