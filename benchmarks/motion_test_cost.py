"""What the motion test's hypotheses cost in time per subject (issue 15).

The same stacks enhanced with the shipped defaults (four fits per subject: ``d = 0``, two fixed estimates that
race for one stopping window, the searched hypothesis) and with ``second_estimate=None`` (three fits, the
defaults of the previous session): demo_HR and the Rodero heart as motion-free, normal- and severe-motion
stacks (draw 0) and two held-out phantoms under severe motion. One warm-up call first. Mean and per-case
seconds per subject, and the chosen estimate. Writes the ``motion-test-cost`` section of ``docs/benchmarks.md``.

    python benchmarks/motion_test_cost.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _report import report
from real_data import PATTERNS, real_hearts

from cardiosr.phantom import cohort_member
from cardiosr.pipeline import enhance
from cardiosr.prior import load_prior
from cardiosr.simulate import case_rng, simulate_case

VARIANTS = {"defaults (4 fits, estimates race)": {}, "second_estimate=None (3 fits)": {"second_estimate": None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    prior = load_prior()[0]
    cases = [
        simulate_case("heart", hr, scale, np.random.default_rng([1, 0]))
        for _, hr in real_hearts()[:2]
        for scale in PATTERNS.values()
    ]
    cases += [simulate_case("c", cohort_member(1, i)[0], 4.0, case_rng(1, i)) for i in range(2)]
    enhance(cases[0].lr, prior=prior, max_iterations=2)  # warm-up
    rows = []
    for title, options in VARIANTS.items():
        seconds = []
        for case in cases:
            t0 = time.perf_counter()
            enhance(case.lr, prior=prior, **options)
            seconds.append(time.perf_counter() - t0)
        print(title, [round(s, 1) for s in seconds], flush=True)
        rows.append([title, f"{np.mean(seconds):.1f}", " / ".join(f"{s:.1f}" for s in seconds)])
    report(
        "motion-test-cost",
        "Time per subject of the motion test's hypotheses (issue 15)",
        ["LO", "mean s per subject", "per case s"],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
