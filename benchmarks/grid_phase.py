"""How much the canonical grid's placement along the slices moves the results on real anatomy (issue 15).

The canonical grid is centred on the heart (the prior's ``grid.heart_centre_voxel``); where its 2 mm slices
fall between the short-axis slices is otherwise arbitrary, and another prior puts them elsewhere (the
published SRHeart prior centres the heart's bounding box, not its centre of mass, so its grid lies a few mm
away from the default prior's). Before the fusion on the output grid itself, the output was resampled from
that grid, so a structure's end between two slices could move by up to a canonical slice with it; now only
the prior's own result moves with it. Every case of ``benchmarks/real_data.py``
protocols (b) and (c) (as in ``benchmarks/fusion_plateau.py``) is enhanced with the shipped defaults and the
default prior, its grid moved along its slice axis by each offset (in canonical slices: 0.5 is 1 mm), and
scored as in ``real_data.py``. Per group and offset: mean Dice and Dice per structure, and the cases below
the better of NN and SBI on the same case (and the lowest margin). Writes the ``grid-phase`` section of
``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/grid_phase.py
    python benchmarks/grid_phase.py --acdc-patients 5 --offsets 0,0.5 --no-write
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict

import numpy as np
from _report import report
from fusion_plateau import case_arguments, real_cases

from cardiosr.pipeline import Enhancer
from cardiosr.prior import load_prior

TITLE = "The canonical grid's placement along the slices, on real anatomy (issue 15)"


def moved_prior(offset: float):
    """The default prior with its grid's heart centre moved by ``offset`` canonical slices."""
    prior, meta = load_prior()
    meta = copy.deepcopy(meta)
    meta["grid"]["heart_centre_voxel"][0] += offset
    prior.metadata = meta
    return prior


def main() -> None:
    parser = case_arguments(__doc__.splitlines()[0])
    parser.add_argument("--offsets", default="0,0.25,0.5,0.75", help="grid offsets in canonical slices")
    parser.add_argument("--section", default="grid-phase", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default=TITLE)
    parser.set_defaults(protocols="b,c")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    offsets = [float(o) for o in args.offsets.split(",")]
    runs = {o: Enhancer(prior=moved_prior(o)) for o in offsets}
    nn, sbi = Enhancer(method="nn"), Enhancer(method="sbi")
    rows = defaultdict(list)  # (group, offset) -> [mean, LV, MYO, RV, margin]
    for group, sa, _, score in real_cases(set(args.protocols.split(",")), args.draws, args.seed, args.acdc_patients):
        best = max(np.mean(list(score(e.run(sa).sr).values())) for e in (nn, sbi))
        for offset, enhancer in runs.items():
            scores = score(enhancer.run(sa).sr)
            mean = float(np.mean(list(scores.values())))
            rows[(group, offset)].append([mean, scores["LV"], scores["MYO"], scores["RV"], mean - best])
            print(group, offset, round(mean, 4), round(mean - best, 4), flush=True)
    table = []
    for (group, offset), cases in rows.items():
        mean, lv, myo, rv, margin = np.array(cases).T
        table.append(
            [group, f"{offset:g} ({2.0 * offset:g} mm)", str(len(cases))]
            + [f"{x.mean():.4f}" for x in (mean, lv, myo, rv)]
            + [f"{(margin < 0).sum()} ({margin.min():+.4f})"]
        )
    report(
        args.section,
        args.title,
        ["group", "grid offset (canonical slices)", "cases", "mean Dice", "LV", "MYO", "RV"]
        + ["cases below interpolation (lowest)"],
        table,
        __doc__.split("\n\n")[1].replace("\n", " ") + f" Seed {args.seed}.",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
