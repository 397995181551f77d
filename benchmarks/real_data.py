"""Real anatomy decides: every method on real hearts from ``../shared/data`` (issue 15, protocols a, b, c and e).

(a) Real high-resolution hearts made into 10 mm stacks (every 5th slice from slice 2 of the canonical grid,
Eq. 1) without motion, with normal motion and with severe motion (``--draws`` motion draws each), scored
against the HR map with the best common in-plane translation within ±6 mm: ``demo_HR`` (SRHeart demo, MR)
and the voxelised Rodero CT heart and biv-me patient at ED (frame 0) and ES (frame 9, the smallest LV cavity).
The last three are the real hearts the shipped default prior is trained on (augmented), so their rows are
in-sample for it; demo_HR, ACDC and M&Ms-2 are not.
(b) The ACDC patients in ``../shared/data/acdc``, ED and ES, read as distributed (sform with unit voxel
sizes, the true spacing in pixdim: cardiosr follows ITK's reading): the even-numbered slices are the
input (20 mm apart where the slices are 10 mm), the dropped odd-numbered slices are scored, each at its
own best in-plane translation within ±5 mm (its breath-hold offset is unknowable).
(c) The paper's Table 3 protocol on M&Ms-2 case 001, ED and ES: the short-axis stack is restored and sliced
on the four-chamber view's plane, which is used for evaluation only.
(e) M&Ms-2 case 001, ED and ES, with its real four-chamber segmentation as an input (``--protocols e``; d is
the fusion benchmarks' ACDC files as acquired): the even-numbered
short-axis slices are the input (20 mm apart), the dropped odd-numbered slices are scored as in (b), and every
LO method runs twice, on the stack alone and with the four-chamber view (a real long-axis segmentation, with
the errors and the breath-hold of its own acquisition; about 93 % label agreement where the planes cross).
Methods: NN, SBI, EDSR (shipped normal-motion model), LO with the shipped default prior and LO with the
published SRHeart prior (trained on real hearts, when present); ``--candidate PATH`` adds LO with another prior;
``--methods`` runs only some of them besides NN and SBI. With ``--views 2ch,4ch`` every LO run of protocol (a) is also
given those long-axis views of the HR heart (:func:`cardiosr.degradation.long_axis_view`, motion-free; NN and SBI
read the stack alone); ``--view-motion 1`` gives each view its own breath-hold displacement of the heart (one per
draw, so the motion-free stacks get ``--draws`` draws too).
Mean Dice per structure, shift RMS of LO (mm, common translation removed), the lowest per-structure
consistency Dice of LO (its result degraded by Eq. 1 against the input stack) and seconds per case. Writes
the ``real-data`` section of ``docs/benchmarks.md``.

    python benchmarks/real_data.py                      # everything: every ACDC file
    python benchmarks/real_data.py --acdc-patients 10 --protocols a,b
    python benchmarks/real_data.py --protocols b --section real-data-acdc
    python benchmarks/real_data.py --protocols a,b --acdc-subjects patient009,patient019 --candidate PRIOR
    python benchmarks/real_data.py --methods candidate --candidate PRIOR --section real-data-candidate
    python benchmarks/real_data.py --protocols a --methods default --views 2ch,4ch --section real-data-views
    python benchmarks/real_data.py --protocols a --methods default --views 2ch,4ch --view-motion 1
    python benchmarks/real_data.py --protocols e --methods default,published --section real-data-real-view
"""

from __future__ import annotations

import argparse
import ast
import time
import warnings
from collections import defaultdict

import numpy as np
from _report import SHARED, report

from cardiosr.degradation import drop_odd_slices, long_axis_view, simulate_view_displacements
from cardiosr.geometry import resample_labels, to_canonical
from cardiosr.io import load_labels
from cardiosr.labels import STRUCTURES
from cardiosr.mesh_hearts import BIVME_FOLDER, RODERO_FILE, bivme_heart, rodero_heart
from cardiosr.metrics import dice, paired_difference, shift_optimal_dice, slicewise_shift_optimal
from cardiosr.pipeline import enhance
from cardiosr.prior import load_prior
from cardiosr.simulate import simulate_case
from cardiosr.volume import LabelVolume

