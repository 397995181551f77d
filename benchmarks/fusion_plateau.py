"""The fusion's plateau around the acquired slices, chosen on real anatomy (issue 15: consistency ≥ 0.97).

Every case of ``benchmarks/real_data.py`` protocols (a) and (b) (the real hearts made into 10 mm stacks
without, with normal and with severe motion; the ACDC files with the odd slices dropped, 20 mm gaps) is
fitted once with the shipped defaults but without the fusion, then fused with the motion-corrected stack
(:func:`cardiosr.fidelity.fuse_with_stack`, weight 0.5) with each plateau half-width of ``--flats``
(fractions of the slice spacing; 0: none), put back on the input's world grid with clean topology as
``enhance`` does, and scored as in ``real_data.py``. Per group and plateau: mean Dice, the cases where it
is below the better of NN and SBI on the same case (and the lowest margin), the lowest per-structure
consistency Dice (the result degraded by Eq. 1 onto the input against the input, the QC's) and the number
of cases below 0.97. Writes the ``fusion-plateau`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_plateau.py
    python benchmarks/fusion_plateau.py --protocols b --acdc-patients 10 --no-write
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict

import numpy as np
from _report import SHARED, report
from real_data import PATTERNS, real_hearts, score_on_dropped, score_on_hr

from cardiosr.degradation import drop_odd_slices, long_axis_view, simulate_view_displacements
from cardiosr.fidelity import FLAT_FRACTION, fused_labels
from cardiosr.geometry import from_canonical, hr_grid
from cardiosr.io import load_labels
from cardiosr.labels import one_hot
from cardiosr.metrics import long_axis_dice, plausibility
from cardiosr.optimise import OptimiseOptions
from cardiosr.optimise.problem import make_problem
from cardiosr.pipeline import Enhancer
from cardiosr.pipeline.qc import consistency_dice
from cardiosr.simulate import simulate_case
from cardiosr.topology import clean_topology


def real_cases(
    protocols: set[str],
    draws: int,
    seed: int,
    patients: int | None,
    views: list[str] | None = None,
    view_motion: float = 0.0,
    drop_odd: bool = False,
):
    """(group, input stack, long-axis views or ``None``, scorer) of every case; ``views`` (``2ch``, ``4ch``): protocol
    (a)'s stacks with those views of the HR heart, each in its own breath-hold with ``view_motion`` (as
    ``real_data.py --views --view-motion``); ``drop_odd``: protocol (a)'s stacks with their odd slices dropped
    (20 mm gaps, as protocol (b)), still scored against the HR heart."""
    if "a" in protocols:
        for name, hr in real_hearts():
            la = [long_axis_view(hr, view=v) for v in views] if views else None
            for pattern, scale in PATTERNS.items():
                for draw in range(draws if scale or (views and view_motion) else 1):
                    case = simulate_case("heart", hr, scale, np.random.default_rng([seed, draw]))
                    if views and view_motion:
                        rng = np.random.default_rng([seed, draw, 7])
                        moves = simulate_view_displacements(len(views), view_motion, rng)
                        la = [long_axis_view(hr, view=v, displacement_mm=d) for v, d in zip(views, moves, strict=True)]
                    stack = drop_odd_slices(case.lr) if drop_odd else case.lr
                    group = f"{name}, {pattern}" + (", 20 mm gaps" if drop_odd else "")
                    yield group, stack, la, lambda sr, hr=hr: score_on_hr(sr, hr)
    if "b" in protocols:
        files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
        names = sorted({f.name.split("_")[0] for f in files})[:patients]
        for path in [f for f in files if f.name.split("_")[0] in names]:
            full = load_labels(path, "acdc")
            yield (
                "ACDC, odd slices dropped",
                drop_odd_slices(full),
                None,
                lambda sr, full=full: score_on_dropped(sr, full),
            )
    if "d" in protocols:  # the ACDC files as acquired: no truth between the slices, consistency only
        files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
        names = sorted({f.name.split("_")[0] for f in files})[:patients]
        for path in [f for f in files if f.name.split("_")[0] in names]:
            yield "ACDC as acquired (consistency only)", load_labels(path, "acdc"), None, None
    if "c" in protocols:  # the paper's Table 3 protocol: scored on the four-chamber view's plane
        for phase in ("ED", "ES"):
            folder = SHARED / "mnms2-case001"
            sa, la = (load_labels(folder / f"001_{v}_{phase}_gt.nii.gz", "mnms") for v in ("SA", "LA"))
            yield "M&Ms-2 001, 4-chamber view", sa, None, lambda sr, la=la: long_axis_dice(sr, la)
    if "e" in protocols:  # real_data.py's (e): the odd slices dropped, the real four-chamber view an input
        for phase in ("ED", "ES"):
            folder = SHARED / "mnms2-case001"
            full, la = (load_labels(folder / f"001_{v}_{phase}_gt.nii.gz", "mnms") for v in ("SA", "LA"))
            group = "M&Ms-2 001, odd slices dropped, with its 4-chamber view"
            yield group, drop_odd_slices(full), [la], lambda sr, full=full: score_on_dropped(sr, full)


#: The fusion ``enhance`` runs, as :func:`fused_scores` takes it: the keywords of
#: :func:`cardiosr.fidelity.fused_labels` and ``output_grid``.
SHIPPED = OptimiseOptions().fusion_keywords() | {"output_grid": True}


def fused_scores(result, problem, score, output_grid: bool = True, **fusion) -> tuple[dict[str, float], float, bool]:
    """``result`` (fitted without the fusion) fused with its corrected stack (``fusion``: keywords of
    :func:`cardiosr.fidelity.fused_labels` besides the maps) as ``enhance`` does, on the output grid (with
    clean topology) and on the canonical grid: (Dice per structure of the output by ``score``, lowest
    per-structure consistency Dice of the canonical result, whether the output passes
    :func:`cardiosr.metrics.plausibility`). ``output_grid=False``: the output is the canonical result resampled
    onto the output grid instead (as before the fusion on the output grid)."""
    opt = result.optimisation
    shape, affine = hr_grid(result.sa)
    grids = (None, (shape, affine)) if output_grid else (None,)
    views = problem.views if problem.gamma > 0 else ()
    fused = fused_labels(opt.probs, result.frame, result.sa, opt.shifts_mm, grids, views=views, **fusion)
    canonical = one_hot(fused[0])
    output = fused[1] if output_grid else from_canonical(canonical, result.frame, result.sa).array
    output = result.sa.with_array(clean_topology(output), affine)
    scores = {} if score is None else score(output)
    consistency = consistency_dice(problem, canonical, opt.shifts_mm)
    plausible = bool(plausibility(output.array, float(output.spacing[0]))["plausible"])
    return scores, min(v for v in consistency.values() if not np.isnan(v)), plausible


def score_fused(result, problem, score, **fusion) -> tuple[float, float]:
    """:func:`fused_scores` with the mean Dice over the structures."""
    scores, lowest, _ = fused_scores(result, problem, score, **fusion)
    return float(np.mean(list(scores.values()))), lowest


def case_intro(doc: str, args: argparse.Namespace) -> str:
    """A section's introduction: the second paragraph of a benchmark's docstring ``doc`` on one line, with the
    seed and the number of motion draws of :func:`case_arguments`' ``args``."""
    intro = doc.split("\n\n")[1].replace("\n", " ") + f" Seed {args.seed}, {args.draws} motion draws."
    if args.views:
        intro += f" Protocol (a) with the {args.views} long-axis view(s) of each HR heart as inputs (``--views``)"
        intro += f", each in its own breath-hold (``--view-motion {args.view_motion:g}``)." if args.view_motion else "."
    if args.drop_odd:
        intro += " Protocol (a)'s stacks with their odd slices dropped (20 mm gaps, ``--drop-odd``)."
    if "e" in args.protocols.split(","):
        intro += " Protocol (e): M&Ms-2 case 001, the odd slices dropped, its real four-chamber view an input."
    return intro


