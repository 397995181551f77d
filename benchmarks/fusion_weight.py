"""The prior's weight between the slices in the fusion, chosen again on real anatomy (issue 15).

The fusion's prior weight midway between the slices (``--fidelity W``, the LV blood pool and the myocardium;
the RV takes ``--rv-fidelity``) was chosen at 0.5 with an earlier prior and fusion; since then the fusion's
stack side has gained the matched areas, the nested myocardium, the fusion on the output grid, the RV's blunt
basal end and the closed LV wall, which make the stack's own interpolation better between the slices, and
the default is 0.25. Every case of ``benchmarks/real_data.py`` protocols (a), (b) and (c) (as in
``benchmarks/fusion_plateau.py``; (c) is scored on the four-chamber view's plane) is fitted once with the
shipped defaults but without the fusion, then fused with the shipped settings and each weight, put back on
the input's world grid with clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per
group: mean Dice and Dice per structure, the cases below the better of NN and SBI on the same case (and the
lowest margin), the cases that lose more than 0.01 against the first weight (and the largest loss), and the
lowest per-structure consistency Dice. Writes the ``fusion-weight`` section of ``docs/benchmarks.md``
(``--section``, ``--title``: another).

    python benchmarks/fusion_weight.py --draws 1
    python benchmarks/fusion_weight.py --protocols b --acdc-patients 10 --weights 0.25,0.5 --no-write
    python benchmarks/fusion_weight.py --draws 1 --section fusion-weight-current --title "..."
"""

from __future__ import annotations

import warnings

from _report import report
from fusion_plateau import case_arguments, case_intro, switch_header, switch_rows

TITLE = "The prior's weight between the slices in the fusion, on real anatomy (issue 15)"


def main() -> None:
    parser = case_arguments(__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0.25,0.5,0,0.35", help="prior weights midway; the first is the reference")
    parser.add_argument("--section", default="fusion-weight", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default=TITLE)
    parser.set_defaults(protocols="a,b,c")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    weights = tuple(float(w) for w in args.weights.split(","))
    report(
        args.section,
        args.title,
        switch_header("prior weight W", weights),
        switch_rows(args, "weight", weights),
        case_intro(__doc__, args),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
