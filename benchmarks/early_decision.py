"""The motion test's early decision: decide every 10 iterations and fit only the chosen hypothesis on (issue 15).

The same stacks enhanced with the shipped defaults (``decide_after=10``: the four hypotheses of the motion
test are fitted together for 10 iterations, then the test decides on the losses reached so far and only the
chosen one goes on; while the searched hypothesis leads, all go on and the test is made again every 10
iterations) and with ``decide_after=None`` (every
hypothesis runs to its own stop, the defaults before). Cases: the real hearts of protocol (a) of
``benchmarks/real_data.py`` (demo_HR, the voxelised Rodero and biv-me ED/ES hearts) as motion-free, normal- and
severe-motion stacks (``--draws`` each), scored against the HR map with the best common in-plane translation
within ±6 mm; the first ``--acdc-patients`` ACDC patients (ED and ES) with the odd slices dropped, scored on
the dropped slices (protocol b); held-out phantoms (cohort seed 1) under normal and severe motion, plain Dice.
One warm-up call first. Mean Dice, how many stacks got the same hypothesis (``none``, ``estimated``,
``searched``) from both, and mean seconds per subject. Writes the ``early-decision`` section of
``docs/benchmarks.md``.

    python benchmarks/early_decision.py --draws 2 --acdc-patients 4 --phantoms 2
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict

import numpy as np
from _report import report
from motion_fidelity import cases as real_cases
from real_data import PATTERNS

from cardiosr.geometry import resample_labels
from cardiosr.metrics import dice
from cardiosr.phantom import cohort_member
from cardiosr.pipeline import enhance
from cardiosr.prior import load_prior
from cardiosr.simulate import case_rng, simulate_case

VARIANTS = {"decide at iteration 10 (default)": {}, "every hypothesis to its stop": {"decide_after": None}}


def cases(draws: int, acdc_patients: int, phantoms: int):
    """``(group, stack, score)`` with ``score(world result) -> mean Dice``: the real and ACDC cases of
    ``benchmarks/motion_fidelity.py`` (seed 1), then held-out phantoms."""
    names = {"real none": "real, none", "real normal": "real, normal", "real severe": "real, severe"}
    for group, stack, score in real_cases(draws, acdc_patients, 1):
        yield names.get(group, "ACDC, odd slices dropped"), stack, score
    for pattern in ("normal", "severe"):
        for i in range(phantoms):
            hr = cohort_member(1, i)[0]
            case = simulate_case("c", hr, PATTERNS[pattern], case_rng(1, i))

            def score(sr, hr=hr):
                labels = resample_labels(sr.array, sr.affine, hr.shape, hr.affine)
                return float(np.mean(list(dice(labels, hr.array).values())))

            yield f"phantoms, {pattern}", case.lr, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2, help="motion draws per pattern (default 2)")
    parser.add_argument("--acdc-patients", type=int, default=4, help="ACDC patients, ED and ES (default 4)")
    parser.add_argument("--phantoms", type=int, default=2, help="held-out phantoms per motion pattern (default 2)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    prior = load_prior()[0]
    stacks = list(cases(args.draws, args.acdc_patients, args.phantoms))
    enhance(stacks[0][1], prior=prior, max_iterations=2)  # warm-up
    found = defaultdict(lambda: defaultdict(list))  # group -> variant -> [(dice, hypothesis, seconds)]
    for group, stack, score in stacks:
        for title, options in VARIANTS.items():
            t0 = time.perf_counter()
            result = enhance(stack, prior=prior, **options)
            seconds = time.perf_counter() - t0
            hypothesis = result.optimisation.motion["hypothesis"]
            found[group][title].append((score(result.sr), hypothesis, seconds))
            print(group, title, round(found[group][title][-1][0], 3), hypothesis, round(seconds, 1), flush=True)
    rows = []
    default, previous = VARIANTS
    for group, by_variant in found.items():
        now, before = by_variant[default], by_variant[previous]
        same = sum(a[1] == b[1] for a, b in zip(now, before, strict=True))
        rows.append(
            [group, str(len(now))]
            + [f"{np.mean([c[0] for c in by_variant[v]]):.3f}" for v in VARIANTS]
            + [f"{same} of {len(now)}", f"{min(a[0] - b[0] for a, b in zip(now, before, strict=True)):+.3f}"]
            + [f"{np.mean([c[2] for c in by_variant[v]]):.1f}" for v in VARIANTS]
        )
    all_now = [c for g in found.values() for c in g[default]]
    all_before = [c for g in found.values() for c in g[previous]]
    rows.append(
        ["all", str(len(all_now))]
        + [f"{np.mean([c[0] for c in cs]):.3f}" for cs in (all_now, all_before)]
        + [
            f"{sum(a[1] == b[1] for a, b in zip(all_now, all_before, strict=True))} of {len(all_now)}",
            f"{min(a[0] - b[0] for a, b in zip(all_now, all_before, strict=True)):+.3f}",
        ]
        + [f"{np.mean([c[2] for c in cs]):.1f}" for cs in (all_now, all_before)]
    )
    intro = __doc__.split("\n\n")[1].replace("\n", " ") + (
        f" {args.draws} motion draws, {args.acdc_patients} ACDC patients, {args.phantoms} phantoms."
    )
    report(
        "early-decision",
        "The motion test's early decision (issue 15)",
        [
            "cases",
            "n",
            f"Dice, {default}",
            f"Dice, {previous}",
            "same hypothesis",
            "lowest per-case difference",
            f"s, {default}",
            f"s, {previous}",
        ],
        rows,
        intro,
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
