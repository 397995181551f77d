"""The long-axis views' crossings alone: shift error and time of the estimate on the benchmark cines.

Every cine of ``benchmarks/cardiac_cycle.py`` (held-out phantoms and the voxelised biv-me patient, 10 mm stacks
with one breath-hold shift per slice shared by all frames, normal and severe motion, ``--draws`` draws, seeds 11,
12, ...) gets a four-chamber-like or a four- and a two-chamber-like view of every frame's truth
(:func:`cardiosr.degradation.long_axis_view`; with ``--view-motion SCALE`` each view, all its frames, acquired in
its own breath-hold, its heart moved as in ``benchmarks/cardiac_cycle.py --view-motion``: the same displacements
per draw). For the ED stack alone and for all frames together: the shift RMS
(mm, common translation removed) of the slice alignment (:func:`cardiosr.slice_alignment.alignment_shifts`, the
stack-only reference) and of that estimate corrected by the views' crossings
(:func:`cardiosr.view_alignment.view_alignment_shifts`), and the seconds the correction takes. Writes the
``view-alignment`` section of ``docs/benchmarks.md``.

    python benchmarks/view_alignment.py --phantoms 1 --bivme-step 3 --draws 3
    python benchmarks/view_alignment.py --phantoms 1 --bivme-step 3 --draws 10 --view-motion 1 \
        --section view-alignment-moved
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _report import report
from cardiac_cycle import PATTERNS, _rms, cine_arguments, cines

from cardiosr.degradation import degrade_cine_with_motion, long_axis_view, simulate_view_displacements
from cardiosr.optimise.cycle import key_frame_of
from cardiosr.slice_alignment import alignment_shifts
from cardiosr.view_alignment import view_alignment_shifts

HEADER = [
    "cine",
    "motion",
    "views",
    "slice alignment mm, ED / all frames",
    "with the crossings mm, ED / all frames",
    "s, ED / all frames",
]


def _heart_only(d: np.ndarray, stacks) -> np.ndarray:
    """``d`` with NaN on slices without heart labels in any frame (as ``enhance`` reports them)."""
    heart = np.any([s.array.reshape(len(d), -1).any(1) for s in stacks], 0)
    return np.where(heart[:, None], d, np.nan)


def main() -> None:
    parser = cine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3, help="motion draws per cine and pattern (default 3)")
    parser.add_argument(
        "--view-motion", type=float, default=0.0, metavar="SCALE", help="each view in its own breath-hold (default 0)"
    )
    parser.add_argument("--section", default="view-alignment")
    parser.add_argument("--title", default="The long-axis views' crossings alone: shift error and time (issue 17)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for name, hr in cines(args.phantoms, args.frames, args.bivme_step):
        for pattern, scale in PATTERNS.items():
            for names in (("4ch",), ("4ch", "2ch")):
                out = []
                for draw in range(args.draws):
                    stacks, shifts = degrade_cine_with_motion(hr, scale, np.random.default_rng(11 + draw))
                    ed = key_frame_of(stacks, "ED")
                    moves = simulate_view_displacements(2, args.view_motion, np.random.default_rng([11 + draw, 7]))
                    moved = [d if args.view_motion else None for d in moves]
                    views = [
                        [long_axis_view(f, view=v, displacement_mm=d) for v, d in zip(names, moved, strict=False)]
                        for f in hr
                    ]
                    ref_ed, ref_all = alignment_shifts(stacks[ed]), alignment_shifts(stacks)
                    t0 = time.perf_counter()
                    d_ed = view_alignment_shifts(stacks[ed], views[ed], reference=ref_ed)
                    t1 = time.perf_counter()
                    d_all = view_alignment_shifts(stacks, views, reference=ref_all)
                    t2 = time.perf_counter()
                    errors = [_rms(_heart_only(d, s), shifts) for d, s in ((ref_ed, [stacks[ed]]), (ref_all, stacks))]
                    errors += [_rms(_heart_only(d, s), shifts) for d, s in ((d_ed, [stacks[ed]]), (d_all, stacks))]
                    out.append(errors + [t1 - t0, t2 - t1])
                m = np.mean(out, 0)
                rows.append(
                    [name, pattern, " + ".join(names), f"{m[0]:.2f} / {m[1]:.2f}", f"{m[2]:.2f} / {m[3]:.2f}"]
                    + [f"{m[4]:.2f} / {m[5]:.2f}"]
                )
                print(rows[-1], flush=True)
    intro = (
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" Mean of {args.draws} draws."
        + (f" Every view in its own breath-hold (``--view-motion {args.view_motion:g}``)." if args.view_motion else "")
    )
    report(args.section, args.title, HEADER, rows, intro, write=not args.no_write)


if __name__ == "__main__":
    main()
