"""The pipeline behind ``cardiosr.enhance``: load → canonical grid → latent optimisation → back to world → write.

The one-call API of the method: give it a short-axis label map (a path or a :class:`LabelVolume`),
optionally long-axis views, and get a :class:`Result` holding the motion-corrected high-resolution label
map in the input's world frame, the estimated slice shifts and the optimisation record.

Examples
--------
::

    import cardiosr
    result = cardiosr.enhance("sa.nii.gz", la="la_4ch.nii.gz", labels="mnms")
    result.sr.array.shape        # (D, H, W) at 2 x 1.25 x 1.25 mm along the input's axes
    result.shifts_mm             # (slices, 2) mm, zero-mean gauge unless a long-axis view is given
    result.save("out/")          # sr.nii.gz, sr_canonical.nii.gz, shifts.json, loss.csv, summary.json, figure.png
"""

from __future__ import annotations

import contextlib
import csv
import io as _io
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cardiosr import output_folder
from cardiosr.device import resolve_device
from cardiosr.errors import InputError, InputWarning
from cardiosr.geometry import CanonicalFrame, from_canonical, resample_probabilities, unit_columns
from cardiosr.io import atomic_path, load_labels, save_labels, save_scalar_map
from cardiosr.labels import DEFAULT_CONVENTION, STRUCTURES
from cardiosr.metrics import clinical_volumes, dice, long_axis_dice, plausibility
from cardiosr.optimise import (
    GAUGE_NOT_ESTIMATED,
    OptimisationResult,
    OptimiseOptions,
    Problem,
    latent_optimisation,
    make_problem,
)
from cardiosr.prior import canonical_options, load_prior
from cardiosr.prior.networks import GenerativePrior
from cardiosr.topology import clean_topology
from cardiosr.version import __version__
from cardiosr.volume import LabelVolume

#: QC: the final short-axis loss above which a result is flagged (mean cross-entropy per voxel). The
#: largest final loss measured on the 60 simulated phantoms of ``benchmarks/enhance_phantoms.py`` (no,
#: normal and severe motion) is 0.013, on the real files of ``benchmarks/enhance_real_files.py`` 0.016;
#: a loss this high means the prior could not explain the input.
QC_MAX_LOSS = 0.1
#: QC: the lowest acceptable Dice between the input stack and the result degraded back onto it.
QC_MIN_CONSISTENCY_DICE = 0.7
#: QC: physiologically possible LV cavity volume (mL) and LV myocardial mass (g) of an adult or child heart;
#: a result outside these ranges almost always means wrong voxel sizes in the header.
QC_LV_ML_RANGE = (20.0, 600.0)
QC_LV_MASS_G_RANGE = (20.0, 400.0)
#: QC: the lowest mean Dice between the short-axis stack and a long-axis view where they cross, before
#: optimising. Measured on the M&Ms-2 case: 0.83-0.87 for views of the same phase, 0.55-0.56 for an ED
#: stack with an ES view (and the reverse), 0.27-0.40 for a stack mirrored in-plane.
QC_MIN_VIEW_AGREEMENT = 0.7

