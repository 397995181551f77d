"""The QC of a cine's ejection fraction: the result's LV EF against the one counted on the input stacks.

Every cine is enhanced with the shipped defaults and ``summary.json``'s ``cycle`` and ``qc`` are read: the
difference between the result's LV EF and the one counted on the input stacks' voxels (their largest and
smallest LV blood pool; ``cardiosr.pipeline.checks.cycle_checks`` flags more than ``QC_MAX_EF_DIFFERENCE``
points), and for the cines with truth the result's and the input's errors against the true EF. The cines: the
ACDC patients in ``../shared/data/acdc`` (ED and ES as two files, as distributed; ``--acdc``), M&Ms-2 case 001
(ED and ES files) and the cines of ``benchmarks/cardiac_cycle.py`` (held-out phantoms animated through a cycle,
cohort seed 1, and the real biv-me patient's cycle, every ``--bivme-step``-th of its 25 frames; normal and
severe motion, one breath-hold shift per slice shared by all frames). Writes the ``cycle-qc`` section of
``docs/benchmarks.md``.

    python benchmarks/cycle_qc.py --phantoms 2 --frames 10 --bivme-step 3 --acdc 50
"""

from __future__ import annotations

import warnings

import numpy as np
from _report import SHARED, report
from cardiac_cycle import PATTERNS, cine_arguments, cines

from cardiosr.degradation import degrade_cine_with_motion
from cardiosr.frames import load_frames
from cardiosr.metrics import clinical_volumes, ejection_fraction
from cardiosr.pipeline import Enhancer
from cardiosr.pipeline.checks import QC_MAX_EF_DIFFERENCE

HEADER = [
    "group",
    "cines",
    "result − input EF, points: mean (largest absolute)",
    "flagged",
    "EF error vs truth: result / input",
]


def _counted(lv: list[float]) -> float:
    """The LV EF of volumes ``lv`` (one per frame): largest against smallest."""
    return ejection_fraction(max(lv), min(lv))


def main() -> None:
    parser = cine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--acdc", type=int, default=50, help="ACDC patients, ED + ES files (default 50; 0: none)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    enhancer = Enhancer(device="cpu")
    groups: dict[str, list[tuple[float, bool, float | None, float | None]]] = {}

    def run(group: str, name: str, frames, true_ef: float | None = None) -> None:
        summary = enhancer.run_cycle(frames).summary()
        c = summary["cycle"]
        counted = _counted(c["input_LV_ml"])
        flagged = bool(summary["qc"]["reasons"])
        errors = (None, None) if true_ef is None else (c["EF_LV"] - true_ef, counted - true_ef)
        groups.setdefault(group, []).append((c["EF_LV"] - counted, flagged, *errors))
        print(group, name, f"EF {c['EF_LV']:.1f} input {counted:.1f}", "FLAG" if flagged else "", flush=True)

    for name, hr in cines(args.phantoms, args.frames, args.bivme_step):
        lv = [clinical_volumes(f.array, f.spacing)["LV_ml"] for f in hr]
        for pattern, scale in PATTERNS.items():
            stacks, _ = degrade_cine_with_motion(hr, scale, np.random.default_rng(11))
            group = "biv-me cycle" if name.startswith("biv-me") else "phantom cines"
            run(f"{group}, {pattern} motion", name, stacks, _counted(lv))
    mnms = SHARED / "mnms2-case001"
    if mnms.is_dir():
        run(
            "M&Ms-2 001, ED + ES files",
            "001",
            load_frames([mnms / f"001_SA_{p}_gt.nii.gz" for p in ("ED", "ES")], "mnms"),
        )
    acdc = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz")) if (SHARED / "acdc").is_dir() else []
    for patient in sorted({f.name.split("_")[0] for f in acdc})[: args.acdc]:
        run("ACDC, ED + ES files", patient, load_frames([f for f in acdc if f.name.startswith(patient + "_")], "acdc"))
    rows = []
    for group, items in groups.items():
        diff = np.array([i[0] for i in items])
        truth = [i for i in items if i[2] is not None]
        vs_truth = (
            f"{np.mean([abs(i[2]) for i in truth]):.1f} / {np.mean([abs(i[3]) for i in truth]):.1f} (mean absolute)"
            if truth
            else "–"
        )
        rows.append(
            [
                group,
                str(len(items)),
                f"{diff.mean():+.1f} ({np.abs(diff).max():.1f})",
                str(sum(i[1] for i in items)),
                vs_truth,
            ]
        )
    intro = __doc__.split("\n\n")[1].replace("\n", " ") + f" Flagged: more than {QC_MAX_EF_DIFFERENCE:g} points."
    report(
        "cycle-qc",
        "The QC of a cine's ejection fraction against the input stacks' (issue 17)",
        HEADER,
        rows,
        intro,
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
