"""The views' evidence of motion: where the motion test's thresholds on it lie (issues 15, 17).

The motion test keeps ``d = 0`` unless the stack's loss gains enough with shifts; with long-axis views it also
asks the views (:func:`cardiosr.view_alignment.view_motion_evidence`: the gain of the crossings' score at the
crossings' estimate over the best shift shared by every slice). A value above the threshold on a motion-free
stack invents motion; one below it under breathing motion leaves the test to the stack's loss alone. This script
measures the evidence without the prior (the crossings take about 0.2 s per stack): the real hearts of protocol
(a) of ``benchmarks/real_data.py`` (``demo_HR`` and the voxelised Rodero and biv-me ED and ES hearts, when
``../shared/data`` holds them) and ``--phantoms`` held-out phantoms (cohort seed 1), each made into 10 mm stacks
without motion, with normal and with severe motion (``--draws`` draws each, the stacks and the views'
displacements of protocol (a): seeds ``[seed, draw]`` and ``[seed, draw, 7]``), given a two- and a four-chamber
view (:func:`cardiosr.degradation.long_axis_view`) still or each in its own breath-hold (``--view-motion``
scales of the motion model's amplitude in a random 3D direction), and with ``--view-errors`` the views'
labels disturbed as Eq. 1's ε disturbs a stack's (:func:`cardiosr.degradation.add_segmentation_errors`: a
segmentation of a real view has its own errors). The estimate is the one the motion test weighs: the slice
alignment corrected by the crossings (:func:`cardiosr.view_alignment.view_alignment_shifts`). Per group: the
evidence's least, median and largest value without motion, with normal and with severe motion, how many values
lie on the wrong side of the thresholds (:func:`cardiosr.optimise.motion_test.views_show_motion`: the views show
motion by themselves above :data:`~cardiosr.view_alignment.VIEW_MOTION_EVIDENCE_ALONE`, and above
:data:`~cardiosr.view_alignment.VIEW_MOTION_EVIDENCE` when the stack's loss gains more than τs too), and the
crossings' shift RMS (mm, common translation removed). Writes the ``view-evidence`` section of
``docs/benchmarks.md``.

    python benchmarks/view_evidence.py --draws 10 --phantoms 4
    python benchmarks/view_evidence.py --draws 10 --phantoms 4 --view-errors 0,0.1
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict

import numpy as np
from _report import report
from real_data import PATTERNS, real_hearts

from cardiosr.degradation import add_segmentation_errors, long_axis_view, simulate_view_displacements
from cardiosr.phantom import cohort_member
from cardiosr.simulate import simulate_case
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.view_alignment import (
    VIEW_MOTION_EVIDENCE,
    VIEW_MOTION_EVIDENCE_ALONE,
    view_alignment_shifts,
    view_motion_evidence,
)
from cardiosr.volume import LabelVolume

VIEWS = ("2ch", "4ch")
HEADER = [
    "heart",
    "views",
    "evidence without motion: least / median / largest",
    "normal motion",
    "severe motion",
    f"without motion: above {VIEW_MOTION_EVIDENCE_ALONE:g} / above {VIEW_MOTION_EVIDENCE:g}",
    f"normal motion: at most {VIEW_MOTION_EVIDENCE_ALONE:g} / at most {VIEW_MOTION_EVIDENCE:g}",
    f"severe motion: at most {VIEW_MOTION_EVIDENCE_ALONE:g}",
    "crossings' shift RMS mm, normal / severe",
]


def shift_rms(estimate: np.ndarray, truth: np.ndarray, heart: np.ndarray) -> float:
    """RMS (mm) of the shift error over the slices with heart labels, common translation removed."""
    e, t = estimate[heart] - estimate[heart].mean(0), truth[heart] - truth[heart].mean(0)
    return float(np.sqrt(((e - t) ** 2).sum(1).mean()))


def views_of(hr: LabelVolume, scale: float, rate: float, seed: int, draw: int) -> list[LabelVolume]:
    """The two views of ``hr``: still (``scale`` 0) or each in its own breath-hold, labels disturbed at ``rate``."""
    moves = simulate_view_displacements(len(VIEWS), scale, np.random.default_rng([seed, draw, 7]))
    views = [
        long_axis_view(hr, view=v, displacement_mm=d if scale else None) for v, d in zip(VIEWS, moves, strict=True)
    ]
    if rate:
        rng = np.random.default_rng([seed, draw, 8])
        views = [v.with_array(add_segmentation_errors(v.array, rate, rng)) for v in views]
    return views


def measure(hr: LabelVolume, pattern_scale: float, views: list[LabelVolume], seed: int, draw: int):
    """(evidence, crossings' shift RMS) of one stack of ``hr``."""
    case = simulate_case("heart", hr, pattern_scale, np.random.default_rng([seed, draw]))
    stack = case.lr
    d = view_alignment_shifts(stack, views, reference=alignment_shifts(stack))
    heart = stack.array.reshape(len(stack.array), -1).any(1)
    return view_motion_evidence(stack, views, d), shift_rms(d, case.shifts_mm, heart)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {np.median(values):.2f} / {max(values):.2f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10, help="motion draws per heart and pattern (default 10)")
    parser.add_argument("--phantoms", type=int, default=4, help="held-out phantoms (cohort seed 1; default 4)")
    parser.add_argument("--hearts", help="real hearts whose name starts so (comma-separated; default all)")
    parser.add_argument(
        "--view-motion", default="0,0.5,1", help="scales of the views' own displacements (default 0,0.5,1)"
    )
    parser.add_argument("--view-errors", default="0", help="rates of label errors in the views (default 0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--section", default="view-evidence")
    parser.add_argument(
        "--title",
        default="The views' evidence of motion on real hearts and phantoms: where the threshold lies (issues 15, 17)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    hearts = real_hearts(args.hearts.split(",") if args.hearts else None)
    hearts += [(f"phantom {i}", cohort_member(1, i)[0]) for i in range(args.phantoms)]
    scales = [float(s) for s in args.view_motion.split(",")]
    rates = [float(r) for r in args.view_errors.split(",")]
    rows, pooled = [], defaultdict(lambda: defaultdict(list))
    t0 = time.perf_counter()
    for name, hr in hearts:
        kind = "phantoms" if name.startswith("phantom") else "real hearts"
        for scale in scales:
            for rate in rates:
                label = ("still" if not scale else f"moved ×{scale:g}") + (f", errors {rate:g}" if rate else "")
                found = defaultdict(list)
                for draw in range(args.draws):
                    views = views_of(hr, scale, rate, args.seed, draw)
                    for pattern, pattern_scale in PATTERNS.items():
                        evidence, rms = measure(hr, pattern_scale, views, args.seed, draw)
                        found[pattern].append((np.nan if evidence is None else evidence, rms))
                        pooled[(kind, label)][pattern].append(found[pattern][-1])
                rows.append(row(name, label, found))
                print(rows[-1], f"{time.perf_counter() - t0:.0f} s", flush=True)
    for (kind, label), found in pooled.items():
        rows.append(row(f"all {kind}", label, found))
    intro = " ".join(__doc__.split("\n\n")[1].split()) + (
        f" {args.draws} draws per heart, pattern and views; {time.perf_counter() - t0:.0f} s in all."
    )
    report(args.section, args.title, HEADER, rows, intro, write=not args.no_write)


def row(name: str, label: str, found: dict[str, list[tuple[float, float]]]) -> list[str]:
    evidence = {p: [e for e, _ in found[p] if not np.isnan(e)] for p in PATTERNS}
    rms = {p: np.mean([r for _, r in found[p]]) for p in ("normal", "severe")}

    def count(values: list[float], above: float | None = None, at_most: float | None = None) -> str:
        hits = sum((above is not None and e > above) or (at_most is not None and e <= at_most) for e in values)
        return f"{hits} of {len(values)}"

    counts = [
        f"{count(evidence['none'], above=VIEW_MOTION_EVIDENCE_ALONE)}"
        f" / {count(evidence['none'], above=VIEW_MOTION_EVIDENCE)}",
        f"{count(evidence['normal'], at_most=VIEW_MOTION_EVIDENCE_ALONE)}"
        f" / {count(evidence['normal'], at_most=VIEW_MOTION_EVIDENCE)}",
        count(evidence["severe"], at_most=VIEW_MOTION_EVIDENCE_ALONE),
    ]
    spreads = [spread(evidence[p]) for p in PATTERNS]
    return [name, label, *spreads, *counts, f"{rms['normal']:.2f} / {rms['severe']:.2f}"]


if __name__ == "__main__":
    main()
