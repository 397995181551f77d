"""The stopping window of a cine's per-frame stages (``OptimiseOptions.cycle_window``): accuracy against time.

The cines of ``benchmarks/cardiac_cycle.py`` (held-out phantoms animated through a cycle, cohort seed 1, and the
real biv-me patient's cycle, every ``--bivme-step``-th of its 25 frames; normal and severe motion, one breath-hold
shift per slice shared by all frames) are enhanced with the shipped defaults and each ``--windows`` value of
``cycle_window``, the stopping-rule window of the per-frame shape fit and data-consistency stage (the motion
test on the key frames keeps ``window``). Per cine and window: shift RMS (mm, common translation removed),
shift-optimal mean Dice per frame against the truth, LV EF error (points), the largest frame-to-frame jump of
the LV volume curve beyond the truth's (mL), shape-fit and data-consistency iterations of a frame, and seconds
per frame; the mean rows are over these cines. Then the first ``--acdc`` ACDC patients of ``../shared/data/acdc``
(ED and ES as two files, as distributed, real anatomy without a high-resolution truth): the LV EF error against
the EF counted on the input stacks (voxel volumes). Writes the ``cycle-window`` section of ``docs/benchmarks.md``
(``--section``, ``--title``: another).

    python benchmarks/cycle_window.py --phantoms 2 --frames 10 --bivme-step 3 --windows 10,5 --acdc 10
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _report import SHARED, report
from cardiac_cycle import PATTERNS, _dice, _rms, cine_arguments, cines

from cardiosr.degradation import degrade_cine_with_motion
from cardiosr.frames import load_frames
from cardiosr.metrics import clinical_volumes
from cardiosr.pipeline import Enhancer

#: Title of the ``cycle-window`` section.
TITLE = "The stopping window of a cine's per-frame stages (issue 17)"
HEADER = [
    "cine",
    "motion",
    "cycle_window",
    "shift RMS mm",
    "Dice, mean over frames",
    "LV EF error",
    "LV curve jump beyond truth mL",
    "iterations (shape fit / data consistency)",
    "s per frame",
]


def main() -> None:
    parser = cine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--windows", default="10,5", help="cycle_window values, comma-separated (default 10,5)")
    parser.add_argument("--acdc", type=int, default=10, help="ACDC patients, ED + ES files (default 10; 0: none)")
    parser.add_argument("--section", default="cycle-window", help="docs/benchmarks.md section (default cycle-window)")
    parser.add_argument("--title", default=TITLE, help="the section's title")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    windows = [int(w) for w in args.windows.split(",")]
    enhancers = {w: Enhancer(device="cpu", cycle_window=w) for w in windows}
    enhancers[windows[0]].run_cycle(degrade_cine_with_motion(cines(1, 3, 0)[0][1], 1.0, np.random.default_rng(0))[0])
    rows, scores = [], {w: [] for w in windows}
    for name, hr in cines(args.phantoms, args.frames, args.bivme_step):
        lv = np.array([clinical_volumes(f.array, f.spacing)["LV_ml"] for f in hr])
        true_ef = 100 * (lv.max() - lv.min()) / lv.max()
        for pattern, scale in PATTERNS.items():
            stacks, shifts = degrade_cine_with_motion(hr, scale, np.random.default_rng(11))
            for w in windows:
                t0 = time.perf_counter()
                cycle = enhancers[w].run_cycle(stacks)
                per_frame = (time.perf_counter() - t0) / len(stacks)
                c = cycle.cycle()
                jump = float(np.max(np.abs(np.diff(c["LV_ml"])) - np.abs(np.diff(lv))))
                dice = float(np.mean([_dice(r, hr[t]) for t, r in zip(cycle.frame_indices, cycle.frames, strict=True)]))
                its = cycle.frames[0].optimisation.iterations
                values = [_rms(cycle.shifts_mm, shifts), dice, c["EF_LV"] - true_ef, max(jump, 0.0), per_frame]
                scores[w].append(values)
                row = [name, pattern, str(w), f"{values[0]:.2f}", f"{dice:.3f}", f"{values[2]:+.1f}"]
                row += [f"{values[3]:.1f}", f"{its['latent']} / {its['refine']}", f"{per_frame:.2f}"]
                print(row, flush=True)
                rows.append(row)
    for w in [w for w in windows if scores[w]]:
        m = np.mean(scores[w], 0)
        mean_abs_ef = np.mean(np.abs(np.array(scores[w])[:, 2]))
        row = ["mean, cines with truth", "", str(w), f"{m[0]:.2f}", f"{m[1]:.4f}", f"{mean_abs_ef:.1f} (mean absolute)"]
        rows.append(row + [f"{m[3]:.1f}", "", f"{m[4]:.2f}"])
    acdc = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz")) if (SHARED / "acdc").is_dir() else []
    patients = sorted({f.name.split("_")[0] for f in acdc})[: args.acdc]
    errors: dict[int, list[float]] = {w: [] for w in windows}
    for patient in patients:
        cine = load_frames([f for f in acdc if f.name.startswith(patient + "_")], "acdc")
        for w in windows:
            t0 = time.perf_counter()
            cycle = enhancers[w].run_cycle(cine)
            per_frame = (time.perf_counter() - t0) / cine.n_frames
            c = cycle.cycle()
            lv = c["input_LV_ml"]
            error = c["EF_LV"] - 100 * (max(lv) - min(lv)) / max(lv)
            errors[w].append(error)
            its = cycle.frames[0].optimisation.iterations
            row = [f"ACDC {patient}", "ED + ES files", str(w), "–", "–", f"{error:+.1f} (vs input)", "–"]
            row += [f"{its['latent']} / {its['refine']}", f"{per_frame:.2f}"]
            print(row, flush=True)
            rows.append(row)
    if patients:
        for w in windows:
            mean_abs = np.mean(np.abs(errors[w]))
            ef = f"{mean_abs:.1f} (mean absolute, vs input)"
            rows.append([f"mean, {len(patients)} ACDC patients", "", str(w), "–", "–", ef, "–", "", ""])
    report(
        args.section,
        args.title,
        HEADER,
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