SRHEART = SHARED / "srheart-prior" / "VAECE_zdim_32_epoch_100_beta_1.00E-03_alpha.pt"
PATTERNS = {"none": 0.0, "normal": 1.0, "severe": 4.0}
NAMES = [name for _, name in STRUCTURES]


#: ``--methods`` names; NN and SBI always run (LO is compared with them case by case).
METHOD_NAMES = ("edsr", "default", "published", "candidate")


def methods(candidate: str | None = None, only: set[str] | None = None) -> list[tuple[str, dict]]:
    """(title, keywords of :func:`cardiosr.enhance`) of every method, priors loaded once (``only``: the methods
    of :data:`METHOD_NAMES` to run besides NN and SBI; default all)."""
    wanted = set(METHOD_NAMES) if only is None else set(only)
    runs = [("NN", {"method": "nn"}), ("SBI", {"method": "sbi"})]
    if "edsr" in wanted:
        runs.append(("EDSR", {"method": "edsr"}))
    if "default" in wanted:
        runs.append(("LO (default prior)", {"method": "lo", "prior": load_prior()[0]}))
    if SRHEART.is_file() and "published" in wanted:
        runs.append(("LO (published prior)", {"method": "lo", "prior": load_prior(f"srheart:{SRHEART}")[0]}))
    if candidate and "candidate" in wanted:
        runs.append(("LO (candidate prior)", {"method": "lo", "prior": load_prior(candidate)[0]}))
    return runs


def warm_up(runs) -> dict[str, float]:
    """Each LO method enhances one phantom stack before the timed cases; returns the seconds of that first call.

    The first call of a process pays torch's one-time set-up (thread pools, kernels chosen for the decoder's
    shapes), which a cohort pays once; the per-case seconds of the table are without it.
    """
    from cardiosr.phantom import generate_phantom

    stack = simulate_case("warm-up", generate_phantom(0)[0], 1.0, np.random.default_rng(0)).lr
    seconds = {}
    for title, kwargs in runs:
        if kwargs["method"] == "lo":
            t0 = time.perf_counter()
            enhance(stack, **kwargs)
            seconds[title] = time.perf_counter() - t0
    return seconds


def real_hearts(only: list[str] | None = None) -> list[tuple[str, LabelVolume]]:
    """The real HR hearts of protocol (a), on their canonical grids (``only``: those whose name starts so)."""
    hearts = [("demo_HR", load_labels(SHARED / "srheart-demo" / "demo_HR.nii.gz", "ukbb"))]
    if (SHARED / RODERO_FILE).is_file():
        hearts.append(("Rodero CT", rodero_heart(SHARED / RODERO_FILE)))
    if (SHARED / BIVME_FOLDER).is_dir():
        hearts += [(f"biv-me {phase}", bivme_heart(SHARED / BIVME_FOLDER, f)) for phase, f in (("ED", 0), ("ES", 9))]
    hearts = [(name, vol) for name, vol in hearts if not only or any(name.startswith(o) for o in only)]
    return [(name, to_canonical(vol)[0]) for name, vol in hearts]


def _lowest_consistency(result) -> float:
    values = [v for v in result.consistency_dice.values() if v is not None and not np.isnan(v)]
    return float(min(values)) if values else np.nan


def score_on_hr(sr: LabelVolume, hr: LabelVolume) -> dict[str, float]:
    """Protocol (a)'s score: Dice per structure against the HR map at the best common in-plane translation
    within ±6 mm."""
    on_hr = resample_labels(sr.array, sr.affine, hr.shape, hr.affine)
    return shift_optimal_dice(on_hr, hr.array, hr.spacing, search_mm=6.0)[0]


#: Protocol (b)'s search for each dropped slice's own breath-hold offset, mm (issue 15).
DROPPED_WINDOW_MM = 5.0


def dropped_slices_moved(sr: LabelVolume, full: LabelVolume, search_mm: float = DROPPED_WINDOW_MM) -> np.ndarray:
    """``sr`` on the dropped (odd) slices of ``full``, each slice moved to its own best in-plane translation
    within ±``search_mm`` mm, ``(len(dropped), H, W)``."""
    on_stack = resample_labels(sr.array, sr.affine, full.shape, full.affine)[1::2]
    return slicewise_shift_optimal(on_stack, full.array[1::2], full.spacing, search_mm)


