"""The cardiac cycle (issue 17): a cine fitted with shifts shared by all frames against its ED frame alone.

Cines with known truth: held-out phantoms animated through a cycle (:func:`cardiosr.phantom.phantom_cycle`, cohort
seed 1, ``--frames`` frames, ED → ES → ED) and the real biv-me patient (25 frames voxelised from its meshes, every
``--bivme-step``-th frame, all on the ED frame's canonical grid), each made into 10 mm stacks with one breath-hold
shift per slice shared by all frames (normal and severe motion,
:func:`cardiosr.degradation.degrade_cine_with_motion`). Each cine is enhanced with the shipped defaults
(:meth:`cardiosr.pipeline.Enhancer.run_cycle`) and its ED stack alone (:meth:`~cardiosr.pipeline.Enhancer.run`).
Shift RMS (mm, common translation removed) of the cine's shared shifts and of the ED frame's own, and the same with
each one's linear trend along the slices removed too (a tilt of the long axis, which no stack can tell from
motion); shift-optimal mean Dice per frame against the truth (mean over frames, and ED alone); LV EF and ESV/EDV
errors against the truth's (points, mL); the largest frame-to-frame jump of the LV volume curve beyond the truth's
(mL); seconds per frame; peak resident memory of the process. With ``--la`` every cine is also enhanced with a
long-axis view of every frame (a four-chamber-like plane through the truth,
:func:`cardiosr.degradation.long_axis_view`; γ = 1), and its ED frame alone with the ED view; with ``--two-views``
also with a two-chamber-like view of every frame beside it (both views of the ED frame for the ED frame alone).
With ``--long N`` a
phantom cine of N frames (normal motion, about 12 slices) is also enhanced in a fresh process: its wall time,
seconds per frame and that process's peak resident memory (the clinical size: 50 frames in UK Biobank); with
``--long-views`` it is given a two- and a four-chamber view of every frame too (two 4D long-axis cines, as UK
Biobank acquires them beside the short-axis cine; still views). With
``--draws N`` every cine and pattern gets N motion draws (seeds 11, 12, ...): each number is the mean over the
draws (the LV EF error: its mean absolute value), a column counts the draws where the shared shifts' RMS is
below the ED frame's alone, and the next gives the mean of that difference over the draws with its 95 % percentile
bootstrap interval (:func:`cardiosr.metrics.paired_difference`; an interval that holds 0 does not tell the two
apart). ``--inputs 2v`` runs only the rows with both views (``sa``, ``4ch``, ``2v``: any of
them); with ``--view-motion 1`` each view (all its frames) was acquired in its own breath-hold, its heart moved by
the motion model's amplitude in a random 3D direction (:func:`cardiosr.degradation.simulate_view_displacements`,
seeds ``[11 + draw, 7]``). Writes the
``cardiac-cycle`` section of ``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/cardiac_cycle.py --phantoms 2 --frames 10 --bivme-step 3 --long 50 --la
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
import warnings
from pathlib import Path

import numpy as np
from _report import report

from cardiosr.degradation import degrade_cine_with_motion, long_axis_view, simulate_view_displacements
from cardiosr.frames import Cine
from cardiosr.geometry import canonical_frame, to_canonical
from cardiosr.mesh_hearts import BIVME_FOLDER, BIVME_FRAMES, bivme_heart
from cardiosr.metrics import clinical_volumes, paired_difference, shift_optimal_dice
from cardiosr.phantom import phantom_cycle
from cardiosr.pipeline import Enhancer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PATTERNS = {"normal": 1.0, "severe": 4.0}
#: Inputs of each cine: the short-axis stacks alone, (``--la``) with a four-chamber-like view of every frame and
#: (``--two-views``) with a two-chamber-like view of every frame too; each with the views it uses.
INPUTS = {"SA": (), "SA + 4ch view per frame": ("4ch",), "SA + 2ch and 4ch views per frame": ("4ch", "2ch")}
#: ``--inputs`` names of :data:`INPUTS`' rows.
INPUT_NAMES = dict(zip(("sa", "4ch", "2v"), INPUTS, strict=True))


def _rms(estimate: np.ndarray, truth: np.ndarray, *, tilt: bool = False) -> float:
    """RMS of the shift error over the slices ``estimate`` holds (not NaN), common translation removed; with
    ``tilt`` each shift's linear trend along the slices too (what a tilt of the long axis would explain, which
    no stack can tell from motion)."""
    heart = ~np.isnan(estimate[:, 0])
    k = np.nonzero(heart)[0].astype(float)
    design = np.stack([np.ones_like(k), k], 1) if tilt else np.ones((len(k), 1))

    def residual(x: np.ndarray) -> np.ndarray:
        return x[heart] - design @ np.linalg.lstsq(design, x[heart], rcond=None)[0]

    return float(np.sqrt(((residual(estimate) - residual(truth)) ** 2).sum(1).mean()))


def _dice(result, truth) -> float:
    from cardiosr.geometry import resample_labels

    canonical = result.sr_canonical
    labels = resample_labels(canonical.array, canonical.affine, truth.shape, truth.affine)
    scores, _ = shift_optimal_dice(labels, truth.array, truth.spacing, search_mm=6.0)
    return float(np.mean(list(scores.values())))


def cines(n_phantoms: int, n_frames: int, bivme_step: int) -> list[tuple[str, list]]:
    """(name, HR frames on one canonical grid) of every cine with truth."""
    out = [
        (f"phantom {i}", phantom_cycle(np.random.SeedSequence(1, spawn_key=(i,)), n_frames)) for i in range(n_phantoms)
    ]
    if (SHARED / BIVME_FOLDER).is_dir() and bivme_step > 0:
        hearts = [bivme_heart(SHARED / BIVME_FOLDER, f) for f in range(0, BIVME_FRAMES, bivme_step)]
        frame = canonical_frame(hearts[0])
        out.append(("biv-me", [to_canonical(h, frame=frame)[0] for h in hearts]))
    return out


def cine_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the options that choose the cines of :func:`cines` (and ``--no-write``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--phantoms", type=int, default=2, help="phantom cines (default 2)")
    parser.add_argument("--frames", type=int, default=10, help="frames per phantom cycle (default 10)")
    parser.add_argument("--bivme-step", type=int, default=3, help="every k-th biv-me frame (default 3; 0: none)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser


def main() -> None:
    parser = cine_arguments(__doc__.splitlines()[0])
    parser.add_argument("--long", type=int, default=0, help="also time an N-frame cine in a fresh process (0: no)")
    parser.add_argument("--long-views", action="store_true", help="with --long: 2ch and 4ch views of every frame too")
    parser.add_argument("--la", action="store_true", help="also every cine with a long-axis view of each frame")
    parser.add_argument("--two-views", action="store_true", help="also every cine with 2ch and 4ch views of each frame")
    parser.add_argument("--draws", type=int, default=1, help="motion draws per cine and pattern (default 1)")
    parser.add_argument(
        "--inputs",
        help="only these rows (comma-separated of sa, 4ch, 2v; default: sa, with --la also 4ch, with --two-views 2v)",
    )
    parser.add_argument(
        "--view-motion",
        type=float,
        default=0.0,
        metavar="SCALE",
        help="each long-axis view (all its frames) acquired in its own breath-hold: the heart moved by the motion"
        " model's amplitude times SCALE in a random 3D direction (default 0)",
    )
    parser.add_argument("--section", default="cardiac-cycle", help="docs/benchmarks.md section (default cardiac-cycle)")
    parser.add_argument("--title", default=TITLE, help="the section's title")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    chosen = list(INPUTS)[: 3 if args.two_views else 2 if args.la else 1]
    if args.inputs:
        if not set(args.inputs.split(",")) <= set(INPUT_NAMES):
            parser.error(f"--inputs: choose from {', '.join(INPUT_NAMES)}")
        chosen = [INPUT_NAMES[name] for name in args.inputs.split(",")]
    long_run = None
    if args.long:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            long_run = pool.apply(long_cine, (args.long, args.long_views))
        long_run["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(long_run, flush=True)
    enhancer = Enhancer(device="cpu")
    rows = []
    for name, hr in cines(args.phantoms, args.frames, args.bivme_step):
        truth_ml = [clinical_volumes(f.array, f.spacing) for f in hr]
        lv = np.array([v["LV_ml"] for v in truth_ml])
        ed, es = int(np.argmax(lv)), int(np.argmin(lv))
        true_ef = 100 * (lv[ed] - lv[es]) / lv[ed]
        for pattern, scale in PATTERNS.items():
            for inputs in chosen:
                runs = []
                for draw in range(args.draws):
                    stacks, shifts = degrade_cine_with_motion(hr, scale, np.random.default_rng(11 + draw))
                    moves = simulate_view_displacements(2, args.view_motion, np.random.default_rng([11 + draw, 7]))
                    runs.append(_one_run(enhancer, hr, stacks, shifts, inputs, lv, ed, es, true_ef, moves))
                    print(name, inputs, pattern, draw, runs[-1], flush=True)
                rows.append(_row(name, inputs, pattern, len(hr), true_ef, runs))
                print(rows[-1], flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note = (
        f" Every view acquired in its own breath-hold (``--view-motion {args.view_motion:g}``)."
        if args.view_motion
        else ""
    )
    write_section(rows, peak_mb, long_run, not args.no_write, args.section, args.title, note)


def _one_run(enhancer, hr, stacks, shifts, inputs, lv, ed, es, true_ef, moves) -> dict:
    """One motion draw of a cine: the cine and its ED frame alone enhanced, and their numbers."""
    # with views: a long-axis view of every frame's truth (a 4D long-axis file) for each view of the inputs, its
    # heart moved by that view's displacement ``moves[i]`` (mm; its own breath-hold)
    views = [
        Cine(tuple(long_axis_view(f, view=v, displacement_mm=d) for f in hr), None, ())
        for v, d in zip(INPUTS[inputs], moves, strict=False)
    ] or None
    t0 = time.perf_counter()
    cycle = enhancer.run_cycle(stacks, views)
    per_frame = (time.perf_counter() - t0) / len(stacks)
    alone = enhancer.run(stacks[ed], [v.frames[ed] for v in views] if views else None)
    c = cycle.cycle()
    curve = np.array(c["LV_ml"])
    dice = [_dice(r, hr[t]) for t, r in zip(cycle.frame_indices, cycle.frames, strict=True)]
    return {
        "rms": _rms(cycle.shifts_mm, shifts),
        "rms_alone": _rms(alone.shifts_mm, shifts),
        "tilt": _rms(cycle.shifts_mm, shifts, tilt=True),
        "tilt_alone": _rms(alone.shifts_mm, shifts, tilt=True),
        "dice": float(np.mean(dice)),
        "dice_ed": dice[ed],
        "dice_alone": _dice(alone, hr[ed]),
        "ef_error": c["EF_LV"] - true_ef,
        "edv_error": curve[ed] - lv[ed],
        "esv_error": curve[es] - lv[es],
        "jump": max(float(np.max(np.abs(np.diff(curve)) - np.abs(np.diff(lv)))), 0.0),
        "seconds": per_frame,
        "hypothesis": cycle.motion.get("hypothesis", ""),
    }


def _row(name: str, inputs: str, pattern: str, frames: int, true_ef: float, runs: list[dict]) -> list[str]:
    """A table row: the means over the motion draws ``runs`` (the EF error's mean absolute value when several)."""

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in runs]))

    lower = sum(r["rms"] < r["rms_alone"] for r in runs)
    paired = paired_difference([r["rms"] for r in runs], [r["rms_alone"] for r in runs])
    ef = mean("ef_error") if len(runs) == 1 else float(np.mean([abs(r["ef_error"]) for r in runs]))
    hypotheses = sorted({r["hypothesis"] for r in runs})
    tests = ", ".join(f"{h} {sum(r['hypothesis'] == h for r in runs)}" for h in hypotheses)
    return [
        name,
        inputs,
        pattern,
        str(frames),
        f"{mean('rms'):.2f}",
        f"{mean('rms_alone'):.2f}",
        f"{lower} of {len(runs)}",
        f"{paired['mean']:+.2f} [{paired['low']:+.2f}, {paired['high']:+.2f}]",
        f"{mean('tilt'):.2f} / {mean('tilt_alone'):.2f}",
        f"{mean('dice'):.3f}",
        f"{mean('dice_ed'):.3f}",
        f"{mean('dice_alone'):.3f}",
        f"{true_ef:.1f}",
        f"{ef:+.1f}" if len(runs) == 1 else f"{ef:.1f}",
        f"{mean('edv_error'):+.1f} / {mean('esv_error'):+.1f}",
        f"{mean('jump'):.1f}",
        f"{mean('seconds'):.1f}",
        tests if len(runs) > 1 else hypotheses[0],
    ]


