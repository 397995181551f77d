"""The cardiac cycle (beyond the paper): one in-plane shift per slice shared by every frame, one ``z`` per frame.

Each short-axis slice of a cine is acquired in one breath-hold over all frames, so its in-plane offset is the
same in every frame. :func:`cycle_optimisation` therefore

1. estimates the shifts from all frames: the slice alignment fitted to every frame at once (the frames are
   channels of one objective), the LV-centroid line made on every frame and averaged;
2. runs the motion test on the key frames (ED and ES: the largest and smallest LV blood pool of the input)
   with one frame's thresholds, each key frame's relative gain averaged (a frame the prior fits less well
   would otherwise dilute the others'): ``d = 0`` against each shared estimate kept fixed (the one with the
   lower loss on the ED frame is "the estimate"); when it gains more than τ on every key frame (clear
   motion: the shared estimate is close already, and a search from it under normal motion mostly moves its
   linear trend, a tilt, to where the prior's shapes fit better), the shifts are searched on from it with
   the ED frame's latent code alone, with the motion prior at ``estimate_search`` (λe; ``None``: the
   estimate stays fixed; the ES frame, which the prior fits less well, pulls the shared shifts away: in a
   run outside the repository, searched on ES alone they ended 2.8-6.7 mm RMS off on the benchmark cines,
   on ED alone 1.2-3.3 mm; with one long-axis view the tilt across its lines is then weighed between the
   search and the view, ``options.view_trend``: :func:`~cardiosr.optimise.init.blend_view_trend`); otherwise
   the searched hypothesis, one
   set of shifts shared by the key frames, optimised with their latent codes from the better estimate, with
   the motion prior; it is kept only when it also beats that estimate's loss by τs (see :func:`_motion_test`;
   with long-axis views that corrected the estimates, ``d = 0`` is not kept when the key frames' views show
   motion themselves, as for a single stack);
3. fits one latent code per frame with the chosen shifts fixed, all frames in one batch, with the temporal
   smoothness term ``λ_t · Σ_t ‖z_t − z_{t−1}‖²`` over consecutive fitted frames (cyclic: also last → first);
4. runs the data-consistency stage per frame (shifts fixed).

Steps 3 and 4 stop by the stopping rule with ``options.cycle_window`` in place of ``options.window``.

The objective of step 3 is ``Σ_t L(z_t, d) + λ_t Σ_t ‖z_t − z_{t−1}‖²`` with ``L`` Eq. 5 of one frame; that of
the searched hypothesis ``Σ_{t ∈ key} L(z_t, d) + |key| · λ · (−log p(d))``. ``shift_search`` and restarts are
not available for cines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from cardiosr.errors import InputError
from cardiosr.labels import LV
from cardiosr.optimise.init import (
    GAUGE_LONG_AXIS,
    GAUGE_ZERO_MEAN,
    INITIAL_SHIFTS,
    blend_view_trend,
    centroid_shifts,
    corrected_by_views,
    keep_measured,
    views_correct_estimates,
    views_unmeasured,
    warm_start_latents,
)
from cardiosr.optimise.losses import EPS, motion_prior_term
from cardiosr.optimise.motion_test import corroborated, self_consistency_gain, views_show_motion, weighed_objective
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import Problem, multi_view_loss
from cardiosr.optimise.refine import refine_consistency
from cardiosr.optimise.result import OptimisationResult
from cardiosr.optimise.stopping import StoppingRule
from cardiosr.prior.networks import FrozenDecoder, GenerativePrior
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.view_alignment import view_motion_evidence
from cardiosr.volume import LabelVolume


@dataclass
class CycleFit:
    """What :func:`cycle_optimisation` found.

    Attributes
    ----------
    results:
        One :class:`~cardiosr.optimise.result.OptimisationResult` per fitted frame, in the order of ``frames``,
        made as they are iterated (each frame's data-consistency stage runs then): finish each one before
        taking the next, and memory does not grow with the frame count. ``seconds`` of each: its share of the
        joint fit plus its own stage.
    frames:
        The indices of the fitted frames.
    shifts_mm:
        ``(D, 2)`` shifts shared by every frame (mm, content moved by ``+d``).
    motion:
        The motion test's decision and evidence (``key_frames``, losses summed over them).
    """

    results: Iterator[OptimisationResult]
    frames: list[int]
    shifts_mm: np.ndarray
    motion: dict[str, Any]


def key_frames(problems: Sequence[Problem]) -> list[int]:
    """ED and ES of the input: the frames with the largest and the smallest LV blood pool (voxel count)."""
    stacks = [p.sa for p in problems]
    return sorted({key_frame_of(stacks, "ED"), key_frame_of(stacks, "ES")})


def key_frame_of(stacks: Sequence[LabelVolume], which: str = "ED") -> int:
    """The input frame with the largest (``'ED'``) or smallest (``'ES'``) LV blood pool (voxel count)."""
    counts = [int((v.array == LV).sum()) for v in stacks]
    return int(np.argmax(counts) if which == "ED" else np.argmin(counts))


def select_frames(spec: str | Sequence[int] | None, stacks: Sequence[LabelVolume]) -> list[int]:
    """The frames to fit (``--frames``): ``None`` (all), indices, or a comma list of indices, ``ED`` and ``ES``.

    Examples
    --------
    >>> from cardiosr.volume import LabelVolume
    >>> stacks = [LabelVolume(np.full((2, 3, 3), 1 if t != 1 else 0, np.uint8), np.eye(4)) for t in range(3)]
    >>> select_frames("ES,2", stacks), select_frames(None, stacks)
    ([1, 2], [0, 1, 2])
    """
    n = len(stacks)
    if spec is None:
        return list(range(n))
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen = set()
    for item in items:
        text = str(item).strip()
        if text.upper() in ("ED", "ES"):
            chosen.add(key_frame_of(stacks, text.upper()))
        elif text.lstrip("-").isdigit() and 0 <= int(text) < n:
            chosen.add(int(text))
        else:
            raise InputError(f"--frames: {text!r} is not ED, ES or a frame index between 0 and {n - 1}")
    return sorted(chosen)


def shared_shift_estimate(problems: Sequence[Problem], name: str) -> np.ndarray:
    """A stack-only shift estimate (``'align'``, ``'centroid'``, ``'zero'``) from every frame.

    The slice alignment is fitted to all frames at once (:func:`~cardiosr.slice_alignment.alignment_shifts`
    with the frames as channels of one objective), and so is the LV-centroid line
    (:func:`~cardiosr.optimise.init.centroid_shifts`: one line per frame, one deviation per slice shared by
    all, the linear trend fixed as in the ED frame alone); other estimates are made on every frame and a
    slice's shift is their mean over the frames in which it holds heart labels. Each frame's estimate is in
    the zero-mean gauge of its own heart slices, which differ between frames (the base descends in systole),
    so before averaging each is moved to a common gauge: zero mean over the slices that hold heart labels in
    every frame. The result is in the zero-mean gauge over the slices that hold heart labels in any frame.
    ``(D, 2)`` mm.
    """
    stacks = [p.sa for p in problems]
    if name == "align":
        return alignment_shifts(stacks)
    if name == "centroid":  # every frame at once; the unobservable linear trend fixed as in the ED frame alone
        return centroid_shifts(stacks, trend_frame=key_frame_of(stacks, "ED"))
    estimates = np.stack([INITIAL_SHIFTS[name](p.sa) for p in problems])  # (T, D, 2)
    present = np.stack([(p.sa.array > 0).any((1, 2)) for p in problems]).astype(float)  # (T, D)
    common = present.all(0)
    if common.any():
        estimates = estimates - estimates[:, common].mean(1, keepdims=True) * present[..., None]
    count = present.sum(0)
    d = (estimates * present[..., None]).sum(0) / np.maximum(count, 1.0)[:, None]
    heart = count > 0
    if heart.any() and all(p.zero_mean_gauge for p in problems):
        d[heart] -= d[heart].mean(0)
    d[~heart] = 0.0
    return d


def _temporal_pairs(frames: Sequence[int], n_frames: int, cyclic: bool) -> list[tuple[int, int]]:
    """Index pairs (into ``frames``) of consecutive fitted frames; cyclic closes the loop on a full cycle."""
    pairs = [(i, i + 1) for i in range(len(frames) - 1) if frames[i + 1] == frames[i] + 1]
    if cyclic and len(frames) == n_frames and n_frames > 2:
        pairs.append((len(frames) - 1, 0))
    return pairs


def _fit_latents(
    decode: FrozenDecoder,
    problems: Sequence[Problem],
    shifts: Sequence[torch.Tensor],
    z0: torch.Tensor,
    options: OptimiseOptions,
    pairs: Sequence[tuple[int, int]] = (),
    temporal_weight: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    search: torch.Tensor | None = None,
    free: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[list[dict]], bool]:
    """Adam on the latent codes of several items; returns z, histories, converged.

    Each item is decoded alone, only the slices its loss reads (:meth:`Problem.decode`), and backpropagated at
    once, so memory does not grow with the number of items.

    The objective is the sum of the items' Eq. 5 plus the temporal term over ``pairs``; it stops by
    :class:`StoppingRule` on that sum (the items are coupled, so they stop together). The shifts are fixed
    (``shifts``), or with ``search`` (a ``(D, 2)`` start; only its heart slices move) one set of shifts shared by
    every item is searched too, with the motion prior ``λ·(−log p(d))`` (``options.motion_prior``); the
    searched shifts are written back into ``search``; with ``free`` (:func:`~cardiosr.optimise.init.views_unmeasured`)
    they keep the components the long-axis views measured at the start.
    """
    z = z0.clone().requires_grad_(True)
    groups = [{"params": [z], "lr": options.lr_z}]
    if search is not None:
        heart = torch.stack([p.sa_loss.heart_slices for p in problems]).any(0)
        mask = heart.to(search.dtype)[:, None]
        d = search.clone().requires_grad_(True)
        groups.append({"params": [d], "lr": options.lr_d})
        start = search.clone()
    optimiser = torch.optim.Adam(groups)
    rule = StoppingRule(options.window, options.tolerance)
    totals: list[float] = []
    histories: list[list[dict]] = [[] for _ in problems]
    converged = False
    for iteration in range(options.max_iterations + 1):
        optimiser.zero_grad(set_to_none=True)
        # One item at a time, each backpropagated at once: the memory of one decoding, whatever the frame
        # count (the gradients add up in z.grad and d.grad; on the last iteration they go unused).
        objective = 0.0
        for i, p in enumerate(problems):
            dd = d * mask if search is not None else shifts[i]
            total, parts = multi_view_loss(p.decode(decode, z[i : i + 1]), dd[None], p, selected=p.reads_parts)
            histories[i].append(
                {"stage": "latent", "iteration": iteration, "total": total[0].item()}
                | {k: v[0].item() for k, v in parts.items()}
            )
            objective += total[0].item()
            total[0].backward()
        coupling = []
        if search is not None and options.motion_prior:
            coupling.append(len(problems) * options.motion_prior * motion_prior_term((d * mask)[None], heart)[0])
        if pairs and temporal_weight > 0:
            a, b = zip(*pairs, strict=True)
            coupling.append(temporal_weight * (z[list(a)] - z[list(b)]).pow(2).sum())
        for term in coupling:
            objective += term.item()
            term.backward()
        totals.append(objective)
        if progress is not None:
            progress(iteration, options.max_iterations)
        if rule.converged(totals) or iteration == options.max_iterations:
            converged = rule.converged(totals)
            break
        optimiser.step()
        if search is not None and free is not None:
            keep_measured(d, start, free)
    if search is not None:
        search.copy_((d * mask).detach())
    return z.detach(), histories, converged


def cycle_optimisation(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    options: OptimiseOptions | None = None,
    *,
    cyclic: bool = False,
    frames: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CycleFit:
    """Fit a cine: shared shifts from all frames, the motion test on the key frames, one ``z`` per frame.

    Parameters
    ----------
    prior:
        A generator ``G`` with an encoder (the warm start).
    problems:
        One :class:`~cardiosr.optimise.problem.Problem` per frame, in time order, on one canonical frame.
    options:
        :class:`OptimiseOptions` (``init_shifts``, ``second_estimate``, ``motion_test``, ``motion_threshold``,
        ``search_threshold``, ``motion_prior``, ``refine``, the stopping rule, the learning rates, and
        ``temporal_weight``: λ_t of the temporal smoothness term, per unit of squared latent distance).
    cyclic:
        The frames cover a whole cycle: the last frame is also smoothed towards the first.
    frames:
        The frames to fit a shape for (default: all); the shifts always come from every frame.
    progress:
        Called as ``progress(iteration, max_iterations)`` during the shape fit.

    Returns
    -------
    CycleFit
    """
    options = options or OptimiseOptions()
    options.check()
    if options.shift_search or options.schedule != "joint" or options.restarts != 1:
        raise InputError(
            "a cine uses the joint schedule with fixed shifts and one start (no --shift-search/--restarts)"
        )
    n = len(problems)
    wanted = list(range(n)) if frames is None else sorted({int(f) for f in frames})
    if not wanted or wanted[0] < 0 or wanted[-1] >= n:
        raise InputError(f"frames must be between 0 and {n - 1}, got {list(frames or [])}")
    start = time.perf_counter()
    prior.eval()
    device = next(prior.parameters()).device
    for p in problems:
        p.to(device)
    decode = prior.frozen_decoder().to(device)
    names = [options.init_shifts]
    if options.second_estimate not in (None, options.init_shifts):
        names.append(str(options.second_estimate))
    estimates = {name: corrected_by_views(shared_shift_estimate(problems, name), problems, options) for name in names}
    d, motion = estimates[names[0]], {}
    unmeasured = views_unmeasured(problems, options)
    free = None if unmeasured is None else torch.from_numpy(unmeasured).float().to(device)
    if options.motion_test:
        d, motion = _motion_test(decode, prior, problems, estimates, options, device, free)
    d_t = torch.from_numpy(d).float().to(device)
    options = replace(options, window=options.cycle_window)  # the per-frame stages' stopping rule
    fitted = [problems[t] for t in wanted]
    z0 = _start(prior, fitted, [d] * len(fitted), options, device)
    pairs = _temporal_pairs(wanted, n, cyclic)
    z, histories, converged = _fit_latents(
        decode, fitted, [d_t] * len(fitted), z0, options, pairs, options.temporal_weight, progress
    )
    shared = (time.perf_counter() - start) / len(fitted)
    results = _frame_results(decode, fitted, z, d_t, histories, converged, options, motion, shared)
    return CycleFit(results, wanted, d, motion)


def _frame_results(
    decode: FrozenDecoder,
    fitted: Sequence[Problem],
    z: torch.Tensor,
    d: torch.Tensor,
    histories: Sequence[list[dict]],
    converged: bool,
    options: OptimiseOptions,
    motion: dict[str, Any],
    shared_seconds: float,
) -> Iterator[OptimisationResult]:
    """Each fitted frame decoded, its data-consistency stage run (shifts fixed) and its final losses, one at a
    time: a frame's probability maps exist only while the caller finishes it."""
    for i, p in enumerate(fitted):
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = decode(z[i : i + 1])
        history, refine_iterations = histories[i], 0
        shifts = d
        if options.refine and options.refine_iterations > 0:
            logits, shifts, rows = refine_consistency(logits, d, p, options, fix_shifts=True, gauge=False)
            history = history + rows
            refine_iterations = len(rows) - 1
        with torch.no_grad():  # on the parts of the grid the loss reads
            read = p.select(logits) if p.reads_parts else logits
            total, parts = multi_view_loss(read, shifts[None], p, selected=p.reads_parts)
        yield OptimisationResult(
            probs=torch.softmax(logits, 1)[0].cpu().numpy(),
            z=z[i].cpu().numpy(),
            shifts_mm=shifts.detach().cpu().numpy(),
            history=history,
            iterations={"latent": len(histories[i]) - 1, "refine": refine_iterations},
            converged=converged,
            final={"total": float(total[0]), **{k: float(v[0]) for k, v in parts.items()}},
            restart_losses=[float(total[0])],
            gauge=GAUGE_ZERO_MEAN if p.zero_mean_gauge else GAUGE_LONG_AXIS,
            motion=motion or None,
            seconds=shared_seconds + time.perf_counter() - t0,
        )


def _motion_test(
    decode: FrozenDecoder,
    prior: GenerativePrior,
    problems: Sequence[Problem],
    estimates: dict[str, np.ndarray],
    options: OptimiseOptions,
    device: torch.device,
    free: torch.Tensor | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The motion test on the key frames (losses summed over them), with one frame's rules
    (:func:`~cardiosr.optimise.motion_test.motion_decision`): ``d = 0`` against each shared estimate kept fixed
    (the lower loss on the ED frame is "the estimate"; kept when its relative gain exceeds τ on every key frame,
    clear motion, and then searched on from there on the ED key frame alone with the motion prior at
    ``options.estimate_search`` unless that is ``None``);
    else the searched shifts, one set shared by the key frames and started from that estimate, with the motion
    prior. When the gain of either (averaged over the key frames) exceeds τs, motion is supported: the searched
    shifts when their loss is lower than the fixed estimate's by the relative margin τs too (the estimate has no
    free parameters), else the estimate. Else the searched shifts when their gain is positive and the key frames'
    stacks corroborate them (:func:`~cardiosr.optimise.motion_test.corroborated`: they predict their own slices
    better with them, averaged over the key frames); else, when the key frames' long-axis views show motion
    themselves (:func:`_views_corroborate`), the estimate or the searched shifts, whichever has the lower loss;
    else ``d = 0``. Returns the chosen shifts and the evidence."""
    keys = key_frames(problems)
    zero = np.zeros_like(next(iter(estimates.values())))
    shift_of = {"zero": zero, **estimates}
    items = [(h, k) for h in shift_of for k in keys]
    item_problems = [problems[k] for _, k in items]
    item_shifts = [shift_of[h] for h, _ in items]
    _, histories, _ = _fit_latents(
        decode,
        item_problems,
        _tensors(item_shifts, device),
        _start(prior, item_problems, item_shifts, options, device),
        options,
    )  # the items are independent (no temporal pairs), so each gets exactly its own gradient
    per_frame: dict[str, list[float]] = {h: [] for h in shift_of}
    for (h, _), history in zip(items, histories, strict=True):
        per_frame[h].append(weighed_objective(min(history, key=lambda row: row["total"])))
    losses = {h: float(sum(v)) for h, v in per_frame.items()}
    # the estimate is chosen on the ED frame, where the prior fits best: the ES frame's loss prefers the
    # smoother slice alignment even where the LV-centroid line is 2-3 times closer to the truth (measured in
    # docs/benchmarks.md, section cardiac-cycle), and a sum of both is decided by ES's larger losses
    best = estimate_on_ed(per_frame, keys.index(key_frame_of([p.sa for p in problems], "ED")), list(estimates))
    loss_0, loss_d = losses["zero"], losses[best]
    # the relative gain of each key frame, averaged: a frame the prior fits less well (often ES) has larger
    # losses under every hypothesis and would otherwise dilute the gain of the others
    gains = [(a - b) / max(a, EPS) for a, b in zip(per_frame["zero"], per_frame[best], strict=True)]
    gain = float(np.mean(gains))
    # clear motion only when every key frame shows it: the shifts are shared, and the shared estimate of a cine
    # is already close (on phantom cines 0.3-0.5 mm from the truth but for its linear trend), so a search from it
    # under normal motion mostly moves that trend to where the prior's shapes fit better (0.5-2.7 mm worse on the
    # benchmark's phantom cines; docs/benchmarks.md, sections cardiac-cycle-clear-every-key, prior-tilt-bias)
    clear = min(gains) > options.motion_threshold
    motion: dict[str, Any] = {
        "supported": bool(clear),
        "hypothesis": "estimated" if clear else "none",
        "estimate": best,
        "estimate_losses": {h: round(losses[h], 6) for h in estimates},
        "loss_without_motion": round(loss_0, 6),
        "loss_with_motion": round(loss_d, 6),
        "relative_gain": round(gain, 4),
        "key_frame_gains": [round(g, 4) for g in gains],
        "threshold": options.motion_threshold,
        "motion_prior_lambda": options.motion_prior,
        "key_frames": keys,
        "key_frame_losses": {h: [round(x, 6) for x in v] for h, v in per_frame.items()},
        "shifts_from": "every frame (stack-only estimates); searched shifts: shared by the key frames",
    }
    if any(p.views for p in problems):
        motion["view_alignment"] = views_correct_estimates(problems, options)
    if clear:
        if options.estimate_search is None:
            return estimates[best], motion
        # clear motion: the estimate is the start of the joint search of the ED frame's z and the shifts (on
        # the ED frame, where the prior fits best, as the estimate is chosen)
        lam, ed = options.estimate_search, [key_frame_of([p.sa for p in problems], "ED")]
        searched, histories = _search_shifts(decode, prior, problems, ed, estimates[best], options, lam, free)
        loss_e = _searched_loss(searched, histories, [problems[k] for k in ed], lam)
        motion.update(
            estimate_searched=True, estimate_search_lambda=lam, loss_estimate_searched=round(float(sum(loss_e)), 6)
        )
        if free is not None and options.view_trend > 0:
            # one view: its tilt across its lines, read from the chords of every frame, weighed with the search's
            weighed = blend_view_trend(searched, estimates[best], free.cpu().numpy(), options.view_trend)
            if not np.array_equal(weighed, searched):  # some slices are seen along one direction only
                searched = weighed
                motion.update(view_trend=options.view_trend)
        return searched, motion
    if options.search_threshold is None:
        if _views_corroborate(problems, keys, estimates[best], gain, options, motion):
            return estimates[best], motion
        return zero, motion
    # the estimate with the lower loss is the start: the search can only improve on it
    searched, histories = _search_shifts(
        decode, prior, problems, keys, estimates[best], options, options.motion_prior, free
    )
    searched_frames = _searched_loss(searched, histories, [problems[k] for k in keys], options.motion_prior)
    loss_s = float(sum(searched_frames))
    gain_s = float(np.mean([(a - b) / max(a, EPS) for a, b in zip(per_frame["zero"], searched_frames, strict=True)]))
    motion.update(
        loss_searched=round(loss_s, 6),
        relative_gain_searched=round(gain_s, 4),
        search_threshold=options.search_threshold,
    )
    if max(gain, gain_s) <= options.search_threshold:
        # the key frames' stacks corroborate searched shifts below τs (as a single stack's do): the shifts are
        # shared, so each key frame predicts its own slices with them, and the gains are averaged
        stacks = [problems[k].sa for k in keys]
        if corroborated(gain_s, options, lambda: self_consistency_gain(stacks, searched), motion):
            motion.update(supported=True, hypothesis="searched", corroborated=True)
            return searched, motion
        if _views_corroborate(problems, keys, estimates[best], gain, options, motion):
            # the views show motion themselves: the hypothesis with motion that explains the key frames better
            if loss_s < loss_d:
                motion.update(hypothesis="searched")
                return searched, motion
            return estimates[best], motion
        return zero, motion
    # motion is supported: the searched shifts only when they explain the key frames better than the fixed
    # estimate they started from (which has no free parameters) by the same relative margin τs
    if (loss_d - loss_s) / max(loss_d, EPS) > options.search_threshold:
        motion.update(supported=True, hypothesis="searched")
        return searched, motion
    motion.update(supported=True, hypothesis="estimated")
    return estimates[best], motion


def _views_corroborate(
    problems: Sequence[Problem],
    keys: Sequence[int],
    estimate: np.ndarray,
    gain: float,
    options: OptimiseOptions,
    motion: dict[str, Any],
) -> bool:
    """Whether the long-axis views of the key frames corroborate motion where the key frames' losses alone kept
    ``d = 0``, as for a single stack (:func:`~cardiosr.optimise.motion_test.motion_decision`): only when the
    views' crossings corrected the estimates, by :func:`~cardiosr.optimise.motion_test.views_show_motion` with
    :func:`~cardiosr.view_alignment.view_motion_evidence` of the shared ``estimate`` on the key frames' lines
    and ``gain``, the estimate's relative gain averaged over the key frames. Records ``view_evidence`` and, when
    they do, ``supported``, ``hypothesis = 'estimated'`` and ``corroborated_by_views`` in ``motion``."""
    if not views_correct_estimates(problems, options):
        return False
    key_problems = [problems[k] for k in keys]
    views = [p.views if p.gamma > 0 else () for p in key_problems]
    evidence = view_motion_evidence([p.sa for p in key_problems], views, estimate)
    if evidence is None:
        return False
    motion["view_evidence"] = round(evidence, 4)
    if not views_show_motion(evidence, gain, options):
        return False
    motion.update(supported=True, hypothesis="estimated", corroborated_by_views=True)
    return True


def _search_shifts(
    decode: FrozenDecoder,
    prior: GenerativePrior,
    problems: Sequence[Problem],
    keys: Sequence[int],
    start: np.ndarray,
    options: OptimiseOptions,
    motion_prior: float,
    free: torch.Tensor | None = None,
) -> tuple[np.ndarray, list[list[dict]]]:
    """One set of shifts shared by the frames ``keys``, searched with their latent codes from ``start`` with
    the motion prior at ``motion_prior`` (λ): the shifts ``(D, 2)`` (float64) and each frame's loss history
    (``free``: only the components no long-axis view measured move)."""
    device = next(prior.parameters()).device
    key_problems = [problems[k] for k in keys]
    searched = torch.from_numpy(start).float().to(device)
    z0 = _start(prior, key_problems, [start] * len(keys), options, device)
    _, histories, _ = _fit_latents(
        decode, key_problems, [], z0, replace(options, motion_prior=motion_prior), search=searched, free=free
    )
    return searched.cpu().numpy().astype(float), histories


def _searched_loss(
    searched: np.ndarray, histories: Sequence[list[dict]], key_problems: Sequence[Problem], motion_prior: float
) -> list[float]:
    """Each searched frame's last loss of a shift search (:func:`~cardiosr.optimise.motion_test.weighed_objective`)
    plus its share of the motion-prior term."""
    heart = torch.stack([p.sa_loss.heart_slices.cpu() for p in key_problems]).any(0)
    d = torch.from_numpy(searched).float()[None]
    share = motion_prior * float(motion_prior_term(d, heart)[0])  # |key| · λ · (−log p) shared by |key| frames
    return [weighed_objective(history[-1]) + share for history in histories]


def estimate_on_ed(per_frame: dict[str, list[float]], ed: int, names: Sequence[str]) -> str:
    """The shift estimate of ``names`` with the lowest loss on the ED key frame (position ``ed`` in each list
    of ``per_frame``, hypothesis → loss per key frame), whatever the other key frames prefer.

    Examples
    --------
    >>> estimate_on_ed({"align": [0.032, 0.043], "centroid": [0.031, 0.046]}, 0, ["align", "centroid"])
    'centroid'
    """
    return min(names, key=lambda h: per_frame[h][ed])


def _tensors(shifts: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(s)).float().to(device) for s in shifts]


def _start(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    shifts: Sequence[np.ndarray],
    options: OptimiseOptions,
    device: torch.device,
) -> torch.Tensor:
    """The start of ``z``: the encoder on each stack moved back by its shifts (warm start), else 0."""
    if options.warm_start:
        return warm_start_latents(prior, problems, list(shifts), device)
    return torch.zeros(len(problems), prior.latent_dim, device=device)
