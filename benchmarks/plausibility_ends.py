"""How much of the LV's ends the plausibility check must leave out, on truths and results (issue 15).

:func:`cardiosr.metrics.plausibility` asks the myocardium to separate the LV blood pool in-plane from background
and the RV, except near the ends of the LV, where the base opens to the atrium and the outflow tract. It used to
leave out the first and the last slice holding LV, whatever their spacing: 10 mm on a clinical stack, 2 mm on
the output grid. It now leaves out ``end_mm`` (10 mm) at each end. This script counts the share of plausible
label maps under both rules: truths (held-out phantoms of cohort seed 1 and the real hearts of
``benchmarks/real_data.py`` protocol (a) on their 2 mm canonical grids; the ACDC files at their own spacing)
and results on the output grid (NN, SBI and LO with the shipped defaults; the phantoms and real hearts made into
10 mm stacks without and with normal motion, one draw each; the ACDC files as they are, and with the odd slices
dropped, protocol (b)).
Also the mean number of in-plane contacts of the LV blood pool with background or RV that each rule counts.
Writes the ``plausibility-ends`` section of ``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/plausibility_ends.py --phantoms 10 --acdc 20
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict

import numpy as np
from _report import SHARED, report
from real_data import PATTERNS, real_hearts

from cardiosr import enhance
from cardiosr.degradation import drop_odd_slices
from cardiosr.io import load_labels
from cardiosr.metrics import PLAUSIBILITY_END_MM, plausibility
from cardiosr.phantom import cohort_member
from cardiosr.simulate import simulate_case

METHODS = {"NN": "nn", "SBI": "sbi", "LO (shipped defaults)": "lo"}
TITLE = "The plausibility check's ends of the LV as a length: truths and results (issue 15)"


def both_rules(labels: np.ndarray, slice_mm: float) -> tuple[bool, int, bool, int]:
    """(plausible, contacts) with one slice left out at each end of the LV, then with ``end_mm`` left out."""
    verdicts = []
    for p in (plausibility(labels, 1.0, end_mm=1.0), plausibility(labels, slice_mm)):
        verdicts += [bool(p["plausible"]), int(p["lv_background_contacts"]) + int(p["lv_rv_contacts"])]
    return tuple(verdicts)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=10, help="held-out phantoms (default 10)")
    parser.add_argument("--acdc", type=int, default=20, help="ACDC files enhanced (default 20; truths: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--section", default="plausibility-ends", help="section of docs/benchmarks.md")
    parser.add_argument("--title", default=TITLE, help="its title")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows: dict[tuple[str, str], list[tuple[bool, int, bool, int]]] = defaultdict(list)
    hearts = [("phantoms", cohort_member(args.seed, i)[0]) for i in range(args.phantoms)]
    hearts += [(name, hr) for name, hr in real_hearts()]
    for name, hr in hearts:
        rows[(name, "truth")].append(both_rules(hr.array, hr.spacing[0]))
        for pattern in ("none", "normal"):
            source = "phantom" if name == "phantoms" else "heart"
            case = simulate_case(source, hr, PATTERNS[pattern], np.random.default_rng([args.seed, 0]))
            for title, method in METHODS.items():
                sr = enhance(case.lr, method=method).sr
                rows[(f"{name}, {pattern}", title)].append(both_rules(sr.array, sr.spacing[0]))
        print(name, flush=True)
    files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
    for k, path in enumerate(files):
        full = load_labels(path, "acdc")
        rows[("ACDC", "truth")].append(both_rules(full.array, full.spacing[0]))
        if k < args.acdc:
            for group, stack in (("ACDC, every slice", full), ("ACDC, odd slices dropped", drop_odd_slices(full))):
                for title, method in METHODS.items():
                    sr = enhance(stack, method=method).sr
                    rows[(group, title)].append(both_rules(sr.array, sr.spacing[0]))
    table = []
    for (group, method), values in rows.items():
        v = np.array(values, float)
        table.append(
            [group, method, str(len(v)), f"{v[:, 0].mean():.0%}", f"{v[:, 2].mean():.0%}", f"{v[:, 1].mean():.0f}"]
            + [f"{v[:, 3].mean():.0f}"]
        )
    report(
        args.section,
        args.title,
        [
            "maps",
            "label map",
            "cases",
            "plausible, one slice left out at each end",
            f"plausible, {PLAUSIBILITY_END_MM:g} mm left out at each end",
            "LV contacts counted, one slice",
            f"LV contacts counted, {PLAUSIBILITY_END_MM:g} mm",
        ],
        table,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" {args.phantoms} phantoms, {len(files)} ACDC truths, {min(args.acdc, len(files))} ACDC files enhanced;"
        f" seed {args.seed}.",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
