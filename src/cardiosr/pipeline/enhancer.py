"""The pipeline behind ``cardiosr.enhance``: :class:`Enhancer` loads the models once and runs subjects."""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cardiosr.allocator import keep_freed_memory
from cardiosr.device import resolve_device
from cardiosr.errors import InputError, InputWarning
from cardiosr.frames import Cine, count_frames, load_frames
from cardiosr.geometry import hr_grid
from cardiosr.metrics import clinical_volumes
from cardiosr.optimise.cycle import cycle_optimisation, key_frame_of, select_frames
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import Problem, make_problem
from cardiosr.optimise.result import OptimisationResult
from cardiosr.optimise.search import latent_optimisation
from cardiosr.pipeline.baselines import DEFAULT_EDSR, baseline_probabilities, baseline_result
from cardiosr.pipeline.checks import (
    StackInput,
    as_list,
    as_volume,
    check_short_axis,
    matching_frame,
    stack_checks,
    view_checks,
)
from cardiosr.pipeline.cycle import CycleResult
from cardiosr.pipeline.qc import add_input_qc, finish_result
from cardiosr.pipeline.result import Result
from cardiosr.pipeline.settings import EnhanceSettings
from cardiosr.prior import canonical_placement, load_prior
from cardiosr.prior.networks import GenerativePrior
from cardiosr.threads import background_map
from cardiosr.volume import LabelVolume

#: What ``la`` and ``la_eval`` accept per subject: none, one view, or several.
ViewsInput = StackInput | Sequence[StackInput] | None


def _load_prior(prior: Any, device: str) -> tuple[GenerativePrior, dict]:
    if isinstance(prior, GenerativePrior):
        # load_prior attaches the metadata; a prior built in code is taken as a cardiosr one (mass-centred)
        meta = getattr(prior, "metadata", None) or {"grid": {}, "architecture": type(prior).__name__}
        return prior.eval(), meta
    return load_prior(None if prior is None else str(prior), device=resolve_device(device))


def _load_edsr(edsr: Any) -> Any:
    from cardiosr.edsr import EDSR3D, load_edsr

    if isinstance(edsr, EDSR3D):
        return edsr.eval()
    return load_edsr(DEFAULT_EDSR if edsr is None or str(edsr) == "default" else edsr)[0]


