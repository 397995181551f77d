"""Do the real-anatomy defaults cost anything on phantoms? Previous defaults against the current ones (issue 15).

Held-out phantoms (cohort seed 1; the default prior was trained on seed 0) are degraded with Eq. 1 under
the paper's three motion patterns and restored by ``cardiosr.enhance`` with the shipped prior, twice: with
the previous defaults (the paper's joint search of ``z`` and ``d``, no motion test, no fusion) and with the
current ones (motion test, shifts kept at the centroid estimate, fusion with the motion-corrected stack at
weight 0.5). With ``--previous-prior PATH`` (the phantom-only prior shipped before) the previous defaults
run with that prior, and the current defaults with both. Mean Dice against the phantom, shift RMS error
against the truth (common translation removed) and seconds per subject. Writes the ``defaults-on-phantoms``
section of ``docs/benchmarks.md``.

    python benchmarks/defaults_on_phantoms.py -n 12
    python benchmarks/defaults_on_phantoms.py -n 12 --previous-prior OLD/
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict

import numpy as np
from _report import report
from real_data import parse_option

from cardiosr.degradation import MOTION_PATTERNS
from cardiosr.geometry import resample_labels
from cardiosr.metrics import dice
from cardiosr.phantom import cohort_member
from cardiosr.pipeline import enhance
from cardiosr.prior import load_prior
from cardiosr.simulate import case_rng, simulate_case

PREVIOUS = {"shift_search": True, "motion_test": False, "motion_prior": 0.0, "fidelity": None}


def _rms(estimate: np.ndarray, truth: np.ndarray) -> float:
    heart = ~np.isnan(estimate[:, 0])
    e, t = estimate[heart], truth[heart]
    return float(np.sqrt(np.mean(np.sum(((e - e.mean(0)) - (t - t.mean(0))) ** 2, axis=1))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=12, help="phantoms per motion pattern (default 12)")
    parser.add_argument("--previous-prior", metavar="PRIOR", help="the prior shipped before (default: the shipped one)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an option of the current defaults' runs"
    )
    parser.add_argument("--section", default="defaults-on-phantoms", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default="Real-anatomy defaults on phantoms (issue 15)")
    args = parser.parse_args()
    chosen = dict(parse_option(text, parser) for text in args.set)
    warnings.simplefilter("ignore")
    prior = load_prior()[0]
    variants = [("current defaults" + "".join(f", {k}={v}" for k, v in chosen.items()), prior, chosen)]
    if args.previous_prior:
        previous = load_prior(args.previous_prior)[0]
        variants = [
            ("previous defaults (paper's joint search), previous prior", previous, PREVIOUS),
            ("current defaults, previous prior", previous, {}),
            ("current defaults, shipped prior", prior, {}),
        ]
    else:
        variants.insert(0, ("previous defaults (paper's joint search)", prior, PREVIOUS))
    rows = defaultdict(list)
    for pattern, scale in MOTION_PATTERNS.items():
        for i in range(args.n):
            hr = cohort_member(1, i)[0]
            case = simulate_case("c", hr, scale, case_rng(1, i))
            for title, model, options in variants:
                t0 = time.perf_counter()
                result = enhance(case.lr, prior=model, **options)
                seconds = time.perf_counter() - t0
                sr = resample_labels(result.sr.array, result.sr.affine, hr.shape, hr.affine)
                score = float(np.mean(list(dice(sr, hr.array).values())))
                rows[(pattern, title)].append((score, _rms(result.shifts_mm, case.shifts_mm), seconds))
            print(pattern, i, [round(v[-1][0], 3) for k, v in rows.items() if k[0] == pattern], flush=True)
    table = [
        [pattern, title, f"{np.mean([c[0] for c in cases]):.3f}", f"{np.mean([c[1] for c in cases]):.2f}",
         f"{np.mean([c[2] for c in cases]):.1f}"]
        for (pattern, title), cases in rows.items()
    ]  # fmt: skip
    report(
        args.section,
        args.title,
        ["motion", "LO", "mean Dice", "shift RMS error mm", "s"],
        table,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" {args.n} phantoms per pattern."
        + (f" Previous prior: {args.previous_prior}." if args.previous_prior else ""),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
