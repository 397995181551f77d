"""Algorithm 1: the latent search of ``z`` (and ``d``) for one or more subjects in one batch, and its two schedules."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch

from cardiosr.labels import N_CLASSES
from cardiosr.optimise.init import (
    GAUGE_LONG_AXIS,
    GAUGE_ZERO_MEAN,
    INITIAL_SHIFTS,
    apply_gauge,
    blend_view_trend,
    corrected_by_views,
    initial_latents,
    keep_measured,
    views_correct_estimates,
    views_unmeasured,
)
from cardiosr.optimise.losses import EPS, motion_prior_term
from cardiosr.optimise.motion_test import motion_decision, self_consistency_gain, weighed_objective
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import Problem, multi_view_loss
from cardiosr.optimise.refine import refine_consistency
from cardiosr.optimise.result import OptimisationResult
from cardiosr.optimise.run import Run, snapshot
from cardiosr.optimise.stopping import StoppingRule
from cardiosr.prior.networks import FrozenDecoder, GenerativePrior
from cardiosr.view_alignment import view_motion_evidence


def run_losses(
    decode: FrozenDecoder,
    z: torch.Tensor,
    d: torch.Tensor,
    problems: Sequence[Problem],
    runs: Sequence[Run],
    every_d: bool = False,
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Eq. 5 (plus each run's motion-prior term) of every run: ``z`` and ``d`` hold one row per run, in order.

    The runs of one subject are decoded together, only as much of ``G(z)`` as its loss reads
    (:meth:`Problem.decode`), and their loss is computed on that batch at once (a loss per run on a slice of
    the batch would, backpropagated, fill a zero gradient of the whole batch for every run). Gradients reach
    the shifts of the searching runs only (of all with ``every_d``)."""
    totals: list[torch.Tensor | None] = [None] * len(runs)
    rows: list[dict[str, float] | None] = [None] * len(runs)
    for index in sorted({run.problem for run in runs}):
        p = problems[index]
        mine = [i for i, run in enumerate(runs) if run.problem == index]
        n = p.sa_loss.n_slices
        shifts = []
        for i in mine:
            run = runs[i]
            row = d[i : i + 1, :n] if run.moves_shifts or every_d else d[i : i + 1, :n].detach()
            dd = apply_gauge(row, p.sa_loss.heart_slices, p.zero_mean_gauge)
            shifts.append(dd * 0.0 if run.zero_motion else dd)
        dd = torch.cat(shifts)
        total, parts = multi_view_loss(p.decode(decode, z[mine]), dd, p, selected=p.reads_parts)
        for j, i in enumerate(mine):
            run_total = total[j]
            run_parts = {k: v[j].item() for k, v in parts.items()}
            if runs[i].motion_prior:
                motion = runs[i].motion_prior * motion_prior_term(dd[j : j + 1], p.sa_loss.heart_slices)[0]
                run_parts["motion"] = motion.item()
                run_total = run_total + motion
            totals[i] = run_total
            rows[i] = {"total": run_total.item(), **run_parts}
    return torch.stack(totals), rows


