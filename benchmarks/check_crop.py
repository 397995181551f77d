"""The stack's self-consistency check moved on the heart's box: the same values, and its time (issue 15).

:func:`cardiosr.optimise.motion_test.stack_self_consistency` moves every slice back by its shift before the
leave-one-slice-out check. It used to move the whole image and then crop to the heart's in-plane box; it now
crops first, with room for the largest shift plus 3 pixels, and moves the box alone. For each stack and each
set of random shifts (σ 1, 3 and 8 mm per axis, seeded) this script computes the check both ways (the whole
image moved by :func:`~cardiosr.optimise.init.shift_slices` and then checked with no shift is what the check
computed before) and counts the checks whose values are equal to the last bit, with the seconds each way.
Stacks: M&Ms-2 case 001 (ED, ES, as acquired), the first ``--acdc`` ACDC files with the odd slices dropped
(protocol (b) of ``benchmarks/real_data.py``) and the real hearts of protocol (a) with normal motion (draw 0).
Writes the ``check-crop`` section of ``docs/benchmarks.md``.

    python benchmarks/check_crop.py --acdc 20
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _report import SHARED, report
from real_data import real_hearts

from cardiosr.degradation import drop_odd_slices
from cardiosr.io import load_labels
from cardiosr.optimise import shift_slices
from cardiosr.optimise.motion_test import stack_self_consistency
from cardiosr.simulate import simulate_case

SCALES_MM = (1.0, 3.0, 8.0)


def stacks(n_acdc: int) -> list[tuple[str, object]]:
    """(group, stack) of every stack the check is timed on."""
    out = []
    mnms = SHARED / "mnms2-case001"
    for phase in ("ED", "ES"):
        if (mnms / f"001_SA_{phase}_gt.nii.gz").is_file():
            out.append(("M&Ms-2 001", load_labels(mnms / f"001_SA_{phase}_gt.nii.gz", "mnms")))
    for path in sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))[:n_acdc]:
        out.append(("ACDC, odd slices dropped", drop_odd_slices(load_labels(path, "acdc"))))
    for _, hr in real_hearts():
        out.append(("protocol (a), normal motion", simulate_case("h", hr, 1.0, np.random.default_rng([1, 0])).lr))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acdc", type=int, default=20, help="ACDC files (default 20)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    groups: dict[str, list[tuple[bool, float, float]]] = {}
    for group, sa in stacks(args.acdc):
        for scale in SCALES_MM:
            d = rng.normal(0.0, scale, (sa.shape[0], 2))
            t0 = time.perf_counter()
            whole = stack_self_consistency(shift_slices(sa, -d), 0 * d)
            t1 = time.perf_counter()
            box = stack_self_consistency(sa, d)
            t2 = time.perf_counter()
            same = whole == box or (np.isnan(whole) and np.isnan(box))
            groups.setdefault(group, []).append((bool(same), t1 - t0, t2 - t1))
    rows = []
    for group, runs in groups.items():
        same, whole, box = zip(*runs, strict=True)
        rows.append(
            [
                group,
                str(len(runs)),
                f"{sum(same)} of {len(runs)}",
                f"{1000 * np.mean(whole):.0f}",
                f"{1000 * np.mean(box):.0f}",
            ]
        )
    report(
        "check-crop",
        "The stack's self-consistency check moved on the heart's box (issue 15)",
        ["stacks", "checks", "equal to the last bit", "ms per check, whole image moved", "ms per check, box moved"],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