SaInput = str | os.PathLike | LabelVolume
#: The EDSR used by ``method='edsr'`` when none is given: trained on normal motion (as the paper's Table 3).
DEFAULT_EDSR = Path(__file__).parent / "models" / "edsr_normal.safetensors"


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
            "plausibility": plausibility(self.sr.array),
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
        out = Path(output_dir)
        with output_folder.locked(out), staging_folder(out) as stage:
            files = self._write_all(stage, figure, mesh)
            paths = output_folder.commit(stage, out, files)
        return paths

    def _write_all(self, out: Path, figure: bool, mesh: str | None) -> dict[str, Path]:
        paths = {
            "sr": save_labels(self.sr, out / "sr.nii.gz"),
            "sr_canonical": save_labels(self.sr_canonical, out / "sr_canonical.nii.gz"),
        }
        if self.uncertainty is not None:
            paths["uncertainty"] = save_scalar_map(self.sr, self.uncertainty, out / "uncertainty.nii.gz")
        paths["shifts"] = _write_json(out / "shifts.json", self.shifts_json())
        paths["loss"] = _write_loss_csv(out / "loss.csv", self.optimisation.history)
        if figure:
            from cardiosr.figures import save_enhance_figure

            paths["figure"] = save_enhance_figure(self, out / "figure.png")
        if mesh:
            from cardiosr.mesh import write_meshes

            paths.update({f"mesh_{k}": v for k, v in write_meshes(self.sr, out, mesh).items()})
        paths["summary"] = _write_json(out / "summary.json", self.summary())
        return paths


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` (``.NAME.tmp-XXXX``) to write into; removed afterwards in any case."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror or exc})", out) from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_json(path: Path, content: dict[str, Any]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=2) + "\n")
    return path


def _write_loss_csv(path: Path, history: Sequence[dict[str, Any]]) -> Path:
    fields: list[str] = []
    for row in history:
        fields += [k for k in row if k not in fields]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return path


def _as_volume(
    item: SaInput, labels: str, what: str, slice_axis: int | None = None, ignore_labels: Sequence[int] = ()
) -> LabelVolume:
    if isinstance(item, LabelVolume):
        return item
    if not isinstance(item, str | os.PathLike):
        raise InputError(f"{what} must be a file path or a LabelVolume, got {type(item).__name__}")
    return load_labels(item, labels, slice_axis=slice_axis, ignore_labels=ignore_labels)


def stack_checks(sa: LabelVolume) -> tuple[dict[str, Any], list[str]]:
    """Missing slices and coverage of a short-axis stack: ``({'missing_slices', 'coverage'}, warnings)``.

    An empty slice between slices with heart labels is missing data (an unsegmented slice), not "no
    heart here": it is left out of the loss and filled from the prior. Heart labels on the first or last
    slice mean the stack does not cover the whole heart: the result beyond it is extrapolation.
    """
    has_heart = (sa.array > 0).any((1, 2))
    notes: list[str] = []
    missing = sa.missing_slices()
    if missing:
        notes.append(
            f"{sa.path or 'short-axis stack'}: slice(s) {missing} hold no labels between labelled slices: read as "
            "missing (unsegmented), left out of the loss and filled from the prior"
        )
    first, last = bool(has_heart[0]), bool(has_heart[-1])
    ends = [name for name, hit in (("first", first), ("last", last)) if hit]
    if ends:
        notes.append(
            f"{sa.path or 'short-axis stack'}: heart labels reach the {' and '.join(ends)} slice: the stack may not "
            "cover the whole heart, the result beyond it is extrapolated by the prior"
        )
    return {"missing_slices": missing, "coverage": {"touches_first_slice": first, "touches_last_slice": last}}, notes


def view_checks(sa: LabelVolume, views: Sequence[LabelVolume]) -> tuple[list[dict[str, Any]], list[str]]:
    """Agreement of each long-axis view with the stack where they cross (:func:`~cardiosr.metrics.view_agreement`);
    a warning for each view below :data:`QC_MIN_VIEW_AGREEMENT`."""
    from cardiosr.metrics import view_agreement

    rows, notes = [], []
    for view in views:
        score = view_agreement(sa, view)
        rows.append({"path": view.path, "dice": score})
        if score is not None and score["mean"] < QC_MIN_VIEW_AGREEMENT:
            notes.append(
                f"{view.path}: long-axis view and short-axis stack disagree where they cross (mean Dice "
                f"{score['mean']:.2f} < {QC_MIN_VIEW_AGREEMENT}): another cardiac phase, a mirrored or misregistered "
                "view, or severe motion?"
            )
    return rows, notes


def physiology_checks(clinical: dict[str, float], sa: LabelVolume) -> list[str]:
    """QC reasons for a physiologically impossible result (LV cavity or LV mass out of range)."""
    reasons = []
    spacing = "x".join(f"{s:g}" for s in np.round(sa.spacing, 3))
    cause = f"likely cause: wrong voxel sizes in the header (read as {spacing} mm, slice axis first)"
    for key, (lo, hi), unit, what in (
        ("LV_ml", QC_LV_ML_RANGE, "mL", "LV cavity"),
        ("LV_mass_g", QC_LV_MASS_G_RANGE, "g", "LV mass"),
    ):
        value = clinical.get(key)
        if value is not None and not lo <= value <= hi:
            reasons.append(f"{what} {value:.1f} {unit} outside {lo:g}-{hi:g} {unit}, {cause}")
    return reasons


#: Voxel sizes (mm) a short-axis stack may have.
VOXEL_SIZE_RANGE_MM = (0.1, 50.0)
#: Smallest in-plane size (voxels) of a short-axis stack.
MIN_IN_PLANE_VOXELS = 8


def check_short_axis(volume: LabelVolume) -> None:
    """Raise :class:`InputError` unless ``volume`` can be a short-axis stack: at least 2 slices, at least
    8×8 voxels in-plane, voxel sizes within 0.1–50 mm."""
    d, h, w = volume.shape
    if d < 2:
        raise InputError(f"has a single slice ({d}x{h}x{w}); a short-axis stack needs at least 2", volume.path)
    if min(h, w) < MIN_IN_PLANE_VOXELS:
        raise InputError(
            f"in-plane size {h}x{w} voxels is too small for a short-axis slice (at least {MIN_IN_PLANE_VOXELS})",
            volume.path,
        )
    lo, hi = VOXEL_SIZE_RANGE_MM
    spacing = volume.spacing
    if np.any(spacing < lo) or np.any(spacing > hi):
        size = "x".join(f"{s:g}" for s in spacing)
        raise InputError(f"voxel size {size} mm is outside {lo:g}-{hi:g} mm (is the header's unit wrong?)", volume.path)


def _as_list(la: SaInput | Sequence[SaInput] | None) -> list[SaInput]:
    if la is None:
        return []
    if isinstance(la, str | os.PathLike | LabelVolume):
        return [la]
    return list(la)


def _resolve_prior(prior: str | os.PathLike | GenerativePrior | None, device: str) -> tuple[GenerativePrior, dict]:
    if isinstance(prior, GenerativePrior):
        # load_prior attaches the metadata; a prior built in code is taken as a cardiosr one (mass-centred)
        meta = getattr(prior, "metadata", None) or {"grid": {}, "architecture": type(prior).__name__}
        return prior.eval(), meta
    return load_prior(None if prior is None else str(prior), device=resolve_device(device))


def _describe_prior(meta: dict[str, Any]) -> str:
    source = (meta.get("source") or {}).get("path") or (meta.get("training") or {}).get("data") or "default"
    return f"{meta.get('architecture', '?')} M={meta.get('latent_dim', '?')} ({source})"


def _finish(
    problem: Problem,
    opt: OptimisationResult,
    options: OptimiseOptions,
    meta: dict[str, Any],
    seconds: float,
    la: list[LabelVolume],
) -> Result:
    frame, sa = problem.frame, problem.sa
    labels = clean_topology(opt.probs.argmax(0).astype(np.uint8))
    canonical = LabelVolume(labels, frame.affine.copy(), sa.convention, (0, 1, 2), sa.path, sa.header)
    sr = from_canonical(opt.probs, frame, sa)
    sr = sr.with_array(clean_topology(sr.array), sr.affine)
    uncertainty = None
    if opt.uncertainty is not None:
        u = np.stack([1.0 - opt.uncertainty, opt.uncertainty]).astype(np.float32)
        # resample_probabilities treats channel 0 as background (1 outside): channel 1 is the map itself.
        uncertainty = resample_probabilities(u, frame.affine, sr.shape, sr.affine)[1]
    heart = problem.sa_loss.heart_slices.cpu().numpy()
    shifts = np.where(heart[:, None], opt.shifts_mm, np.nan)
    axes = unit_columns(sa.affine)[:, 1:]
    device = problem.sa_loss.target.device
    with torch.no_grad():
        probs = torch.from_numpy(opt.probs).to(device)[None]
        d = torch.from_numpy(np.nan_to_num(shifts)).float().to(device)[None]
        degraded = problem.sa_loss.degrade(torch.log(probs.clamp_min(1e-6)), d)[0].argmax(0).cpu().numpy()
        sections = [term.slicer(probs)[0].argmax(0).cpu().numpy() for term in problem.la_losses]
    inside = problem.sa_loss.inside.cpu().numpy()
    consistency = dice(degraded, problem.sa_loss.target.cpu().numpy(), mask=inside)
    present = {name for value, name in STRUCTURES if (problem.sa_loss.target.cpu().numpy() == value).any()}
    reasons = []
    if opt.final["sa"] > QC_MAX_LOSS:
        reasons.append(f"final short-axis loss {opt.final['sa']:.3f} > {QC_MAX_LOSS}")
    for name in sorted(present):
        if consistency[name] < QC_MIN_CONSISTENCY_DICE:
            reasons.append(f"{name} consistency Dice {consistency[name]:.2f} < {QC_MIN_CONSISTENCY_DICE}")
    return Result(
        sa=sa,
        la=la,
        frame=frame,
        sr=sr,
        sr_canonical=canonical,
        shifts_mm=shifts,
        shifts_world_mm=shifts @ axes.T,
        gauge=opt.gauge,
        optimisation=opt,
        consistency_dice=consistency,
        qc={"flag": bool(reasons), "reasons": reasons},
        seconds=seconds,
        options=options,
        prior_description=_describe_prior(meta),
        uncertainty=uncertainty,
        la_sections=sections,
    )


#: The methods of ``enhance(method=...)``: latent optimisation and the paper's three baselines (§2.1).
METHODS = ("lo", "nn", "sbi", "edsr")


def baseline_probabilities(
    method: str, sa: LabelVolume, shape: tuple[int, int, int], affine: np.ndarray, edsr: Any = None
) -> np.ndarray:
    """Class probabilities ``(4, *shape)`` of a baseline up-sampling of ``sa`` on a target grid.

    ``method`` is ``'nn'`` (:func:`~cardiosr.interpolation.nearest_upsample`), ``'sbi'``
    (:func:`~cardiosr.interpolation.shape_based_interpolation`) or ``'edsr'``
    (:func:`~cardiosr.edsr.edsr_upsample` with the loaded model ``edsr``). None corrects motion.
    """
    if method in ("nn", "sbi"):
        from cardiosr.interpolation import nearest_upsample, shape_based_interpolation

        fn = nearest_upsample if method == "nn" else shape_based_interpolation
        labels = fn(sa, shape, affine)
        return (np.arange(len(STRUCTURES) + 1).reshape(-1, 1, 1, 1) == labels[None]).astype(np.float32)
    if method == "edsr":
        from cardiosr.edsr import edsr_upsample

        return edsr_upsample(edsr, sa, shape, affine).astype(np.float32)
    raise InputError(f"unknown method {method!r} (choose one of: {', '.join(METHODS)})")


def _baseline_optimisation(problem: Problem, probs: np.ndarray, seconds: float) -> OptimisationResult:
    """An :class:`OptimisationResult` for a baseline: no search, no shifts; its losses of Eq. 3–5 at d = 0."""
    device = problem.sa_loss.target.device
    with torch.no_grad():
        logits = torch.log(torch.from_numpy(probs).to(device)[None].clamp_min(1e-6))
        zero = torch.zeros(1, problem.sa_loss.n_slices, 2, device=device)
        final = {"sa": float(problem.sa_loss(logits, zero)[0])}
        total = final["sa"]
        for k, term in enumerate(problem.la_losses):
            final[f"la{k}"] = float(term(logits)[0])
            total += problem.gamma * final[f"la{k}"]
    final["total"] = total
    return OptimisationResult(
        probs=probs,
        z=np.zeros(0, np.float32),
        shifts_mm=np.zeros((problem.sa_loss.n_slices, 2)),
        history=[],
        iterations={"latent": 0, "refine": 0},
        converged=True,
        final=final,
        restart_losses=[],
        seconds=seconds,
        gauge=GAUGE_NOT_ESTIMATED,
    )


def enhance_batch(
    sa: Sequence[SaInput],
    la: Sequence[SaInput | Sequence[SaInput] | None] | None = None,
    prior: str | os.PathLike | GenerativePrior | None = None,
    labels: str = DEFAULT_CONVENTION,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    gamma: float | None = None,
    method: str = "lo",
    edsr: Any = None,
    la_eval: Sequence[SaInput | Sequence[SaInput] | None] | None = None,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] | str = (),
    **options: Any,
) -> list[Result]:
    """:func:`enhance` for several subjects optimised together in one batch (one decoder pass per iteration).

    ``la[i]`` holds the long-axis view(s) of ``sa[i]`` (or ``None``), ``la_eval[i]`` the views used for
    evaluation only. Every subject stops on its own; results equal those of separate calls up to float
    rounding.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (choose one of: {', '.join(METHODS)})")
    opts = make_options(**options)
    model, meta = _resolve_prior(prior, device)
    edsr_model = _resolve_edsr(edsr) if method == "edsr" else None
    la_list = [None] * len(sa) if la is None else list(la)
    eval_list = [None] * len(sa) if la_eval is None else list(la_eval)
    if len(la_list) != len(sa) or len(eval_list) != len(sa):
        raise InputError(f"got {len(sa)} short-axis inputs but {len(la_list)} long-axis entries")
    volumes = [_as_volume(s, labels, "sa", slice_axis, ignore_labels) for s in sa]
    for volume in volumes:
        check_short_axis(volume)
    # long-axis views are read in their stack's convention (the one `--labels auto` chose for it)
    la_volumes = [
        [_as_volume(v, vol.convention, "la", ignore_labels=ignore_labels) for v in _as_list(views)]
        for vol, views in zip(volumes, la_list, strict=True)
    ]
    eval_volumes = [
        [_as_volume(v, vol.convention, "la", ignore_labels=ignore_labels) for v in _as_list(views)]
        for vol, views in zip(volumes, eval_list, strict=True)
    ]
    checks = []
    for vol, views in zip(volumes, la_volumes, strict=True):
        found, notes = stack_checks(vol)
        found["view_agreement"], view_notes = view_checks(vol, views)
        notes += view_notes
        for note in notes:
            warnings.warn(note, InputWarning, stacklevel=2)
        read_notes = [w for v in [vol, *views] for w in v.warnings]
        checks.append((found, read_notes + notes))
    start = time.perf_counter()
    problems = [
        make_problem(v, views, gamma=gamma, **canonical_options(meta))
        for v, views in zip(volumes, la_volumes, strict=True)
    ]
    if method == "lo":
        results = latent_optimisation(model, problems, opts, progress=progress)
        if opts.fidelity is not None:
            from cardiosr.fidelity import fuse_with_stack

            for p, r in zip(problems, results, strict=True):
                r.probs = fuse_with_stack(r.probs, p.frame, p.sa, r.shifts_mm, weight=opts.fidelity)
    else:
        results = []
        for p in problems:
            t0 = time.perf_counter()
            probs = baseline_probabilities(method, p.sa, p.frame.shape, p.frame.affine, edsr_model)
            results.append(_baseline_optimisation(p, probs, time.perf_counter() - t0))
    finished = [
        _finish(p, r, opts, meta, 0.0, views) for p, r, views in zip(problems, results, la_volumes, strict=True)
    ]
    elapsed = (time.perf_counter() - start) / max(len(problems), 1)
    for result, views, extra, (found, notes) in zip(finished, la_volumes, eval_volumes, checks, strict=True):
        result.seconds = elapsed
        result.method = method
        result.input_checks = found
        implausible = physiology_checks(clinical_volumes(result.sr.array, result.sr.spacing), result.sa)
        if implausible:
            result.qc["reasons"] += implausible
            result.qc["flag"] = True
        for reason in implausible:
            warnings.warn(f"{result.sa.path or 'result'}: implausible result: {reason}", InputWarning, stacklevel=2)
        for row in found["view_agreement"]:
            score = row["dice"]
            if score is not None and score["mean"] < QC_MIN_VIEW_AGREEMENT:
                result.qc["reasons"].append(
                    f"long-axis view {row['path']} disagrees with the stack (Dice {score['mean']:.2f})"
                )
                result.qc["flag"] = True
        result.warnings = notes + [f"implausible result: {r}" for r in implausible]
        result.la_evaluation = [
            {"path": v.path, "used_in_optimisation": used, "dice": long_axis_dice(result.sr, v)}
            for v, used in [(v, True) for v in views] + [(v, False) for v in extra]
        ]
    return finished


def _resolve_edsr(edsr: Any) -> Any:
    from cardiosr.edsr import EDSR3D, load_edsr

    if isinstance(edsr, EDSR3D):
        return edsr.eval()
    return load_edsr(DEFAULT_EDSR if edsr is None or str(edsr) == "default" else edsr)[0]


def make_options(**options: Any) -> OptimiseOptions:
    """:class:`~cardiosr.optimise.OptimiseOptions` from keywords, with a one-line error for unknown ones."""
    known = set(OptimiseOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    opts = OptimiseOptions(**options)
    opts.check()
    return opts


def enhance(
    sa: SaInput,
    la: SaInput | Sequence[SaInput] | None = None,
    prior: str | os.PathLike | GenerativePrior | None = None,
    labels: str = DEFAULT_CONVENTION,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    gamma: float | None = None,
    method: str = "lo",
    edsr: Any = None,
    la_eval: SaInput | Sequence[SaInput] | None = None,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] | str = (),
    **options: Any,
) -> Result:
    """Joint motion correction and super-resolution of one short-axis segmentation (paper Algorithm 1).

    Parameters
    ----------
    sa:
        Short-axis label map: a NIfTI path or a :class:`~cardiosr.volume.LabelVolume`.
    la:
        Long-axis view(s) in the same world space (paths or volumes), or ``None``.
    prior:
        ``None``/``'default'`` (the shipped prior), a ``.safetensors`` file or training folder,
        ``'srheart:PATH'``, or a loaded :class:`~cardiosr.prior.GenerativePrior`.
    labels:
        Label convention of the files (``'ukbb'``, ``'mnms'``, ``'acdc'``); outputs use the input's.
    device:
        ``'auto'`` (CUDA when present), ``'cpu'`` or ``'cuda'``.
    progress:
        Called as ``progress(iteration, max_iterations)``.
    gamma:
        γ of Eq. 5; default 1 with a long-axis view, 0 without (paper §2.3).
    method:
        ``'lo'`` (latent optimisation, default) or a baseline of the paper's §2.1: ``'nn'``
        (nearest-neighbour up-sampling), ``'sbi'`` (shape-based interpolation), ``'edsr'`` (3D EDSR).
        Baselines correct no motion (``shifts_mm`` is 0) and ignore the optimisation options.
    edsr:
        For ``method='edsr'``: a checkpoint of ``cardiosr train-edsr`` (file or folder), a loaded
        :class:`~cardiosr.edsr.EDSR3D`, or ``None``/``'default'`` for the shipped model (normal motion).
    la_eval:
        Long-axis view(s) used only to evaluate the result (``Result.la_evaluation``), not in the loss.
    slice_axis:
        The short-axis file's on-disk slice axis (0, 1, 2); ``None`` chooses it
        (:func:`cardiosr.geometry.choose_slice_axis`).
    ignore_labels:
        On-disk label values read as background in every input (e.g. ``(4, 5)`` or ``"4,5"``: the atria of
        UK Biobank long-axis views).
    **options:
        Fields of :class:`~cardiosr.optimise.OptimiseOptions` (``max_iterations``, ``restarts``,
        ``refine``, ``warm_start``, ``init_shifts``, ``schedule``, ...).

    Returns
    -------
    Result

    Raises
    ------
    InputError
        Unreadable or inconsistent inputs (one line, naming the file).
    """
    return enhance_batch(
        [sa],
        [la],
        prior=prior,
        labels=labels,
        device=device,
        progress=progress,
        gamma=gamma,
        method=method,
        edsr=edsr,
        la_eval=[la_eval],
        slice_axis=slice_axis,
        ignore_labels=ignore_labels,
        **options,
    )[0]
