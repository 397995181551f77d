"""The heart's ends read from the long-axis views in the fusion, chosen on real anatomy (issue 15).

A short-axis stack says only that the heart ends somewhere between its last slice with heart labels and the
next slice without; a long-axis view shows where (:func:`cardiosr.view_ends.heart_end_planes`). Every case of
``benchmarks/real_data.py`` protocol (a) given long-axis views of its heart (``--views``, optionally each in
its own breath-hold: ``--view-motion``) and of protocol (e) (M&Ms-2 case 001 with the odd slices dropped and
its real four-chamber segmentation as an input) is fitted once with the shipped defaults but without the
fusion, then fused with the shipped settings and the planes beyond the heart's end by the views cleared with
each margin of ``--margins`` (mm; ``off``: not read from the views), put back on the input's world grid with
clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per group and margin: mean Dice and
Dice per structure, the cases below the better of NN and SBI on the same case (and the lowest margin), the
cases that lose more than 0.01 against the first value (and the largest loss), the lowest per-structure
consistency Dice and the share of plausible results. Writes the ``fusion-view-ends`` section of
``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/fusion_view_ends.py --views 2ch,4ch --view-motion 1
    python benchmarks/fusion_view_ends.py --protocols e --no-write
"""

from __future__ import annotations

import warnings

from _report import report
from fusion_plateau import case_arguments, case_intro, switch_header, switch_rows

TITLE = "The heart's ends read from the long-axis views in the fusion, on real anatomy (issue 15)"


def main() -> None:
    parser = case_arguments(__doc__.splitlines()[0])
    parser.add_argument("--margins", default="off,0,2,4", help="margins (mm) to compare; the first is the reference")
    parser.add_argument("--section", default="fusion-view-ends", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default=TITLE)
    parser.set_defaults(protocols="a,e")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    margins = tuple(None if m == "off" else float(m) for m in args.margins.split(","))
    report(
        args.section,
        args.title,
        switch_header("view-end margin mm", margins),
        switch_rows(args, "view_ends_mm", margins),
        case_intro(__doc__, args),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
