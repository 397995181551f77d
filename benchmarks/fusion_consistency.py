"""Consistency with the acquired slices with and without the fusion (issue 15): where the ACDC low comes from.

Each ACDC file given (read as distributed, odd slices dropped: 20 mm gaps, the input of ``benchmarks/real_data.py``
protocol b) is enhanced with the shipped defaults twice: with the fusion with the motion-corrected stack (the
default, ``fidelity`` 0.5) and without it (``--no-fidelity``: the prior's result after the data-consistency stage).
Consistency: the result degraded by Eq. 1 onto the input against the input, Dice per structure. Writes the
``fusion-consistency`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_consistency.py --files patient029_frame01
"""

from __future__ import annotations

import argparse
import warnings

from _report import SHARED, report

from cardiosr.degradation import drop_odd_slices
from cardiosr.io import load_labels
from cardiosr.pipeline import Enhancer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="patient029_frame01", help="ACDC files (comma-separated, no suffix)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    enhancers = {"with the fusion (default)": Enhancer(device="cpu"), "without": Enhancer(device="cpu", fidelity=None)}
    for name in args.files.split(","):
        sparse = drop_odd_slices(load_labels(SHARED / "acdc" / f"{name}_gt.nii.gz", "acdc"))
        for title, enhancer in enhancers.items():
            result = enhancer.run(sparse)
            c = result.consistency_dice
            rows.append([name, title, *(f"{c[k]:.3f}" for k in ("LV", "MYO", "RV"))])
            print(rows[-1], flush=True)
    report(
        "fusion-consistency",
        "Consistency on ACDC with and without the fusion (issue 15)",
        ["file", "fusion", "consistency LV", "consistency MYO", "consistency RV"],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