def case_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the options that choose the cases of :func:`fitted_cases` (and ``--no-write``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--protocols",
        default="a,b",
        help="of benchmarks/real_data.py: a, b, c and e, and d: the ACDC files as acquired, consistency only "
        "(default a,b)",
    )
    parser.add_argument("--views", help="protocol a with these long-axis views of the HR heart (2ch,4ch)")
    parser.add_argument(
        "--view-motion", type=float, default=0.0, metavar="SCALE", help="with --views: each view in its own breath-hold"
    )
    parser.add_argument("--drop-odd", action="store_true", help="protocol a's stacks with the odd slices dropped")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--acdc-patients", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    return parser


def fitted_cases(args: argparse.Namespace):
    """(group, better of NN and SBI's mean Dice, result fitted without the fusion, its problem, scorer) of
    every case chosen by :func:`case_arguments`' options."""
    unfused, nn, sbi = Enhancer(device="cpu", fidelity=None), Enhancer(method="nn"), Enhancer(method="sbi")
    views = args.views.split(",") if args.views else None
    protocols = set(args.protocols.split(","))
    cases = real_cases(protocols, args.draws, args.seed, args.acdc_patients, views, args.view_motion, args.drop_odd)
    for group, sa, la, score in cases:
        # no scorer (no truth between the slices): consistency and plausibility only
        best = np.nan if score is None else max(np.mean(list(score(e.run(sa).sr).values())) for e in (nn, sbi))
        result = unfused.run(sa, la)
        yield group, best, result, make_problem(result.sa, la or (), frame=result.frame), score


