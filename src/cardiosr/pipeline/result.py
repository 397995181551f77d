"""The result of one subject and its files: :class:`Result`, written as one set through a staging folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardiosr import output_folder
from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame
from cardiosr.io import default_mode, save_labels, save_scalar_map, write_csv, write_json
from cardiosr.metrics import clinical_volumes, plausibility
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.result import OptimisationResult
from cardiosr.version import __version__
from cardiosr.volume import LabelVolume


@dataclass
class Result:
    """What :func:`enhance` returns for one subject.

    Attributes
    ----------
    sr:
        The super-resolved label map in the input's world frame, at 2×1.25×1.25 mm along the input's own
        axes, covering the input's field of view (label convention and on-disk axis order of the input).
    sr_canonical:
        The same on the prior's canonical grid (64×128×128, 2×1.25×1.25 mm) with its world affine.
    shifts_mm:
        ``(D, 2)`` estimated in-plane shift of every input slice along its rows and columns (mm; the
        slice content was moved by ``+d``); ``NaN`` for slices without heart labels.
    shifts_world_mm:
        ``(D, 3)`` the same as world (RAS+) vectors.
    gauge:
        How the common translation is fixed (see :mod:`cardiosr.optimise`).
    optimisation:
        The :class:`~cardiosr.optimise.OptimisationResult` (loss history, iterations, ``z``, ...).
    consistency_dice:
        Dice per structure between the input stack and the result degraded onto it with the estimated
        shifts (how well the result explains the data).
    qc:
        ``{'flag': bool, 'reasons': [...]}``: flagged when the final loss is abnormally high.
    seconds:
        Wall time for this subject from the loaded files to the result in the world frame (setting up,
        optimising, mapping back; a batch's time is shared equally; reading files and the prior excluded).
    uncertainty:
        With restarts: the share of restarts disagreeing with the most common label per voxel, in the
        world frame of :attr:`sr` (``None`` otherwise).
    method:
        ``'lo'`` (latent optimisation) or the baseline that made the result (``'nn'``, ``'sbi'``, ``'edsr'``).
    warnings:
        Every one-line warning about this subject: reading the files (header, slice axis, convention),
        the stack (missing slices, coverage), the views' agreement and implausible results.
    input_checks:
        What was checked before optimising: ``missing_slices`` (empty slices between labelled ones, left
        out of the loss and filled by the prior), ``coverage`` (whether the heart reaches the first or
        last slice) and ``view_agreement`` (Dice per long-axis view where it crosses the stack).
    la_evaluation:
        Per long-axis view given for evaluation (and per view used in the optimisation): ``{'path',
        'used_in_optimisation', 'dice': {'LV', 'MYO', 'RV'}}``, :attr:`sr` sliced along the view's plane
        against its labels (the paper's Table 3 protocol).
    """

    sa: LabelVolume
    la: list[LabelVolume]
    frame: CanonicalFrame
    sr: LabelVolume
    sr_canonical: LabelVolume
    shifts_mm: np.ndarray
    shifts_world_mm: np.ndarray
    gauge: str
    optimisation: OptimisationResult
    consistency_dice: dict[str, float]
    qc: dict[str, Any]
    seconds: float
    options: OptimiseOptions
    prior_description: str
    uncertainty: np.ndarray | None = None
    la_sections: list[np.ndarray] = field(default_factory=list)
    method: str = "lo"
    la_evaluation: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    input_checks: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        opt = self.optimisation
        return {
            "cardiosr": __version__,
            "method": self.method,
            "input": {"sa": self.sa.path, "la": [v.path for v in self.la], "labels": self.sa.convention},
            "prior": self.prior_description,
            "iterations": opt.iterations,
            "converged": opt.converged,
            "time_s": round(self.seconds, 3),
            "final_loss": opt.final,
            "restart_losses": opt.restart_losses,
            "consistency_dice": self.consistency_dice,
            "motion": opt.motion,
            "qc": self.qc,
            "gauge": self.gauge,
            "long_axis_evaluation": self.la_evaluation,
            "input_checks": self.input_checks,
            "warnings": self.warnings,
            "canonical_frame": {
                "apex_to_base_reversed": self.frame.flipped,
                "in_plane_rotation_deg": round(self.frame.rotation_deg, 3),
                "warnings": self.frame.warnings,
            },
            "output": {"shape": list(self.sr.shape), "spacing_mm": np.round(self.sr.spacing, 6).tolist()},
            "shifts": self._shift_statistics(),
            "clinical": clinical_volumes(self.sr.array, self.sr.spacing),
            "plausibility": plausibility(self.sr.array, self.sr.spacing[0]),
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.options).items()},
        }

    def _shift_statistics(self) -> dict[str, float | None]:
        heart = ~np.isnan(self.shifts_mm[:, 0])
        if not heart.any():
            return {"mean_mm": None, "max_mm": None}
        size = np.linalg.norm(self.shifts_mm[heart], axis=1)
        return {"mean_mm": round(float(size.mean()), 4), "max_mm": round(float(size.max()), 4)}

    def shifts_json(self) -> dict[str, Any]:
        """The content of ``shifts.json``."""
        heart = ~np.isnan(self.shifts_mm[:, 0])
        slices = []
        for k in range(len(self.shifts_mm)):
            slices.append(
                {
                    "slice": k,
                    "has_heart": bool(heart[k]),
                    "shift_mm": None if not heart[k] else np.round(self.shifts_mm[k].astype(float), 4).tolist(),
                    "shift_world_mm": None
                    if not heart[k]
                    else np.round(self.shifts_world_mm[k].astype(float), 4).tolist(),
                }
            )
        return {
            "units": "mm",
            "axes": "shift_mm: along the input stack's (row, column) directions; shift_world_mm: world RAS+ vector",
            "meaning": "the content of the acquired slice was displaced by +shift from its position in the result",
            "gauge": self.gauge,
            "slice_index": "input slice index along the stack's own slice axis (as stored in the file)",
            "slices": slices,
        }

    def save(self, output_dir: str | os.PathLike, figure: bool = True, mesh: str | None = None) -> dict[str, Path]:
        """Write ``sr.nii.gz``, ``sr_canonical.nii.gz``, ``shifts.json``, ``loss.csv``, ``summary.json``,
        ``figure.png`` (``uncertainty.nii.gz`` with restarts, ``LV/MYO/RV.<mesh>`` with ``mesh='vtk'|'stl'``)
        into ``output_dir``.

        All files are first written into a hidden staging folder beside ``output_dir`` and then moved in
        (a new ``output_dir`` is one rename), so a failure leaves no partial set of outputs; ``summary.json``
        is moved last and marks a complete result. In an existing folder the files a previous run wrote
        and this one does not (e.g. ``figure.png``, meshes, ``uncertainty.nii.gz``) are removed; other files
        stay (:mod:`cardiosr.output_folder`). The folder is locked while it is written.
        """
        return save_as_one_set(output_dir, lambda stage: self._write_all(stage, figure, mesh))

    def _write_all(self, out: Path, figure: bool, mesh: str | None) -> dict[str, Path]:
        paths = {
            "sr": save_labels(self.sr, out / "sr.nii.gz"),
            "sr_canonical": save_labels(self.sr_canonical, out / "sr_canonical.nii.gz"),
        }
        if self.uncertainty is not None:
            paths["uncertainty"] = save_scalar_map(self.sr, self.uncertainty, out / "uncertainty.nii.gz")
        paths["shifts"] = write_json(out / "shifts.json", self.shifts_json())
        paths["loss"] = write_csv(out / "loss.csv", self.optimisation.history, float_format=".6g")
        if figure:
            from cardiosr.figures import save_enhance_figure

            paths["figure"] = save_enhance_figure(self, out / "figure.png")
        if mesh:
            from cardiosr.mesh import write_meshes

            paths.update({f"mesh_{k}": v for k, v in write_meshes(self.sr, out, mesh).items()})
        paths["summary"] = write_json(out / "summary.json", self.summary())
        return paths


def save_as_one_set(output_dir: str | os.PathLike, write: Callable[[Path], dict[str, Path]]) -> dict[str, Path]:
    """Lock ``output_dir``, let ``write`` fill a staging folder beside it, and move the files in as one set
    (:func:`cardiosr.output_folder.commit`); returns the final paths."""
    out = Path(output_dir)
    with output_folder.locked(out), staging_folder(out) as stage:
        return output_folder.commit(stage, out, write(stage))


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` (``.NAME.tmp-XXXX``) to write into; removed afterwards in any case."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        os.chmod(stage, default_mode(directory=True))  # a new output folder is this folder, renamed
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", out) from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