def long_cine(n_frames: int, views: bool = False) -> dict:
    """Enhance an ``n_frames`` phantom cine (normal motion) with the shipped defaults (``views``: with a two- and
    a four-chamber view of every frame): seconds, frames, EF error."""
    warnings.simplefilter("ignore")
    hr = phantom_cycle(np.random.SeedSequence(1, spawn_key=(99,)), n_frames)
    stacks, _ = degrade_cine_with_motion(hr, 1.0, np.random.default_rng(11))
    lv = np.array([clinical_volumes(f.array, f.spacing)["LV_ml"] for f in hr])
    la = [Cine(tuple(long_axis_view(f, view=v) for f in hr), None, ()) for v in ("2ch", "4ch")] if views else None
    enhancer = Enhancer(device="cpu")
    t0 = time.perf_counter()
    cycle = enhancer.run_cycle(stacks, la)
    seconds = time.perf_counter() - t0
    cycle.summary()  # what summary.json holds (volumes and plausibility of every frame), timed on its own
    summary_seconds = time.perf_counter() - t0 - seconds
    true_ef = 100 * (lv.max() - lv.min()) / lv.max()
    return {
        "frames": n_frames,
        "slices": stacks[0].shape[0],
        "seconds": seconds,
        "summary_seconds": summary_seconds,
        "ef_error": cycle.cycle()["EF_LV"] - true_ef,
        "views": views,
    }