def latent_optimisation(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    options: OptimiseOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[OptimisationResult]:
    """Algorithm 1 for one or more subjects at once: Adam on ``z`` and ``d`` to minimise Eq. 5.

    All restarts of all subjects are decoded as one batch per iteration (the prior is in ``eval`` mode, so
    batch items are independent and each gets exactly its own gradient). Each run stops on its own by
    :class:`StoppingRule`; its state at that iteration is kept.

    Parameters
    ----------
    prior:
        A generator ``G`` (:func:`cardiosr.prior.load_prior`).
    problems:
        Subjects from :func:`make_problem`.
    options:
        :class:`OptimiseOptions`.
    progress:
        Called as ``progress(iteration, max_iterations)`` after every iteration.

    Returns
    -------
    list of OptimisationResult
        One per subject, in order.
    """
    options = options or OptimiseOptions()
    options.check()
    if options.schedule == "reference":
        options = replace(options, warm_start=False, max_iterations=options.reference_rounds)
    start = time.perf_counter()
    prior.eval()
    device = next(prior.parameters()).device
    for p in problems:
        p.to(device)
    lam = options.motion_prior
    runs = [
        Run(i, k, search=options.shift_search, motion_prior=lam if options.shift_search else 0.0)
        for i in range(len(problems))
        for k in range(options.restarts)
    ]
    if options.motion_test and options.schedule == "joint":  # the other hypotheses, in the same batch
        runs += [Run(i, 0, zero_motion=True) for i in range(len(problems))]
        if options.search_threshold is not None and not options.shift_search:
            runs += [Run(i, 0, search=True, motion_prior=lam) for i in range(len(problems))]
        if options.second_estimate not in (None, options.init_shifts) and not options.shift_search:
            runs += [Run(i, 0, second=True) for i in range(len(problems))]
    n_slices = max(p.sa_loss.n_slices for p in problems)
    shifts = [np.zeros((p.sa_loss.n_slices, 2)) for p in problems]
    second = list(shifts)
    if options.schedule == "joint":
        shifts = [corrected_by_views(INITIAL_SHIFTS[options.init_shifts](p.sa), [p], options) for p in problems]
        if any(run.second for run in runs):
            second = [corrected_by_views(INITIAL_SHIFTS[options.second_estimate](p.sa), [p], options) for p in problems]
    z = initial_latents(prior, problems, runs, options, shifts, second).requires_grad_(True)
    d0 = np.zeros((len(runs), n_slices, 2), np.float32)
    for i, run in enumerate(runs):
        if not run.zero_motion:
            start_d = second[run.problem] if run.second else shifts[run.problem]
            d0[i, : len(start_d)] = start_d
            run.start = np.asarray(start_d, dtype=float)
    d = torch.from_numpy(d0).to(device).requires_grad_(True)
    rule = StoppingRule(options.window, options.tolerance)
    decode = prior.frozen_decoder().to(device)
    free = [views_unmeasured([p], options) if options.schedule == "joint" else None for p in problems]
    free = [None if f is None else torch.from_numpy(f).float().to(device) for f in free]
    if options.schedule == "reference":
        _reference_rounds(decode, problems, runs, z, d, progress, rounds=options.reference_rounds)
    else:
        _joint_search(decode, problems, runs, z, d, options, rule, progress, free)
    results = _final_results(decode, problems, runs, options, free)
    elapsed = time.perf_counter() - start
    for r in results:
        r.seconds = elapsed / len(results)
    return results


def _joint_search(
    decode: torch.nn.Module,
    problems: Sequence[Problem],
    runs: list[Run],
    z: torch.Tensor,
    d: torch.Tensor,
    options: OptimiseOptions,
    rule: StoppingRule,
    progress: Callable[[int, int], None] | None,
    free: Sequence[torch.Tensor | None] = (),
) -> None:
    """Adam on every run still going until each stops; ``free`` (per problem, :func:`views_unmeasured`): after
    every step a searching run's shifts keep the components the long-axis views measured at their start."""
    start = d.detach().clone()
    views = [(i, free[run.problem]) for i, run in enumerate(runs) if free and free[run.problem] is not None]
    groups = [{"params": [z], "lr": options.lr_z}]
    may_free = options.estimate_search is not None and options.decide_after is not None
    if may_free or any(run.search for run in runs):
        groups.append({"params": [d], "lr": options.lr_d})
    optimiser = torch.optim.Adam(groups)
    for iteration in range(1, options.max_iterations + 1):
        optimiser.zero_grad(set_to_none=True)
        # Only the runs still going are decoded: a stopped run's state is kept and costs nothing more.
        active = [i for i, run in enumerate(runs) if not run.done]
        totals, rows = run_losses(decode, z[active], d[active], problems, [runs[i] for i in active])
        for i, row in zip(active, rows, strict=True):
            run = runs[i]
            run.history.append({"stage": "latent", "iteration": iteration - 1, **row})
            snapshot(run, z, d, i, row, iteration - 1)
            if rule.converged([h["total"] for h in run.history[run.since :]]):
                run.done = run.converged = True
        if iteration == (options.decide_after or options.window):
            _stop_the_worse_estimate(runs, len(problems))
        if options.decide_after and iteration % options.decide_after == 0:
            _decide_early(runs, problems, options, iteration)
        if progress is not None:
            progress(iteration, options.max_iterations)
        if all(run.done for run in runs):
            break
        totals.sum().backward()
        if d.grad is not None:  # the shifts of the other runs stay where they are (Adam: no step)
            d.grad.mul_(torch.tensor([run.moves_shifts for run in runs], device=d.device)[:, None, None])
        optimiser.step()
        for i, projection in views:
            if runs[i].moves_shifts:
                n = len(projection)
                keep_measured(d[i, :n], start[i, :n], projection)
    else:
        # The cap was reached: record the state after the last step.
        active = [i for i, run in enumerate(runs) if not run.done]
        with torch.no_grad():
            _, rows = run_losses(decode, z[active], d[active], problems, [runs[i] for i in active])
        for i, row in zip(active, rows, strict=True):
            runs[i].history.append({"stage": "latent", "iteration": options.max_iterations, **row})
            snapshot(runs[i], z, d, i, row, options.max_iterations)
            runs[i].done = True


def _stop_the_worse_estimate(runs: list[Run], n_problems: int) -> None:
    """The two fixed shift estimates of a subject race until the early decision (``decide_after``; without it,
    for one stopping-rule window): the one with the higher loss then stops (its state is kept), so the second
    estimate costs that much decoding, not a whole fit. The losses are those the motion test weighs
    (:func:`~cardiosr.optimise.motion_test.weighed_objective`), so the estimate kept going is the one it picks.
    The motion test compares the kept states, so the stopped one is never preferred."""
    for index in range(n_problems):
        mine = [r for r in runs if r.problem == index and not (r.zero_motion or r.search)]
        first = [r for r in mine if not r.second and not r.done]
        second = [r for r in mine if r.second and not r.done]
        if not first or not second:
            continue
        best_first = min(first, key=lambda r: r.state.total)  # restarts of one hypothesis: by Eq. 5 itself
        if weighed_objective(second[0].state.losses) > weighed_objective(best_first.state.losses):
            second[0].done = True
        else:
            for r in first:
                r.done = True


def _decide_early(runs: list[Run], problems: Sequence[Problem], options: OptimiseOptions, iteration: int) -> None:
    """The motion test decides on the states kept so far and stops the hypotheses it rules out.

    When it keeps the fixed estimate or ``d = 0``, only that hypothesis (all its restarts) goes on: its loss can
    only fall while the others' stay, so the final test on the kept states decides the same (see
    :func:`motion_decision`). The searched hypothesis, whose free shifts make its loss fall fastest in the
    first iterations, is not taken this early: when it leads, it goes on with ``d = 0`` and the fixed estimate
    (both can still overtake it), and the test is made again every ``decide_after`` iterations until it keeps
    one of those two (the final test then decides as without the early decision), except a fixed estimate too far
    from τ to reach it (:func:`_stop_a_distant_estimate`). A subject is decided once; the losses and relative
    gains it was decided on are kept (the motion record's ``at_decision``: the record's own are those of the
    final test, where the chosen hypothesis has gone on and the others' losses are those of the decision)."""
    for index, problem in enumerate(problems):
        still = [r for r in runs if r.problem == index and r.zero_motion]
        if not still or still[0].decided_at is not None:
            continue
        chosen, mine, motion = _chosen_run(index, runs, options, problem)
        if chosen.search and not options.shift_search:
            _stop_a_distant_estimate(index, runs, still[0], options)
            continue  # the searched hypothesis leads: every hypothesis still going goes on
        still[0].decision = {
            k: v for k, v in (motion or {}).items() if k.startswith(("loss_", "relative_gain", "view_evidence"))
        }
        keep = mine if chosen in mine else [chosen]
        for run in runs:
            if run.problem == index:
                run.decided_at = iteration
                if run not in keep:
                    run.done = True
        if options.estimate_search is not None and not (chosen.zero_motion or options.shift_search):
            for run in keep:  # the kept estimate goes on with its shifts free (the motion prior at λe)
                run.freed, run.motion_prior, run.done, run.converged = True, options.estimate_search, False, False
                run.since = len(run.history)  # the stopping rule starts afresh


#: While the searched hypothesis leads the early motion test, the fixed estimate stops once its relative gain over
#: ``d = 0`` is below this fraction of τ (``motion_threshold``): it is only ever kept with a gain above τ, and on 83
#: real, ACDC, M&Ms-2 and phantom stacks every output was the same with and without the stop, two only up to the
#: rounding of the smaller batch (``python benchmarks/distant_estimate.py``, section *distant-estimate*); its state
#: is kept for the final test.
DISTANT_ESTIMATE_FRACTION = 0.5


def _stop_a_distant_estimate(index: int, runs: list[Run], still: Run, options: OptimiseOptions) -> None:
    """Stop subject ``index``'s fixed-estimate runs whose gain over ``d = 0`` is below
    :data:`DISTANT_ESTIMATE_FRACTION` × τ (one decoder pass less per iteration while the others go on)."""
    loss_0 = weighed_objective(still.state.losses)
    for run in runs:
        if run.problem != index or run.zero_motion or run.search or run.done:
            continue
        gain = (loss_0 - weighed_objective(run.state.losses)) / max(loss_0, EPS)
        if gain < DISTANT_ESTIMATE_FRACTION * options.motion_threshold:
            run.done = True


def _reference_rounds(
    decode: torch.nn.Module,
    problems: Sequence[Problem],
    runs: list[Run],
    z: torch.Tensor,
    d: torch.Tensor,
    progress: Callable[[int, int], None] | None,
    rounds: int = 500,
) -> None:
    """The published procedure's schedule (``../shared/data/prior-format.md``), re-implemented from its description.

    Each round takes one Adam step on ``z`` (lr 0.2) with ``d`` fixed, then one on ``d`` (lr 0.1 voxel,
    i.e. 0.1 × the in-plane pixel size in mm) with ``z`` fixed: two decoder passes per round. Both learning
    rates are halved every 100 rounds; there is no stopping rule. Unlike the published shift layer
    (``nearest`` sampling, zero gradient) ours is bilinear, so the shifts do move.
    """
    pixel = float(np.mean([np.mean(p.sa.spacing[1:]) for p in problems]))
    opt_z = torch.optim.Adam([z], lr=0.2)
    opt_d = torch.optim.Adam([d], lr=0.1 * pixel)
    sched = [torch.optim.lr_scheduler.StepLR(o, step_size=100, gamma=0.5) for o in (opt_z, opt_d)]
    for r in range(rounds):
        opt_z.zero_grad(set_to_none=True)
        totals, _ = run_losses(decode, z, d.detach(), problems, runs)
        totals.sum().backward()
        opt_z.step()
        opt_d.zero_grad(set_to_none=True)
        totals, rows = run_losses(decode, z.detach(), d, problems, runs, every_d=True)
        totals.sum().backward()
        opt_d.step()
        for i, run in enumerate(runs):
            run.history.append({"stage": "reference", "iteration": r, **rows[i]})
        for s in sched:
            s.step()
        if progress is not None:
            progress(r + 1, rounds)
    with torch.no_grad():
        _, rows = run_losses(decode, z, d, problems, runs)
    for i, run in enumerate(runs):
        run.history.append({"stage": "reference", "iteration": rounds, **rows[i]})
        snapshot(run, z, d, i, rows[i], rounds)
        run.done = True


def _self_consistency_gain(problem: Problem) -> Callable[[Run], float]:
    """The check of :func:`motion_decision`: how much better the stack of ``problem`` predicts its own slices
    with a run's shifts than with ``d = 0`` (:func:`self_consistency_gain`, mean Dice; it puts the shifts in the
    zero-mean gauge of the stack's heart slices itself)."""

    def gain(run: Run) -> float:
        return self_consistency_gain([problem.sa], run.state.d[: problem.sa_loss.n_slices].cpu().numpy())

    return gain


def _chosen_run(
    index: int, runs: list[Run], options: OptimiseOptions, problem: Problem
) -> tuple[Run, list[Run], dict | None]:
    """Subject ``index``'s run to keep (best restart, then the motion test), its restarts, and the test's record."""
    mine = [
        r
        for r in runs
        if r.problem == index and not r.zero_motion and not r.second and r.search == options.shift_search
    ]
    best = min(mine, key=lambda r: r.state.total)
    still = [r for r in runs if r.problem == index and r.zero_motion]
    if not still:
        return best, mine, None
    others = [r for r in runs if r.problem == index and r not in mine]
    evidence = None
    if problem is not None and views_correct_estimates([problem], options):
        shifts = best.state.d[: problem.sa_loss.n_slices].cpu().numpy()
        evidence = view_motion_evidence(problem.sa, problem.views, shifts)
    best, motion = motion_decision(best, still[0], others, options, _self_consistency_gain(problem), evidence)
    if problem is not None and problem.views:
        motion["view_alignment"] = views_correct_estimates([problem], options)
    if still[0].decided_at is not None:
        motion["decided_at_iteration"] = still[0].decided_at
        motion["at_decision"] = still[0].decision  # the losses and gains of that iteration's test
    if best.freed:
        motion.update(estimate_searched=True, estimate_search_lambda=options.estimate_search)
    return best, mine, motion


def _final_results(
    decode: torch.nn.Module,
    problems: Sequence[Problem],
    runs: list[Run],
    options: OptimiseOptions,
    free: Sequence[torch.Tensor | None] = (),
) -> list[OptimisationResult]:
    """Per subject: the chosen run decoded, the restarts' uncertainty, the data-consistency stage when
    ``options.refine`` (:func:`~cardiosr.optimise.refine.refine_consistency`), and the final losses."""
    results = []
    for index, problem in enumerate(problems):
        best, mine, motion = _chosen_run(index, runs, options, problem)
        zs = torch.stack([r.state.z for r in mine])
        with torch.no_grad():
            logits = decode(zs)
            if best not in mine:
                chosen_logits = decode(best.state.z[None])
        uncertainty = None
        if len(mine) > 1:
            votes = torch.nn.functional.one_hot(logits.argmax(1), N_CLASSES).sum(0)  # (D, H, W, C)
            uncertainty = (1.0 - votes.max(-1).values.float() / len(mine)).cpu().numpy()
        n = problem.sa_loss.n_slices
        d = apply_gauge(best.state.d[None, :n], problem.sa_loss.heart_slices, problem.zero_mean_gauge)[0]
        if best.zero_motion:
            d = d * 0.0
        projection = free[index] if free else None
        if best.freed and projection is not None and best.start is not None and options.view_trend > 0:
            # one view: the tilt across its lines weighed between the search and the view (as for a cine)
            weighed = blend_view_trend(d.cpu().numpy(), best.start, projection.cpu().numpy(), options.view_trend)
            if not np.array_equal(weighed, d.cpu().numpy()):  # some slices are seen along one direction only
                d = torch.from_numpy(weighed).to(d)
                motion["view_trend"] = options.view_trend
        history = list(best.history)
        latent_iterations = best.state.iteration
        final_logits = logits[mine.index(best) : mine.index(best) + 1] if best in mine else chosen_logits
        refine_iterations, latent_probs = 0, None
        if options.refine and options.refine_iterations > 0 and options.schedule == "joint":
            latent_probs = torch.softmax(final_logits, 1)[0].cpu().numpy()
            final_logits, d, rows = refine_consistency(
                final_logits, d, problem, options, fix_shifts=not best.search, free=projection
            )
            history += rows
            refine_iterations = len(rows) - 1
        with torch.no_grad():
            probs = torch.softmax(final_logits, 1)
            total, parts = multi_view_loss(final_logits, d[None], problem)
        results.append(
            OptimisationResult(
                probs=probs[0].cpu().numpy(),
                z=best.state.z.cpu().numpy(),
                shifts_mm=d.detach().cpu().numpy(),
                history=history,
                iterations={"latent": latent_iterations, "refine": refine_iterations},
                converged=best.converged,
                final={"total": float(total[0]), **{k: float(v[0]) for k, v in parts.items()}},
                restart_losses=[r.state.total for r in mine],
                uncertainty=uncertainty,
                gauge=GAUGE_ZERO_MEAN if problem.zero_mean_gauge else GAUGE_LONG_AXIS,
                latent_probs=latent_probs,
                motion=motion,
            )
        )
    return results