class Enhancer:
    """Loads the prior (and EDSR) once, then enhances any number of subjects (nnU-Net's predictor pattern).

    Parameters
    ----------
    settings:
        :class:`~cardiosr.pipeline.settings.EnhanceSettings`; or give its fields (and those of
        :class:`~cardiosr.optimise.options.OptimiseOptions`) as keywords.

    Examples
    --------
    >>> from cardiosr.phantom import generate_phantom
    >>> from cardiosr.degradation import downsample_slices
    >>> stack = downsample_slices(generate_phantom(0)[0])
    >>> enhancer = Enhancer(method="nn")               # models are loaded here, once
    >>> [r.sr.spacing.round(2).tolist() for r in enhancer.run_batch([stack, stack])]
    [[2.0, 1.25, 1.25], [2.0, 1.25, 1.25]]
    """

    def __init__(self, settings: EnhanceSettings | None = None, **keywords: Any) -> None:
        if settings is None:
            settings = EnhanceSettings.from_keywords(**keywords)
        elif keywords:
            raise InputError("give either an EnhanceSettings or keywords, not both")
        settings.check()
        keep_freed_memory()  # the latent search's tensors reuse freed memory instead of fresh pages
        self.settings = settings
        self.prior, self.prior_metadata = _load_prior(settings.prior, settings.device)
        self.edsr = _load_edsr(settings.edsr) if settings.method == "edsr" else None

    def run(
        self,
        sa: StackInput,
        la: ViewsInput = None,
        *,
        la_eval: ViewsInput = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Result:
        """Enhance one subject (see :func:`enhance`)."""
        return self.run_batch([sa], [la], la_eval=[la_eval], progress=progress)[0]

    def run_batch(
        self,
        sa: Sequence[StackInput],
        la: Sequence[ViewsInput] | None = None,
        *,
        la_eval: Sequence[ViewsInput] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Result]:
        """Several subjects optimised together in one batch (one decoder pass per iteration).

        ``la[i]`` holds the long-axis view(s) of ``sa[i]`` (or ``None``), ``la_eval[i]`` the views used for
        evaluation only. Every subject stops on its own; results equal those of separate calls up to float
        rounding.
        """
        volumes, la_volumes, eval_volumes, checks = self._read(sa, la, la_eval)
        start = time.perf_counter()
        problems = [
            make_problem(
                v,
                views,
                gamma=self.settings.gamma,
                snap_slices=self.settings.snap_slices,
                **canonical_placement(self.prior_metadata),
            )
            for v, views in zip(volumes, la_volumes, strict=True)
        ]
        results = self._fit(problems, progress)
        opts = self.settings.optimise
        finished = [
            finish_result(p, r, opts, self.prior_metadata, 0.0, views)
            for p, r, views in zip(problems, results, la_volumes, strict=True)
        ]
        elapsed = (time.perf_counter() - start) / max(len(problems), 1)
        for result, views, extra, (found, notes) in zip(finished, la_volumes, eval_volumes, checks, strict=True):
            result.seconds = elapsed
            result.method = self.settings.method
            add_input_qc(result, found, notes, views, extra)
        return finished

    def run_cycle(
        self,
        sa: Cine | Sequence[StackInput],
        la: ViewsInput = None,
        *,
        la_frame: int | None = None,
        frames: str | Sequence[int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CycleResult:
        """Enhance a cine: one shift per slice shared by all frames, one shape per frame (module
        :mod:`cardiosr.optimise.cycle`).

        ``sa`` is a :class:`~cardiosr.frames.Cine` or the frames (paths or volumes) in time order;
        ``frames`` chooses the frames that get a shape (``'ED,ES'``, ``'0,12'`` or indices; default all):
        the shifts always come from every frame. More than 9 frames are taken as a whole cycle (the
        temporal smoothness closes the loop). Baselines (``method`` other than ``'lo'``) run frame by frame.

        ``la`` holds long-axis views: a 4D file (or :class:`~cardiosr.frames.Cine`) with as many frames as the
        short-axis cine gives frame ``t`` its own view; a single-frame view is used at frame ``la_frame``
        (default: the ED frame of the input, the largest LV blood pool, unless another frame's stack agrees with
        the view clearly better: :func:`~cardiosr.pipeline.checks.matching_frame`, with a note).
        """
        start = time.perf_counter()
        cine = sa if isinstance(sa, Cine) else None
        items = list(cine.frames) if cine is not None else list(sa)
        with warnings.catch_warnings(record=True) as caught:  # one warning per distinct note, not one per frame
            warnings.simplefilter("always")
            volumes, _, _, _ = self._read(items, None, None, check=False)
            views = self._cine_views(la, volumes, la_frame)
            _, _, _, checks = self._read(volumes, views, None)
        for text, count in _distinct(str(w.message) for w in caught).items():
            more = f" (and {count - 1} more frame{'s' if count > 2 else ''} like it)" if count > 1 else ""
            warnings.warn(text + more, InputWarning, stacklevel=2)
        wanted = select_frames(frames, volumes)
        s, opts = self.settings, self.settings.optimise
        placement = canonical_placement(self.prior_metadata)
        key = key_frame_of(volumes)
        shared = make_problem(volumes[key], views[key], gamma=s.gamma, snap_slices=s.snap_slices, **placement).frame
        problems = [make_problem(v, w, gamma=s.gamma, frame=shared) for v, w in zip(volumes, views, strict=True)]
        if s.method == "lo":
            fit = cycle_optimisation(
                self.prior,
                problems,
                opts,
                cyclic=len(volumes) > 9,
                frames=wanted,
                progress=progress,
            )
            fitted, motion = fit.results, fit.motion
        else:
            fitted, motion = self._fit([problems[t] for t in wanted], progress), {}

        def finish(item: tuple[int, OptimisationResult]) -> Result:
            t, r = item
            if s.method == "lo" and opts.fidelity is not None:
                _fuse(r, problems[t], opts)
            result = finish_result(problems[t], r, opts, self.prior_metadata, r.seconds, views[t])
            r.release_maps()  # the frame is finished: memory must not grow by every frame's maps
            result.method = s.method
            found, notes = checks[t]
            add_input_qc(result, found, notes, views[t], [])
            return result

        # each frame is finished in the background (mostly SciPy/NumPy, which releases the GIL) while the next
        # one's data-consistency stage runs (torch)
        results = background_map(finish, zip(wanted, fitted, strict=True))
        return CycleResult(
            frames=results,
            frame_indices=wanted,
            n_frames=len(volumes),
            motion=motion,
            time_step_ms=cine.time_step_ms if cine is not None else None,
            input_volumes=[clinical_volumes(v.array, v.spacing) for v in volumes],
            seconds=time.perf_counter() - start,
            paths=list(cine.paths) if cine is not None else sorted({str(v.path) for v in volumes if v.path}),
        )

    def _cine_views(
        self, la: ViewsInput, volumes: Sequence[LabelVolume], la_frame: int | None
    ) -> list[list[LabelVolume]]:
        """The long-axis views of every frame of a cine: 4D views frame by frame, single ones at ``la_frame``."""
        n = len(volumes)
        at = key_frame_of(volumes) if la_frame is None else int(la_frame)
        if not 0 <= at < n:
            raise InputError(f"--la-frame must be between 0 and {n - 1}, got {la_frame}")
        views: list[list[LabelVolume]] = [[] for _ in range(n)]
        convention, ignore = volumes[0].convention, self.settings.ignore_labels
        for item in [la] if isinstance(la, Cine) else as_list(la):
            if isinstance(item, Cine) or (isinstance(item, str | os.PathLike) and count_frames(item) > 1):
                series = item if isinstance(item, Cine) else load_frames(item, convention, None, ignore)
                if series.n_frames != n:
                    raise InputError(
                        f"this long-axis cine has {series.n_frames} frames, the short-axis cine {n}: a 4D view needs "
                        "one frame per short-axis frame (or give one frame and --la-frame)",
                        series.paths[0] if series.paths else None,
                    )
                for t in range(n):
                    views[t].append(series.frames[t])
            else:
                view = as_volume(item, convention, "la", ignore_labels=ignore)
                frame, note = (at, None) if la_frame is not None else matching_frame(view, volumes, at)
                if note:
                    warnings.warn(note, InputWarning, stacklevel=2)
                views[frame].append(view)
        return views

    def _read(
        self,
        sa: Sequence[StackInput],
        la: Sequence[ViewsInput] | None,
        la_eval: Sequence[ViewsInput] | None,
        *,
        check: bool = True,
    ) -> tuple[list[LabelVolume], list[list[LabelVolume]], list[list[LabelVolume]], list[tuple[dict, list[str]]]]:
        """The inputs read and checked: stacks, their long-axis views, evaluation views, (checks, notes).

        ``check=False`` reads only (no stack or view checks, no checks returned): a cine reads its frames
        first and checks them once its views are known, so each check warns once per frame."""
        s = self.settings
        la_list = [None] * len(sa) if la is None else list(la)
        eval_list = [None] * len(sa) if la_eval is None else list(la_eval)
        if len(la_list) != len(sa) or len(eval_list) != len(sa):
            raise InputError(f"got {len(sa)} short-axis inputs but {len(la_list)} long-axis entries")
        volumes = [as_volume(x, s.convention, "sa", s.slice_axis, s.ignore_labels) for x in sa]
        for volume in volumes:
            check_short_axis(volume)
        # long-axis views are read in their stack's convention (the one `--labels auto` chose for it)
        la_volumes = [
            [as_volume(v, vol.convention, "la", ignore_labels=s.ignore_labels) for v in as_list(views)]
            for vol, views in zip(volumes, la_list, strict=True)
        ]
        eval_volumes = [
            [as_volume(v, vol.convention, "la", ignore_labels=s.ignore_labels) for v in as_list(views)]
            for vol, views in zip(volumes, eval_list, strict=True)
        ]
        checks = []
        for vol, views in zip(volumes, la_volumes, strict=True) if check else ():
            found, notes = stack_checks(vol)
            found["view_agreement"], view_notes = view_checks(vol, views)
            notes += view_notes
            for note in notes:
                warnings.warn(note, InputWarning, stacklevel=3)
            read_notes = [w for v in [vol, *views] for w in v.warnings]
            checks.append((found, read_notes + notes))
        return volumes, la_volumes, eval_volumes, checks

    def _fit(self, problems: list[Problem], progress: Callable[[int, int], None] | None) -> list[OptimisationResult]:
        """Latent optimisation (then the fusion with the corrected stack), or the baseline, per problem."""
        method, opts = self.settings.method, self.settings.optimise
        if method == "lo":
            results = latent_optimisation(self.prior, problems, opts, progress=progress)
            if opts.fidelity is not None:
                for p, r in zip(problems, results, strict=True):
                    _fuse(r, p, opts)
            return results
        results = []
        for p in problems:
            t0 = time.perf_counter()
            probs = baseline_probabilities(method, p.sa, p.frame.shape, p.frame.affine, self.edsr)
            results.append(baseline_result(p, probs, time.perf_counter() - t0))
        return results


def _distinct(notes: Iterable[str]) -> dict[str, int]:
    """Notes that differ only in their numbers (one per frame of a cine) counted as one: first text → count."""
    first: dict[str, str] = {}
    counts: dict[str, int] = {}
    for note in notes:
        key = re.sub(r"\d+(\.\d+)?", "#", note)
        first.setdefault(key, note)
        counts[key] = counts.get(key, 0) + 1
    return {first[key]: counts[key] for key in first}


def enhance_batch(
    sa: Sequence[StackInput],
    la: Sequence[ViewsInput] | None = None,
    *,
    la_eval: Sequence[ViewsInput] | None = None,
    progress: Callable[[int, int], None] | None = None,
    settings: EnhanceSettings | None = None,
    **keywords: Any,
) -> list[Result]:
    """:func:`enhance` for several subjects optimised together in one batch (:meth:`Enhancer.run_batch`)."""
    return Enhancer(settings, **keywords).run_batch(sa, la, la_eval=la_eval, progress=progress)


def enhance(
    sa: StackInput,
    la: ViewsInput = None,
    *,
    la_eval: ViewsInput = None,
    progress: Callable[[int, int], None] | None = None,
    settings: EnhanceSettings | None = None,
    **keywords: Any,
) -> Result:
    """Joint motion correction and super-resolution of one short-axis segmentation (paper Algorithm 1).

    The one-call API; to run many subjects with the same models, make one :class:`Enhancer`.

    Parameters
    ----------
    sa:
        Short-axis label map: a NIfTI path or a :class:`~cardiosr.volume.LabelVolume`.
    la:
        Long-axis view(s) in the same world space (paths or volumes), or ``None``.
    la_eval:
        Long-axis view(s) used only to evaluate the result (``Result.la_evaluation``), not in the loss.
    progress:
        Called as ``progress(iteration, max_iterations)``.
    settings:
        :class:`~cardiosr.pipeline.settings.EnhanceSettings`, or instead:
    **keywords:
        Its fields (``method``, ``prior``, ``convention``, ``device``, ``gamma``, ``edsr``, ``slice_axis``,
        ``ignore_labels``, ...) and those of :class:`~cardiosr.optimise.options.OptimiseOptions`
        (``max_iterations``, ``restarts``, ``refine``, ``init_shifts``, ...).

    Returns
    -------
    Result

    Raises
    ------
    InputError
        Unreadable or inconsistent inputs, unknown options (one line, naming the file).
    """
    return Enhancer(settings, **keywords).run(sa, la, la_eval=la_eval, progress=progress)


def _fuse(result: OptimisationResult, problem: Problem, opts: OptimiseOptions) -> None:
    """Fuse ``result`` with the motion-corrected stack (:mod:`cardiosr.fidelity`): on the output grid
    (``result.output_labels``, the result in the world frame) and on the canonical grid (``result.probs``,
    replaced: the canonical output and the QC's consistency)."""
    from cardiosr.fidelity import fused_labels
    from cardiosr.labels import one_hot

    grids = (None, hr_grid(problem.sa))
    views = problem.views if problem.gamma > 0 else ()
    canonical, result.output_labels = fused_labels(
        result.probs, problem.frame, problem.sa, result.shifts_mm, grids, views=views, **opts.fusion_keywords()
    )
    result.probs = one_hot(canonical)