def switch_rows(args: argparse.Namespace, keyword: str, values: tuple = (False, True)) -> list[list[str]]:
    """Every case of :func:`fitted_cases` fused with the shipped settings but the fusion keyword ``keyword``
    (of :func:`fused_scores`) set to each of ``values`` (default off and on): the rows of
    :func:`switch_header` per group and value (the shipped one marked "(default)"), changes against the first."""
    shipped = SHIPPED
    rows = defaultdict(list)  # (group, value) -> [mean, LV, MYO, RV, margin, change, consistency, plausible]
    for group, best, result, problem, score in fitted_cases(args):
        means = {}
        for setting in values:
            scores, lowest, plausible = fused_scores(result, problem, score, **shipped | {keyword: setting})
            scores = scores or {"LV": np.nan, "MYO": np.nan, "RV": np.nan}  # no truth: consistency only
            means[setting] = float(np.mean(list(scores.values())))
            change = means[setting] - means[values[0]]
            rows[(group, setting)].append(
                [means[setting], scores["LV"], scores["MYO"], scores["RV"], means[setting] - best, change, lowest]
                + [plausible]
            )
            print(group, setting, round(means[setting], 4), round(means[setting] - best, 4), flush=True)
    table = []
    for (group, setting), cases in rows.items():
        mean, lv, myo, rv, margin, change, lowest, plausible = np.array(cases, float).T
        label = _value_name(setting) + (" (default)" if setting == shipped[keyword] else "")
        scored = not np.isnan(mean).all()
        table.append(
            [group, label, str(len(cases))]
            + [f"{x.mean():.4f}" if scored else "–" for x in (mean, lv, myo, rv)]
            + [f"{(margin < 0).sum()} ({margin.min():+.4f})", f"{(change < -0.01).sum()} ({change.min():+.4f})"]
            * scored
            + ["–", "–"] * (not scored)
            + [f"{lowest.min():.3f}", str(int((lowest < 0.97).sum())), f"{plausible.mean():.0%}"]
        )
    return table


def _value_name(value: object) -> str:
    """A value as a table shows it: on or off for a boolean (off for ``None``), else the number."""
    return ("on" if value else "off") if value is None or isinstance(value, bool) else f"{value:g}"


def switch_header(setting: str, values: tuple = (False, True)) -> list[str]:
    """The columns of :func:`switch_rows` for the setting named ``setting`` set to each of ``values``."""
    against = f"cases losing > 0.01 against {_value_name(values[0])} (largest loss)"
    return ["group", setting, "cases", "mean Dice", "LV", "MYO", "RV", "cases below interpolation (lowest)"] + [
        against,
        "min consistency",
        "cases with consistency < 0.97",
        "plausible",
    ]


def switch_report(
    doc: str, section: str, title: str, setting: str, keyword: str, values: tuple = (False, True)
) -> None:
    """Run a fusion switch benchmark from the command line: parse :func:`case_arguments` (all protocols by
    default; ``doc``: the script's docstring), fuse every case with ``keyword`` set to each of ``values``
    (default off and on; :func:`switch_rows`) and write the table as ``section`` of ``docs/benchmarks.md``
    with ``title``, the column of the setting named ``setting``."""
    parser = case_arguments(doc.splitlines()[0])
    parser.set_defaults(protocols="a,b,c")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = switch_rows(args, keyword, values)
    report(section, title, switch_header(setting, values), rows, case_intro(doc, args), write=not args.no_write)


def main() -> None:
    parser = case_arguments(__doc__.splitlines()[0])
    parser.add_argument("--flats", default=f"0,{FLAT_FRACTION},0.05", help="plateau half-widths (slice spacings)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    flats = [float(f) for f in args.flats.split(",")]
    default = OptimiseOptions()
    rows = defaultdict(list)  # (group, flat) -> (mean Dice, margin, lowest consistency)
    for group, best, result, problem, score in fitted_cases(args):
        for flat in flats:
            mean, lowest = score_fused(result, problem, score, **default.fusion_keywords(), flat=flat)
            rows[(group, flat)].append((mean, mean - best, lowest))
            print(group, flat, round(mean, 4), round(mean - best, 4), round(lowest, 3), flush=True)
    table = []
    for (group, flat), cases in rows.items():
        means, margins, lowest = (np.array(c) for c in zip(*cases, strict=True))
        table.append(
            [group, f"{flat:g}" + (" (default)" if flat == FLAT_FRACTION else ""), str(len(cases))]
            + [f"{means.mean():.4f}", f"{(margins < 0).sum()} ({margins.min():+.4f})"]
            + [f"{lowest.min():.3f}", str(int((lowest < 0.97).sum()))]
        )
    header = ["group", "plateau (slice spacings)", "cases", "mean Dice", "cases below interpolation (lowest)"]
    report(
        "fusion-plateau",
        "The fusion's plateau around the acquired slices, on real anatomy (issue 15)",
        header + ["min consistency", "cases with consistency < 0.97"],
        table,
        __doc__.split("\n\n")[1].replace("\n", " ") + f" Seed {args.seed}, {args.draws} motion draws.",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
