"""The prior's weight on the RV in the fusion, chosen on real anatomy (issue 15).

The shipped prior learned its RV from two real hearts and phantoms; it is its least exact structure. The
fusion (:func:`cardiosr.fidelity.fuse_with_stack`) gives the RV its own prior weight (``rv_weight``,
``--rv-fidelity``) in place of the shared one (``fidelity``). Every case of ``benchmarks/real_data.py``
protocols (a), (b) and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is scored on the four-chamber
view's plane) is fitted once with the shipped defaults but without the fusion, then fused with each RV
weight of ``--weights`` (``shared``: the shared weight, as before), put back on the input's world grid with
clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per group and RV weight: mean Dice,
RV Dice, the cases below the better of NN and SBI on the same case (and the lowest margin), the cases that
lose more than 0.01 against the shared weight (and the largest loss), and the lowest per-structure
consistency Dice. Writes the ``fusion-rv`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_rv.py --draws 1
    python benchmarks/fusion_rv.py --protocols b --acdc-patients 10 --weights shared,0 --no-write
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
from _report import report
from fusion_plateau import case_arguments, case_intro, fitted_cases, fused_scores

from cardiosr.optimise import OptimiseOptions


def main() -> None:
    parser = case_arguments(__doc__.splitlines()[0])
    parser.set_defaults(protocols="a,b,c")
    parser.add_argument("--weights", default="shared,0.25,0", help="RV weights in [0, 1], or shared")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    default = OptimiseOptions()
    names = args.weights.split(",")
    weights = {name: default.fidelity if name == "shared" else float(name) for name in names}
    rows = defaultdict(list)  # (group, name) -> (mean Dice, RV Dice, margin, change against shared, consistency)
    for group, best, result, problem, score in fitted_cases(args):
        means = {}
        for name, w in weights.items():
            scores, lowest, _ = fused_scores(result, problem, score, **default.fusion_keywords() | {"rv_weight": w})
            means[name] = float(np.mean(list(scores.values())))
            rows[(group, name)].append([means[name], scores["RV"], means[name] - best, 0.0, lowest])
            print(group, name, round(means[name], 4), round(scores["RV"], 4), round(means[name] - best, 4), flush=True)
        if "shared" in means:
            for name in names:
                rows[(group, name)][-1][3] = means[name] - means["shared"]
    shipped = f"{default.rv_fidelity:g}"
    table = []
    for (group, name), cases in rows.items():
        mean, rv, margin, change, lowest = np.array(cases).T
        label = name + (f" ({default.fidelity:g})" if name == "shared" else "")
        table.append(
            [group, label + (" (default)" if name == shipped else ""), str(len(cases))]
            + [f"{mean.mean():.4f}", f"{rv.mean():.4f}", f"{(margin < 0).sum()} ({margin.min():+.4f})"]
            + [f"{(change < -0.01).sum()} ({change.min():+.4f})", f"{lowest.min():.3f}"]
        )
    report(
        "fusion-rv",
        "The prior's weight on the RV in the fusion, on real anatomy (issue 15)",
        ["group", "RV weight", "cases", "mean Dice", "RV Dice", "cases below interpolation (lowest)"]
        + ["cases losing > 0.01 against shared (largest loss)", "min consistency"],
        table,
        case_intro(__doc__, args),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
