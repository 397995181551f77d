"""What the cine's clear-motion search moves: the shared estimate's trend, the rest, or both (issue 17).

The cines of ``benchmarks/cardiac_cycle.py`` (held-out phantoms animated through a cycle, cohort seed 1, and the
real biv-me patient's cycle, every ``--bivme-step``-th frame), short-axis stacks with severe motion (one
breath-hold shift per slice shared by all frames, ``--draws`` draws), are enhanced with the shipped defaults
(:meth:`cardiosr.pipeline.Enhancer.run_cycle`), where clear motion keeps the shared stack-only estimate and
searches on from it on the ED frame (the joint search of its code and every slice's shift: *full*), and with
three variants of that search, none shipped: *trend kept* (the full search, then the estimate's linear trend along
the slices put back: only what is not a tilt moves), *trend only* (the ED frame's code and two slopes, the
estimate's linear trend, searched together: only the tilt moves) and *trend, then the rest* (the trend search,
then the full search from its result with that trend put back). The ED frame alone
(:meth:`~cardiosr.pipeline.Enhancer.run`) is the reference. Per cine and variant, means over the draws: shift RMS
(mm, common translation removed) of the shared estimate the search starts from, of the cine's shifts and of the
ED frame's alone, each also with its linear trend removed (a tilt of the long axis, which no short-axis stack
can tell from motion); the draws where the cine is lower; the mean Dice per frame against the truth; and, for
*trend only*, the relative loss gain of the full search over the trend search on the ED frame (its Eq. 5 plus
the motion prior), the evidence a choice between them would have. Writes the ``cycle-trend-search`` section of
``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/cycle_trend_search.py --phantoms 1 --frames 10 --bivme-step 3 --draws 3
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch
from _report import report
from cardiac_cycle import PATTERNS, _dice, _rms, cine_arguments, cines

import cardiosr.optimise.cycle as cycle_module
from cardiosr.degradation import degrade_cine_with_motion
from cardiosr.metrics import clinical_volumes
from cardiosr.optimise.losses import motion_prior_term
from cardiosr.optimise.problem import multi_view_loss
from cardiosr.optimise.stopping import StoppingRule
from cardiosr.pipeline import Enhancer

VARIANTS = ("full", "trend kept", "trend only", "trend, then the rest")
SHIPPED_SEARCH = cycle_module._search_shifts


def _centred_slices(start: np.ndarray, heart: np.ndarray) -> np.ndarray:
    """Slice index minus its mean over the heart slices, 0 elsewhere, ``(D, 1)``."""
    k = np.arange(len(start), dtype=float)
    return np.where(heart, k - k[heart].mean(), 0.0)[:, None]


def _put_back_trend(searched: np.ndarray, start: np.ndarray, heart: np.ndarray) -> np.ndarray:
    """``searched`` with the linear trend along the heart slices of ``searched - start`` removed."""
    kc = _centred_slices(start, heart)
    slope = np.linalg.lstsq(kc[heart], (searched - start)[heart], rcond=None)[0]
    return searched - kc * slope


def _trend_search(decode, problems, z0, options, start: np.ndarray) -> tuple[np.ndarray, list[list[dict]]]:
    """Adam on the codes and two slopes ``s``, the shifts ``start + k·s`` on the heart slices (the shipped search
    moves every slice's shift; no option of the product moves only the trend, so this loop is written here)."""
    heart = torch.stack([p.sa_loss.heart_slices for p in problems]).any(0)
    kc = torch.from_numpy(_centred_slices(start, heart.cpu().numpy())).float()
    mask, base = heart.float()[:, None], torch.from_numpy(start).float()
    z, s = z0.clone().requires_grad_(True), torch.zeros(1, 2, requires_grad=True)
    # a slope moves the end slices of a 10-slice stack by about 4.5 times its size: a quarter of the shifts' rate
    optimiser = torch.optim.Adam([{"params": [z], "lr": options.lr_z}, {"params": [s], "lr": options.lr_d / 4}])
    rule, totals, histories = StoppingRule(options.window, options.tolerance), [], [[] for _ in problems]
    for iteration in range(options.max_iterations + 1):
        optimiser.zero_grad(set_to_none=True)
        d = (base + kc * s) * mask
        terms = [
            multi_view_loss(p.decode(decode, z[i : i + 1]), d[None], p, selected=p.reads_parts)[0][0]
            for i, p in enumerate(problems)
        ]
        for history, term in zip(histories, terms, strict=True):
            history.append({"stage": "latent", "iteration": iteration, "total": term.item()})
        if options.motion_prior:
            terms.append(len(problems) * options.motion_prior * motion_prior_term(d[None], heart)[0])
        objective = sum(terms)
        objective.backward()
        totals.append(objective.item())
        if rule.converged(totals) or iteration == options.max_iterations:
            break
        optimiser.step()
    return ((base + kc * s) * mask).detach().numpy().astype(float), histories


@contextlib.contextmanager
def searching(variant: str, record: dict) -> Iterator[None]:
    """Within the block, the cine's clear-motion search (one key frame) is ``variant``; ``record`` gets its start
    and, for *trend only*, the full search's relative loss gain over the trend search."""

    def search(decode, prior, problems, keys, start, options, motion_prior):
        if len(keys) != 1:  # the searched hypothesis of the key frames together: as shipped
            return SHIPPED_SEARCH(decode, prior, problems, keys, start, options, motion_prior)
        record["estimate"] = start.copy()
        key = [problems[k] for k in keys]
        heart = key[0].sa_loss.heart_slices.cpu().numpy()
        if variant == "full":
            return SHIPPED_SEARCH(decode, prior, problems, keys, start, options, motion_prior)
        if variant == "trend kept":
            searched, histories = SHIPPED_SEARCH(decode, prior, problems, keys, start, options, motion_prior)
            return _put_back_trend(searched, start, heart), histories
        device = next(prior.parameters()).device
        z0 = cycle_module._start(prior, key, [start], options, device)
        trend, histories = _trend_search(decode, key, z0, replace(options, motion_prior=motion_prior), start)
        if variant == "trend only":
            full, full_histories = SHIPPED_SEARCH(decode, prior, problems, keys, start, options, motion_prior)
            loss_trend = sum(cycle_module._searched_loss(trend, histories, key, motion_prior))
            loss_full = sum(cycle_module._searched_loss(full, full_histories, key, motion_prior))
            record["gain"] = (loss_trend - loss_full) / loss_trend
            return trend, histories
        searched, histories = SHIPPED_SEARCH(decode, prior, problems, keys, trend, options, motion_prior)
        return _put_back_trend(searched, trend, heart), histories

    cycle_module._search_shifts = search
    try:
        yield
    finally:
        cycle_module._search_shifts = SHIPPED_SEARCH


def main() -> None:
    parser = cine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3, help="severe motion draws per cine (default 3)")
    parser.add_argument("--section", default="cycle-trend-search", help="docs/benchmarks.md section")
    parser.add_argument(
        "--title", default="The cine's clear-motion search: the trend, the rest or both, severe motion (issue 17)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    enhancer = Enhancer(device="cpu")
    rows = []
    for name, hr in cines(args.phantoms, args.frames, args.bivme_step):
        ed = int(np.argmax([clinical_volumes(f.array, f.spacing)["LV_ml"] for f in hr]))
        draws = [
            degrade_cine_with_motion(hr, PATTERNS["severe"], np.random.default_rng(11 + d)) for d in range(args.draws)
        ]
        alone = [enhancer.run(stacks[ed]).shifts_mm for stacks, _ in draws]
        for variant in VARIANTS:
            runs = []
            for (stacks, shifts), ed_alone in zip(draws, alone, strict=True):
                record: dict = {}
                with searching(variant, record):
                    cycle = enhancer.run_cycle(stacks)
                found = cycle.shifts_mm
                estimate = np.where(np.isnan(found), np.nan, record.get("estimate", np.full_like(found, np.nan)))
                run = {
                    "estimate": _rms(estimate, shifts) if "estimate" in record else np.nan,
                    "estimate_tilt": _rms(estimate, shifts, tilt=True) if "estimate" in record else np.nan,
                    "rms": _rms(found, shifts),
                    "alone": _rms(ed_alone, shifts),
                    "tilt": _rms(found, shifts, tilt=True),
                    "tilt_alone": _rms(ed_alone, shifts, tilt=True),
                    "dice": float(
                        np.mean([_dice(r, hr[t]) for t, r in zip(cycle.frame_indices, cycle.frames, strict=True)])
                    ),
                    "gain": record.get("gain", np.nan),
                }
                runs.append(run)
                print(name, variant, {k: round(float(v), 4) for k, v in run.items()}, flush=True)

            def mean(key: str, runs: list[dict] = runs) -> float:
                return float(np.mean([r[key] for r in runs]))

            gains = ", ".join(f"{r['gain']:.2f}" for r in runs) if variant == "trend only" else "–"
            rows.append(
                [
                    name,
                    variant,
                    f"{mean('estimate'):.2f} / {mean('estimate_tilt'):.2f}",
                    f"{mean('rms'):.2f}",
                    f"{mean('alone'):.2f}",
                    f"{sum(r['rms'] < r['alone'] for r in runs)} of {len(runs)}",
                    f"{mean('tilt'):.2f} / {mean('tilt_alone'):.2f}",
                    f"{mean('dice'):.3f}",
                    gains,
                ]
            )
            print(rows[-1], flush=True)
    report(
        args.section,
        args.title,
        [
            "cine",
            "search",
            "shift RMS mm, estimate / without trend",
            "shift RMS mm, all frames",
            "shift RMS mm, ED alone",
            "draws where all frames are lower",
            "shift RMS mm without trend, all frames / ED alone",
            "Dice, mean over frames",
            "gain of the full search over the trend search, per draw",
        ],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
