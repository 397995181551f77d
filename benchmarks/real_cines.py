"""Real cines: ED and ES enhanced as one two-frame cine against each frame alone and interpolation (issue 17).

Real anatomy without a high-resolution truth, in two protocols of ``benchmarks/real_data.py`` given as cines. (b)
The ACDC patients in ``../shared/data/acdc`` (ED and ES as two files, as distributed): the even-numbered slices of
each frame are the input (20 mm apart where the slices are 10 mm), the dropped odd-numbered slices are scored, each
at its own best in-plane translation within ±5 mm (``--window``: another search, for stacks whose slices are offset
by more than that; see ``benchmarks/dropped_slice_window.py``). (c) M&Ms-2 case 001, ED and ES: the short-axis
stacks are restored and sliced on each frame's four-chamber view, which is used for evaluation only (the paper's
Table 3 protocol). Methods: NN and SBI frame by frame, LO with the shipped default prior on each frame alone
(:meth:`cardiosr.pipeline.Enhancer.run`) and on the two frames as one cine (one shift per slice shared by both,
:meth:`~cardiosr.pipeline.Enhancer.run_cycle`); ``--set NAME=VALUE`` adds the cine with changed options,
``--published`` both LO methods with the published SRHeart prior. Per method: mean Dice per structure over the
frames, the frames where LO's mean Dice is below the better of NN and SBI on the same frame (and the lowest margin),
the mean absolute LV EF error against the EF counted on the full input stacks (ACDC: every slice, voxel volumes;
M&Ms-2: the input stacks), the cine's motion decisions and seconds per frame (after one untimed warm-up call).
Writes the ``real-cines`` section of ``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/real_cines.py --acdc-patients 50
    python benchmarks/real_cines.py --protocols b --window 30 --section real-cines-window --title "..."
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import Counter, defaultdict

import numpy as np
from _report import SHARED, report
from real_data import DROPPED_WINDOW_MM, NAMES, SRHEART, parse_option, score_on_dropped

from cardiosr.degradation import drop_odd_slices
from cardiosr.io import load_labels
from cardiosr.metrics import clinical_volumes, long_axis_dice
from cardiosr.pipeline import Enhancer
from cardiosr.prior import load_prior
from cardiosr.volume import LabelVolume

#: Title of the ``real-cines`` section.
TITLE = "Real cines: ED + ES as one cine against each frame alone (issue 17)"
HEADER = [
    "protocol",
    "method",
    "frames",
    "LV",
    "MYO",
    "RV",
    "mean",
    "frames below interpolation (lowest margin)",
    "LV EF error, mean absolute",
    "motion test",
    "s per frame",
]


def ejection_fraction(volumes: list[LabelVolume]) -> float:
    """LV EF (%) of the ED and ES label maps (voxel volumes): ED the larger LV cavity, as ``summary.json``; not
    rounded (:func:`cardiosr.metrics.ejection_fraction` rounds to 0.01, and the errors are differences of two)."""
    lv = [clinical_volumes(v.array, v.spacing)["LV_ml"] for v in volumes]
    return 100.0 * (max(lv) - min(lv)) / max(lv)


def enhance_cine(enhancers: dict, stacks: list[LabelVolume]) -> dict[str, tuple[list[LabelVolume], float, str]]:
    """Every method on one cine: (each frame's result, seconds per frame, motion decision) by method title."""
    out = {}
    for title, enhancer in enhancers.items():
        t0 = time.perf_counter()
        if title.startswith("LO") and "cine" in title:
            cycle = enhancer.run_cycle(stacks)
            results, decision = [f.sr for f in cycle.frames], cycle.motion.get("hypothesis", "")
        else:
            fitted = [enhancer.run(s) for s in stacks]
            results = [r.sr for r in fitted]
            motions = [r.optimisation.motion for r in fitted if r.optimisation and r.optimisation.motion]
            decision = "; ".join(m.get("hypothesis", "") for m in motions)
        out[title] = (results, (time.perf_counter() - t0) / len(stacks), decision)
    return out


def acdc(enhancers: dict, patients: int | None, rows: dict, window: float = DROPPED_WINDOW_MM) -> None:
    """Protocol (b) as cines: each ACDC patient's ED and ES files with their odd slices dropped, each dropped slice
    scored at its best translation within ±``window`` mm."""
    files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
    for patient in sorted({f.name.split("_")[0] for f in files})[:patients]:
        full = [load_labels(f, "acdc") for f in files if f.name.startswith(patient + "_")]
        reference = ejection_fraction(full)
        for title, (results, seconds, decision) in enhance_cine(enhancers, [drop_odd_slices(v) for v in full]).items():
            scores = [score_on_dropped(sr, f, window) for sr, f in zip(results, full, strict=True)]
            error = ejection_fraction(results) - reference
            rows[("ACDC, odd slices dropped", title)].append((scores, error, seconds, decision))
            print(patient, title, [round(np.mean(list(s.values())), 3) for s in scores], decision, flush=True)


def mnms(enhancers: dict, rows: dict) -> None:
    """Protocol (c) as a cine: M&Ms-2 case 001's ED and ES stacks, scored on their four-chamber views."""
    folder = SHARED / "mnms2-case001"
    sa = [load_labels(folder / f"001_SA_{p}_gt.nii.gz", "mnms") for p in ("ED", "ES")]
    la = [load_labels(folder / f"001_LA_{p}_gt.nii.gz", "mnms") for p in ("ED", "ES")]
    reference = ejection_fraction(sa)
    for title, (results, seconds, decision) in enhance_cine(enhancers, sa).items():
        scores = [long_axis_dice(sr, view) for sr, view in zip(results, la, strict=True)]
        rows[("M&Ms-2 001, 4-chamber view (Table 3)", title)].append(
            (scores, ejection_fraction(results) - reference, seconds, decision)
        )
        print("M&Ms-2", title, [round(np.mean(list(s.values())), 3) for s in scores], decision, flush=True)


def table(rows: dict) -> list[list[str]]:
    """One row per protocol and method: means over every frame of every case."""
    out = []
    for (protocol, title), cases in rows.items():
        frames = [s for case in cases for s in case[0]]
        per = {k: float(np.mean([s[k] for s in frames])) for k in NAMES}
        below = "–"
        if title.startswith("LO"):
            baselines = [rows[(protocol, "NN")], rows[(protocol, "SBI")]]
            margins = [
                np.mean([s[k] for k in NAMES]) - max(np.mean([o[k] for k in NAMES]) for o in others)
                for case, *other_cases in zip(cases, *baselines, strict=True)
                for s, *others in zip(case[0], *(o[0] for o in other_cases), strict=True)
            ]
            below = f"{sum(m < 0 for m in margins)} ({min(margins):+.3f})"
        decisions = Counter(d for case in cases for d in case[3].split("; ") if d)
        out.append(
            [protocol, title, str(len(frames))]
            + [f"{per[k]:.3f}" for k in NAMES]
            + [f"{np.mean(list(per.values())):.4f}", below, f"{np.mean([abs(c[1]) for c in cases]):.1f}"]
            + [", ".join(f"{h} {n}" for h, n in sorted(decisions.items())) or "–"]
            + [f"{np.mean([c[2] for c in cases]):.1f}"]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acdc-patients", type=int, help="use only the first N ACDC patients (default: all)")
    parser.add_argument(
        "--window",
        type=float,
        default=DROPPED_WINDOW_MM,
        help="ACDC: each dropped slice's translation search, mm (default: the protocol's %(default)g)",
    )
    parser.add_argument("--protocols", default="b,c", help="which protocols to run (default b,c)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also the cine with this enhance option, e.g. --set search_corroboration=None (repeatable)",
    )
    parser.add_argument(
        "--published", action="store_true", help="also LO with the published SRHeart prior (when present)"
    )
    parser.add_argument("--section", default="real-cines", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default=TITLE, help="the section's title")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    chosen = dict(parse_option(text, parser) for text in args.set)
    default = Enhancer(device="cpu")
    default.run(drop_odd_slices(load_labels(SHARED / "srheart-demo" / "demo_LR.nii.gz", "ukbb")))  # torch's set-up
    enhancers = {
        "NN": Enhancer(method="nn"),
        "SBI": Enhancer(method="sbi"),
        "LO, each frame alone": default,
        "LO, ED + ES cine": default,
    }
    if chosen:
        enhancers["LO, ED + ES cine, " + ", ".join(f"{k}={v!r}" for k, v in chosen.items())] = Enhancer(
            device="cpu", **chosen
        )
    if args.published and SRHEART.is_file():
        published = Enhancer(device="cpu", prior=load_prior(f"srheart:{SRHEART}")[0])
        enhancers["LO (published prior), each frame alone"] = published
        enhancers["LO (published prior), ED + ES cine"] = published
    protocols = set(args.protocols.split(","))
    rows: dict = defaultdict(list)
    if "b" in protocols and (SHARED / "acdc").is_dir():
        acdc(enhancers, args.acdc_patients, rows, args.window)
    if "c" in protocols and (SHARED / "mnms2-case001").is_dir():
        mnms(enhancers, rows)
    report(
        args.section,
        args.title,
        HEADER,
        table(rows),
        " ".join(__doc__.split("\n\n")[1].split()),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