def score_on_dropped(sr: LabelVolume, full: LabelVolume, search_mm: float = DROPPED_WINDOW_MM) -> dict[str, float]:
    """Protocol (b)'s score: Dice per structure on the dropped (odd) slices of ``full``, each at its own best
    in-plane translation within ±``search_mm`` mm (the protocol's ±5 mm by default)."""
    return dice(dropped_slices_moved(sr, full, search_mm), full.array[1::2])


def protocol_a(
    runs,
    draws: int,
    seed: int,
    only: list[str] | None = None,
    views: list[str] | None = None,
    view_motion: float = 0.0,
):
    rows = defaultdict(list)
    for heart_name, hr in real_hearts(only):
        la = [long_axis_view(hr, view=v) for v in views] if views else None
        for pattern, scale in PATTERNS.items():
            for draw in range(draws if scale or (views and view_motion) else 1):  # moved views differ per draw
                case = simulate_case("heart", hr, scale, np.random.default_rng([seed, draw]))
                if views and view_motion:
                    moves = simulate_view_displacements(len(views), view_motion, np.random.default_rng([seed, draw, 7]))
                    la = [long_axis_view(hr, view=v, displacement_mm=d) for v, d in zip(views, moves, strict=True)]
                for title, kwargs in runs:
                    t0 = time.perf_counter()
                    result = enhance(case.lr, la if kwargs["method"] == "lo" else None, **kwargs)
                    seconds = time.perf_counter() - t0
                    scores = score_on_hr(result.sr, hr)
                    rms = consistency = np.nan
                    if kwargs["method"] == "lo":
                        est = np.nan_to_num(result.shifts_mm)
                        true = case.shifts_mm - case.shifts_mm.mean(0)
                        est = est - est.mean(0)
                        rms = float(np.sqrt(np.mean(np.sum((est - true) ** 2, axis=1))))
                        consistency = _lowest_consistency(result)
                    rows[(f"{heart_name}, {pattern}", title)].append((scores, rms, seconds, consistency))
                    print(heart_name, pattern, draw, title, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    return rows


def protocol_b(runs, patients: int | None, subjects: list[str] | None = None):
    files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
    names = subjects or sorted({f.name.split("_")[0] for f in files})[:patients]
    rows = defaultdict(list)
    for path in [f for f in files if f.name.split("_")[0] in names]:
        full = load_labels(path, "acdc")
        sparse = drop_odd_slices(full)
        for title, kwargs in runs:
            t0 = time.perf_counter()
            result = enhance(sparse, **kwargs)
            seconds = time.perf_counter() - t0
            scores = score_on_dropped(result.sr, full)
            consistency = _lowest_consistency(result) if kwargs["method"] == "lo" else np.nan
            rows[("ACDC, odd slices dropped", title)].append((scores, np.nan, seconds, consistency))
            print(path.name, title, {k: round(v, 3) for k, v in scores.items()}, round(seconds, 1), flush=True)
    return rows, len(names)


def protocol_c(runs):
    folder = SHARED / "mnms2-case001"
    rows = defaultdict(list)
    for phase in ("ED", "ES"):
        sa, la = folder / f"001_SA_{phase}_gt.nii.gz", folder / f"001_LA_{phase}_gt.nii.gz"
        for title, kwargs in runs:
            t0 = time.perf_counter()
            result = enhance(sa, convention="mnms", la_eval=la, **kwargs)
            seconds = time.perf_counter() - t0
            scores = result.la_evaluation[0]["dice"]
            consistency = _lowest_consistency(result) if kwargs["method"] == "lo" else np.nan
            rows[("M&Ms-2 001, 4-chamber view (Table 3)", title)].append((scores, np.nan, seconds, consistency))
            print("M&Ms-2", phase, title, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    return rows


def protocol_e(runs):
    folder = SHARED / "mnms2-case001"
    rows = defaultdict(list)
    for phase in ("ED", "ES"):
        full = load_labels(folder / f"001_SA_{phase}_gt.nii.gz", "mnms")
        view = load_labels(folder / f"001_LA_{phase}_gt.nii.gz", "mnms")
        sparse = drop_odd_slices(full)
        for title, kwargs in runs:
            inputs = [(title, None)] + ([(f"{title} + 4ch view", [view])] if kwargs["method"] == "lo" else [])
            for name, la in inputs:
                t0 = time.perf_counter()
                result = enhance(sparse, la, **kwargs)
                seconds = time.perf_counter() - t0
                scores = score_on_dropped(result.sr, full)
                consistency = _lowest_consistency(result) if kwargs["method"] == "lo" else np.nan
                rows[("M&Ms-2 001, odd slices dropped", name)].append((scores, np.nan, seconds, consistency))
                print("M&Ms-2", phase, name, {k: round(v, 3) for k, v in scores.items()}, flush=True)
    return rows


#: The method every other LO method is compared with case by case in :func:`summary_table`.
REFERENCE = "LO (default prior)"
#: The columns of :func:`summary_table`'s rows.
HEADER = ["protocol", "method", "cases", "LV", "MYO", "RV", "mean", "shift RMS mm", "min consistency"]
HEADER += [
    "cases below interpolation (lowest margin)",
    "s",
    f"against {REFERENCE}: paired mean [95 % CI] (better / worse)",
]


def _case_means(cases) -> list[float]:
    """Each case's mean Dice over the structures."""
    return [float(np.mean([c[0][k] for k in NAMES])) for c in cases]


def paired_column(rows, protocol: str, title: str) -> str:
    """The last column of :func:`summary_table`: an LO method's mean Dice against :data:`REFERENCE`'s on the same
    cases (:func:`cardiosr.metrics.paired_difference`), or "–"."""
    reference = rows.get((protocol, REFERENCE))
    if not title.startswith("LO") or title == REFERENCE or reference is None:
        return "–"
    r = paired_difference(_case_means(rows[(protocol, title)]), _case_means(reference))
    return f"{r['mean']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] ({r['better']} / {r['worse']})"


def summary_table(rows) -> list[list[str]]:
    """One table row per (protocol, method) of ``rows`` (what ``protocol_a``/``_b``/``_c`` return)."""
    table = []
    for (protocol, title), cases in rows.items():
        per = {k: np.mean([c[0][k] for c in cases]) for k in NAMES}
        below = "–"
        if title.startswith("LO"):  # per case: LO's mean Dice against the better of NN and SBI on the same case
            baselines = zip(_case_means(rows[(protocol, "NN")]), _case_means(rows[(protocol, "SBI")]), strict=True)
            margins = [c - max(b) for c, b in zip(_case_means(cases), baselines, strict=True)]
            below = f"{sum(m < 0 for m in margins)} ({min(margins):+.3f})"
        rms = [c[1] for c in cases if not np.isnan(c[1])]
        consistency = [c[3] for c in cases if not np.isnan(c[3])]
        table.append(
            [protocol, title, str(len(cases))]
            + [f"{per[k]:.3f}" for k in NAMES]
            + [f"{np.mean(list(per.values())):.3f}", f"{np.mean(rms):.2f}" if rms else "–"]
            + [f"{min(consistency):.3f}" if consistency else "–", below, f"{np.mean([c[2] for c in cases]):.1f}"]
            + [paired_column(rows, protocol, title)]
        )
    return table


def parse_option(text: str, parser: argparse.ArgumentParser) -> tuple[str, object]:
    """``NAME=VALUE`` of ``--set``: the value read as a Python literal (else kept as text)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        parser.error(f"--set: expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return name.strip(), value.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5, help="motion draws per pattern in protocol a (default 5)")
    parser.add_argument("--acdc-patients", type=int, help="use only the first N ACDC patients (default: all)")
    parser.add_argument(
        "--acdc-subjects", help="use only these ACDC patients (comma-separated, e.g. patient009,patient019)"
    )
    parser.add_argument("--hearts", help="protocol a on these hearts only (comma-separated name prefixes: demo_HR,...)")
    parser.add_argument("--title", default="Real anatomy: every method on demo_HR and ACDC (issue 15)")
    parser.add_argument(
        "--protocols", default="a,b,c", help="which protocols to run (default a,b,c; e: M&Ms-2, its real view an input)"
    )
    parser.add_argument("--candidate", metavar="PRIOR", help="also run LO with this prior")
    parser.add_argument(
        "--methods", help=f"besides NN and SBI, only these (comma-separated of {', '.join(METHOD_NAMES)}; default all)"
    )
    parser.add_argument(
        "--views", help="protocol a: give every LO run these long-axis views of the HR heart (comma-separated: 2ch,4ch)"
    )
    parser.add_argument(
        "--view-motion",
        type=float,
        default=0.0,
        metavar="SCALE",
        help="with --views: each view acquired in its own breath-hold, the heart moved by the motion model's"
        " amplitude times SCALE in a random 3D direction (1: normal; default 0: the views agree with the HR heart)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--section", default="real-data", help="docs/benchmarks.md section to write")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--snap-slices", action="store_true", help="every method with the grid snapped to the slices (--snap-slices)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an enhance option for every LO run, e.g. --set window=5 (repeatable; values read as Python literals)",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    only = set(args.methods.split(",")) if args.methods else None
    if only and not only <= set(METHOD_NAMES):
        parser.error(f"--methods: choose from {', '.join(METHOD_NAMES)}")
    chosen = dict(parse_option(text, parser) for text in args.set)
    runs = [
        (title, {**kwargs, "snap_slices": args.snap_slices, **(chosen if kwargs["method"] == "lo" else {})})
        for title, kwargs in methods(args.candidate, only)
    ]
    first_calls = warm_up(runs)
    protocols = set(args.protocols.split(","))
    hearts = args.hearts.split(",") if args.hearts else None
    views = args.views.split(",") if args.views else None
    if views and not set(views) <= {"2ch", "4ch"}:
        parser.error("--views: choose from 2ch, 4ch")
    if args.view_motion and not views:
        parser.error("--view-motion needs --views")
    rows = protocol_a(runs, args.draws, args.seed, hearts, views, args.view_motion) if "a" in protocols else {}
    n_patients = 0
    if "b" in protocols:
        acdc_rows, n_patients = protocol_b(
            runs, args.acdc_patients, args.acdc_subjects.split(",") if args.acdc_subjects else None
        )
        rows.update(acdc_rows)
    if "c" in protocols:
        rows.update(protocol_c(runs))
    if "e" in protocols:
        rows.update(protocol_e(runs))
    table = summary_table(rows)
    intro = (
        __doc__.split("\n\n")[1].replace("\n", " ")
        + (
            f" ACDC: {n_patients} patients × ED/ES. Protocols run: {args.protocols}; seed {args.seed}."
            " Shift RMS: LO's estimated shifts against the simulated ones, both with their mean removed."
            " Consistency: the lowest per-structure consistency Dice over the cases."
            " Below interpolation: the number of cases where LO's mean Dice is below the better of NN and SBI on the"
            " same case, and the lowest margin."
            f" Last column: each other LO method's mean Dice minus {REFERENCE}'s on the same cases, averaged, with"
            " the 95 % percentile bootstrap interval of that mean (:func:`cardiosr.metrics.paired_difference`) and"
            " the cases where it is above / below: an interval that holds 0 does not tell the two apart."
        )
        + (
            f" Protocol (a): every LO run is also given the {' and '.join(views)} long-axis view(s) of the HR heart"
            " (``--views``); NN and SBI read the stack alone."
            + (
                f" Each view was acquired in its own breath-hold (``--view-motion {args.view_motion:g}``): the heart it"
                " shows is moved by the motion model's amplitude times that scale in a random 3D direction"
                " (:func:`cardiosr.degradation.simulate_view_displacements`), its plane left where it was planned;"
                " one displacement per draw, so the motion-free stacks get every draw too."
                if args.view_motion
                else ""
            )
            if views
            else ""
        )
        + (
            " Every method with the canonical grid snapped to the slices (``--snap-slices``)."
            if args.snap_slices
            else ""
        )
    )
    if first_calls:
        intro += (
            " Before the timed cases each LO method enhances one phantom stack (a process's first call pays torch's"
            " one-time set-up, which a cohort pays once): "
            + ", ".join(f"{title} {sec:.1f} s" for title, sec in first_calls.items())
            + "."
        )
    if chosen:
        intro += " LO with " + ", ".join(f"``{k}={v!r}``" for k, v in chosen.items()) + " (``--set``)."
    report(
        args.section,
        args.title,
        HEADER,
        table,
        intro,
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
