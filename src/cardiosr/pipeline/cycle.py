"""A cine through the pipeline: :class:`CycleResult` (4D outputs, volume curves, ejection fractions).

:meth:`cardiosr.pipeline.enhancer.Enhancer.run_cycle` fits the frames with
:func:`~cardiosr.optimise.cycle.cycle_optimisation` on one canonical frame (the ED frame's) and finishes
every fitted frame like one subject (fusion with the motion-corrected stack, topology, consistency, QC).
ED is the fitted frame with the largest LV cavity of the result, ES the one with the smallest; EF is in
percent of the end-diastolic volume.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardiosr.frames import save_frames
from cardiosr.io import write_csv, write_json
from cardiosr.metrics import clinical_volumes, ejection_fraction, plausibility
from cardiosr.pipeline.checks import cycle_checks
from cardiosr.pipeline.result import Result, save_as_one_set
from cardiosr.version import __version__


def key_frames_missing(fitted: Sequence[int], input_lv_ml: Sequence[float]) -> str | None:
    """Why the fitted frames ``fitted`` cannot give the cycle's ED and ES, or ``None`` when they can.

    The input's ED and ES frames are those with the largest and the smallest LV blood pool of the stacks
    themselves (``input_lv_ml``, mL per input frame; as ``--frames ED,ES`` picks them). EF and stroke volumes
    need both fitted, and two distinct frames.

    Examples
    --------
    >>> key_frames_missing([0, 1], [120.0, 45.0]) is None
    True
    >>> key_frames_missing([1], [120.0, 45.0])
    "the fitted frames [1] do not include the input's ED frame (0) and ES frame (1)"
    >>> key_frames_missing([0, 1], [80.0, 80.0])
    "the input's frames do not differ in LV blood pool (ED and ES would both be frame 0)"
    """
    ed, es = int(np.argmax(input_lv_ml)), int(np.argmin(input_lv_ml))
    if ed != es and {ed, es} <= set(fitted):
        return None
    if ed == es:
        return f"the input's frames do not differ in LV blood pool (ED and ES would both be frame {ed})"
    return f"the fitted frames {list(fitted)} do not include the input's ED frame ({ed}) and ES frame ({es})"


@dataclass
class CycleResult:
    """The result of a cine: one :class:`~cardiosr.pipeline.result.Result` per fitted frame, shared shifts.

    Attributes
    ----------
    frames:
        The fitted frames' results, in time order (each with its own QC and consistency).
    frame_indices:
        Their indices among the input's frames.
    n_frames:
        Number of input frames.
    motion:
        The motion test on the key frames (:func:`~cardiosr.optimise.cycle.cycle_optimisation`).
    time_step_ms:
        Time between frames from the input header (``None`` if it has none).
    input_volumes:
        Per input frame, :func:`~cardiosr.metrics.clinical_volumes` of the thick-slice stack (voxel counts).
    seconds:
        Wall time of the whole cine.
    paths:
        The input files.
    """

    frames: list[Result]
    frame_indices: list[int]
    n_frames: int
    motion: dict[str, Any]
    time_step_ms: float | None
    input_volumes: list[dict[str, float]]
    seconds: float
    paths: list[str] = field(default_factory=list)

    @property
    def shifts_mm(self) -> np.ndarray:
        """``(D, 2)`` shifts shared by every frame (NaN on slices without heart labels)."""
        return self.frames[0].shifts_mm

    def cycle(self) -> dict[str, Any]:
        """Volumes per fitted frame, ED and ES frames, EF and stroke volumes (``summary.json`` → ``cycle``).

        ED and ES are the fitted frames with the largest and the smallest LV cavity of the result. When only
        some frames are fitted (``--frames``) they are the cycle's ED and ES only if the fitted frames include
        the input's own (:func:`key_frames_missing`); otherwise ``ED_frame``, ``ES_frame``, the ejection
        fractions and stroke volumes are ``None`` and ``not_computed`` says why.
        """
        volumes = [clinical_volumes(r.sr.array, r.sr.spacing) for r in self.frames]
        lv = [v["LV_ml"] for v in volumes]
        rv = [v["RV_ml"] for v in volumes]
        ed, es = int(np.argmax(lv)), int(np.argmin(lv))
        missing = key_frames_missing(self.frame_indices, [v["LV_ml"] for v in self.input_volumes])
        out = {
            "frames": self.frame_indices,
            "LV_ml": [round(x, 2) for x in lv],
            "RV_ml": [round(x, 2) for x in rv],
            "LV_mass_g": [round(v["LV_mass_g"], 2) for v in volumes],
            "ED_frame": self.frame_indices[ed],
            "ES_frame": self.frame_indices[es],
            "EF_LV": ejection_fraction(lv[ed], lv[es]),
            "EF_RV": ejection_fraction(rv[ed], rv[es]),
            "SV_LV_ml": round(lv[ed] - lv[es], 2),
            "SV_RV_ml": round(rv[ed] - rv[es], 2),
            "input_LV_ml": [round(v["LV_ml"], 2) for v in self.input_volumes],
            "input_RV_ml": [round(v["RV_ml"], 2) for v in self.input_volumes],
            "time_step_ms": self.time_step_ms,
        }
        if missing:
            out.update({k: None for k in ("ED_frame", "ES_frame", "EF_LV", "EF_RV", "SV_LV_ml", "SV_RV_ml")})
            out["not_computed"] = missing
        return out

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        first, cycle = self.frames[0], self.cycle()
        qc = [{"frame": t, **r.qc} for t, r in zip(self.frame_indices, self.frames, strict=True)]
        reasons = cycle_checks(cycle)  # the cine as a whole: its ejection fraction against the input's
        return {
            "cardiosr": __version__,
            "method": first.method,
            "input": {"sa": self.paths, "frames": self.n_frames, "labels": first.sa.convention},
            "prior": first.prior_description,
            "time_s": round(self.seconds, 3),
            "time_per_frame_s": round(self.seconds / max(len(self.frames), 1), 3),
            "cycle": cycle,
            "motion": self.motion,
            "qc": {"flag": bool(reasons) or any(q["flag"] for q in qc), "reasons": reasons, "frames": qc},
            "long_axis": [
                {"frame": t, **item}
                for t, r in zip(self.frame_indices, self.frames, strict=True)
                for item in r.la_evaluation
            ],
            "consistency_dice": [r.consistency_dice for r in self.frames],
            "plausibility": [plausibility(r.sr.array, r.sr.spacing[0]) for r in self.frames],
            "final_loss": [r.optimisation.final for r in self.frames],
            "iterations": [r.optimisation.iterations for r in self.frames],
            "gauge": first.gauge,
            "warnings": sorted({w for r in self.frames for w in r.warnings}),
            "output": {
                "shape": [*first.sr.shape, len(self.frames)],
                "spacing_mm": np.round(first.sr.spacing, 6).tolist(),
                "time_step_ms": self.time_step_ms,
            },
            "shifts": first.summary()["shifts"],
            "options": first.summary()["options"],
        }

    def save(self, output_dir: str | os.PathLike, figure: bool = True, mesh: str | None = None) -> dict[str, Path]:
        """Write ``sr.nii.gz`` and ``sr_canonical.nii.gz`` (4D, one frame per fitted frame), ``shifts.json`` (one
        shift per slice), ``loss.csv`` (with a ``frame`` column), ``summary.json`` (with ``cycle``),
        ``volume_curves.png`` and, with ``mesh``, ``LV_NNN.<mesh>`` ... per frame; atomically, as one set."""
        return save_as_one_set(output_dir, lambda stage: self._write_all(stage, figure, mesh))

    def _write_all(self, out: Path, figure: bool, mesh: str | None) -> dict[str, Path]:
        step, summary = self.time_step_ms, self.summary()
        paths = {
            "sr": save_frames([r.sr for r in self.frames], out / "sr.nii.gz", time_step_ms=step),
            "sr_canonical": save_frames(
                [r.sr_canonical for r in self.frames], out / "sr_canonical.nii.gz", time_step_ms=step
            ),
            "shifts": write_json(out / "shifts.json", self.frames[0].shifts_json()),
        }
        rows = [
            {"frame": t, **row}
            for t, r in zip(self.frame_indices, self.frames, strict=True)
            for row in r.optimisation.history
        ]
        paths["loss"] = write_csv(out / "loss.csv", rows, float_format=".6g")
        if figure:
            from cardiosr.figures import save_volume_curves

            cycle = summary["cycle"]
            paths["figure"] = save_volume_curves(
                {"LV_ml": cycle["input_LV_ml"], "RV_ml": cycle["input_RV_ml"]},
                {"LV_ml": cycle["LV_ml"], "RV_ml": cycle["RV_ml"]},
                self.frame_indices,
                out / "volume_curves.png",
                step,
            )
        if mesh:
            from cardiosr.mesh import write_meshes

            for t, r in zip(self.frame_indices, self.frames, strict=True):
                written = write_meshes(r.sr, out, mesh, suffix=f"_{t:03d}")
                paths.update({f"mesh_{k}_{t:03d}": v for k, v in written.items()})
        paths["summary"] = write_json(out / "summary.json", summary)
        return paths
