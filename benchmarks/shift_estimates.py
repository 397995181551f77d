"""How well the shifts are estimated from the stack alone, before any prior (issue 15).

Every heart of protocol (a) of ``benchmarks/real_data.py`` (``demo_HR``, the voxelised Rodero and biv-me ED/ES
hearts) and held-out phantoms (cohort seed 1) are made into 10 mm stacks without motion, with normal and with
severe motion (``--draws`` each, Eq. 1). The starts of ``d`` (``--init-shifts``) are compared with the true
shifts: RMS error over the slices that hold heart labels, mm, the common translation removed (not
identifiable). ``zero`` is the error of not correcting at all (the motion itself); ``align`` is
:func:`cardiosr.slice_alignment.alignment_shifts` (the default), ``centroid`` the LV-centroid line
(:func:`cardiosr.optimise.centroid_shifts`). Rows: the real hearts together and each alone, the phantoms together.
Writes the ``shift-estimates`` section of ``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/shift_estimates.py --draws 5 --phantoms 4
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict

import numpy as np
from _report import report
from real_data import PATTERNS, real_hearts

from cardiosr.optimise import INITIAL_SHIFTS
from cardiosr.phantom import cohort_member
from cardiosr.simulate import simulate_case


def error_rms(estimate: np.ndarray, truth: np.ndarray, heart: np.ndarray) -> float:
    """RMS of the estimate's error over the heart slices, mm, each centred first (the common translation)."""
    e, t = estimate[heart], truth[heart]
    return float(np.sqrt(np.mean(np.sum(((e - e.mean(0)) - (t - t.mean(0))) ** 2, axis=1))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5, help="motion draws per pattern (default 5)")
    parser.add_argument("--phantoms", type=int, default=4, help="held-out phantoms (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--section", default="shift-estimates", help="docs/benchmarks.md section")
    parser.add_argument("--title", default="Shift estimates from the stack alone (issue 15)", help="its title")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    hearts = [("real", name, hr) for name, hr in real_hearts()]
    hearts += [("phantoms", f"phantom {i}", cohort_member(1, i)[0]) for i in range(args.phantoms)]
    errors: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for source, heart_name, hr in hearts:
        for pattern, scale in PATTERNS.items():
            for draw in range(args.draws if scale else 1):
                case = simulate_case(source, hr, scale, np.random.default_rng([args.seed, draw]))
                heart = (case.lr.array > 0).any((1, 2))
                groups = (source, heart_name) if source == "real" else (source,)
                for group in groups:
                    errors[(group, pattern, "zero")].append(error_rms(0 * case.shifts_mm, case.shifts_mm, heart))
                for name in ("align", "centroid"):
                    t0 = time.perf_counter()
                    estimate = INITIAL_SHIFTS[name](case.lr)
                    seconds[name].append(time.perf_counter() - t0)
                    for group in groups:
                        errors[(group, pattern, name)].append(error_rms(estimate, case.shifts_mm, heart))
    rows = []
    for group in ("real", *[name for source, name, _ in hearts if source == "real"], "phantoms"):
        for pattern in PATTERNS:
            means = [np.mean(errors[(group, pattern, m)]) for m in ("zero", "centroid", "align")]
            rows.append([group, pattern, *[f"{v:.2f}" for v in means]])
    n_real = sum(1 for h in hearts if h[0] == "real")
    report(
        args.section,
        args.title,
        ["hearts", "motion", "no correction (mm)", "centroid line (mm)", "slice alignment (mm)"],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" {n_real} real hearts, {args.phantoms} phantoms, {args.draws} draws per motion pattern. Seconds per"
        f" stack: alignment {np.mean(seconds['align']):.2f}, centroid line {np.mean(seconds['centroid']):.3f}.",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