#: Title of the ``cardiac-cycle`` section.
TITLE = "The cardiac cycle: shifts shared by all frames against the ED frame alone (issue 17)"
#: Columns of the ``cardiac-cycle`` table.
HEADER = [
    "cine",
    "inputs",
    "motion",
    "frames",
    "shift RMS mm, all frames",
    "shift RMS mm, ED alone",
    "draws where all frames are lower",
    "all frames − ED alone, mm: paired mean [95 % CI]",
    "shift RMS mm without tilt, all frames / ED alone",
    "Dice, mean over frames",
    "Dice ED (cine)",
    "Dice ED alone",
    "true LV EF %",
    "LV EF error",
    "EDV / ESV error mL",
    "LV curve jump beyond truth mL",
    "s per frame",
    "motion test",
]


def write_section(
    rows: list[list[str]],
    peak_mb: float | None,
    long_run: dict | None = None,
    write: bool = True,
    section: str = "cardiac-cycle",
    title: str = TITLE,
    note: str = "",
) -> None:
    """Write ``section`` of ``docs/benchmarks.md`` (``peak_mb``: peak resident memory, MB; ``note``: a sentence
    appended to the description)."""
    memory = f" Peak resident memory of the run: {peak_mb:.0f} MB." if peak_mb else " Peak memory: not recorded."
    memory = note + memory
    if long_run:
        memory += (
            f" Long cine{' with a two- and a four-chamber view of every frame' if long_run.get('views') else ''}:"
            f" {long_run['frames']} frames of {long_run['slices']} slices in {long_run['seconds']:.0f} s"
            f" ({long_run['seconds'] / long_run['frames']:.2f} s per frame), peak resident memory"
            f" {long_run['peak_mb']:.0f} MB, LV EF error {long_run['ef_error']:+.1f} points; the content of its"
            f" summary.json (volumes and plausibility of every frame) {long_run.get('summary_seconds', 0):.1f} s more."
        )
    report(
        section,
        title,
        HEADER,
        [[str(x) for x in row] for row in rows],
        __doc__.split("\n\n")[1].replace("\n", " ") + memory,
        write=write,
    )


if __name__ == "__main__":
    main()
