"""Verbs that enhance subjects: ``enhance`` (one), ``batch`` (a cohort), ``report`` (of a batch)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cardiosr.cli.options import add_labels, add_settings_options, check_output_folder, enhance_settings


def add_enhance_verb(sub: Any) -> None:
    """The ``enhance`` verb."""
    p = sub.add_parser(
        "enhance", help="motion-correct and super-resolve a short-axis segmentation (latent optimisation)"
    )
    p.add_argument(
        "--sa",
        required=True,
        nargs="+",
        help="short-axis label map (.nii.gz); a 4D file (x, y, z, t) or several 3D files (frames in order) is a cine",
    )
    p.add_argument(
        "--la",
        action="append",
        default=[],
        help="long-axis label map in the same world space (repeatable); with a cine a 4D view gives every frame its "
        "own, a single-frame view is used at --la-frame",
    )
    p.add_argument(
        "--la-frame",
        type=int,
        metavar="T",
        help="cine only: the frame a single-frame long-axis view belongs to (default: the ED frame, the largest LV, "
        "unless another frame agrees with the view clearly better)",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    add_settings_options(p)
    p.add_argument(
        "--la-eval",
        action="append",
        default=[],
        help="long-axis label map to evaluate the result on, not used in the loss (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_labels(p, reads=True)
    p.set_defaults(func=_cmd_enhance)


def _cmd_enhance(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cardiosr.output_folder import locked
    from cardiosr.pipeline.enhancer import Enhancer

    check_output_folder(args.output)
    settings = enhance_settings(args)
    bar = tqdm(total=None, desc="latent optimisation", unit="it", disable=True if args.quiet else None, file=sys.stderr)

    def progress(i: int, n: int) -> None:
        bar.total = n
        bar.update(i - bar.n)

    cine = _read_cine(args, settings)
    with locked(args.output):  # a second run into the same folder is refused at once
        try:
            if cine is not None:
                cycle = Enhancer(settings).run_cycle(
                    cine, args.la or None, la_frame=args.la_frame, frames=settings.frames, progress=progress
                )
            else:
                result = Enhancer(settings).run(
                    args.sa[0], la=args.la or None, la_eval=args.la_eval or None, progress=progress
                )
        finally:
            bar.close()
        if cine is not None:
            return _report_cycle(cycle, args.output, settings)
        paths = result.save(args.output, figure=settings.figure, mesh=settings.mesh)
        opt = result.optimisation
        how = (
            f"{opt.iterations['latent']} + {opt.iterations['refine']} iterations"
            if result.method == "lo"
            else f"method {result.method} (no motion correction)"
        )
        print(
            f"{paths['sr']}: {result.sr.shape[0]}x{result.sr.shape[1]}x{result.sr.shape[2]} at "
            f"{'x'.join(f'{s:.2f}' for s in result.sr.spacing)} mm; {how} in {result.seconds:.1f} s; "
            f"final loss {opt.final['total']:.4f}"
            + ("; QC FLAG: " + "; ".join(result.qc["reasons"]) if result.qc["flag"] else "")
        )
        for item in result.la_evaluation:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in item["dice"].items())
            used = "used in the loss" if item["used_in_optimisation"] else "evaluation only"
            print(f"long-axis Dice against {item['path']} ({used}): {scores}")
        return 0


def _read_cine(args: argparse.Namespace, settings: Any) -> Any:
    """The cine of ``--sa`` (several files, or one 4D file with more than one frame), else ``None``."""
    from cardiosr.errors import InputError
    from cardiosr.frames import count_frames, load_frames

    if len(args.sa) == 1 and count_frames(args.sa[0]) == 1:
        if settings.frames is not None:
            raise InputError("--frames needs a cine: a 4D --sa file or several --sa files")
        return None
    if args.la_eval:
        raise InputError("--la-eval with a cine is not supported: give the view as --la, or enhance one frame")
    return load_frames(args.sa, settings.convention, settings.slice_axis, settings.ignore_labels)


def _report_cycle(cycle: Any, output: str, settings: Any) -> int:
    paths = cycle.save(output, figure=settings.figure, mesh=settings.mesh)
    summary, first = cycle.summary(), cycle.frames[0]
    c, qc = summary["cycle"], summary["qc"]
    flagged = [q["frame"] for q in qc["frames"] if q["flag"]]
    print(
        f"{paths['sr']}: {len(cycle.frames)} of {cycle.n_frames} frames of "
        f"{'x'.join(str(n) for n in first.sr.shape)} at {'x'.join(f'{s:.2f}' for s in first.sr.spacing)} mm "
        f"in {cycle.seconds:.1f} s; "
        + (
            f"EF not computed: {c['not_computed']}"
            if c.get("not_computed")
            else f"ED frame {c['ED_frame']}, ES frame {c['ES_frame']}, LV EF {c['EF_LV']} %, "
            f"RV EF {c['EF_RV']} %, LV SV {c['SV_LV_ml']} mL"
        )
        + (f"; QC FLAG on frames {flagged}" if flagged else "")
        + ("; QC FLAG: " + "; ".join(qc["reasons"]) if qc["reasons"] else "")
    )
    return 0


def add_batch_verb(sub: Any) -> None:
    """The ``batch`` verb."""
    p = sub.add_parser(
        "batch", help="enhance every case of a folder (CASE_sa.nii.gz or CASE_sa_frameNN.nii.gz [+ CASE_la*.nii.gz])"
    )
    p.add_argument(
        "-i",
        "--input",
        required=True,
        help="input folder: CASE_sa.nii.gz (3D or 4D) or a cine's frames CASE_sa_frameNN.nii.gz, optional "
        "CASE_la[_VIEW].nii.gz",
    )
    p.add_argument("-o", "--output", required=True, help="output folder: one sub-folder per case, cohort.csv")
    p.add_argument("--continue", dest="resume", action="store_true", help="skip cases whose outputs are complete")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--num-parts", type=int, default=1, help="split the cases into this many parts (default 1)")
    p.add_argument("--part-id", type=int, default=0, help="which part this run processes (0-based, default 0)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="local processes (default) or Ray")
    p.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray instance)")
    p.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray CPUs per case (default 1)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="Ray GPUs per case (default 0)")
    add_settings_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_labels(p, reads=True)
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from cardiosr.batch import run_batch

    check_output_folder(args.output)
    settings = enhance_settings(args)  # checked once, before any case runs; run_batch loads the models once
    report = run_batch(
        args.input,
        args.output,
        settings,
        resume=args.resume,
        workers=args.workers,
        num_parts=args.num_parts,
        part_id=args.part_id,
        backend=args.backend,
        address=args.address,
        cpus_per_task=args.cpus_per_task,
        gpus_per_task=args.gpus_per_task,
        progress=not args.quiet,
    )
    counts = report.counts
    print(
        f"{args.output}: {counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped (finished before), "
        f"{counts.get('failed', 0)} failed ({report.failures_csv.name}) in {report.seconds:.1f} s; "
        f"cohort table {report.cohort_csv}"
    )
    return 3 if counts.get("failed") else 0


def add_report_verb(sub: Any) -> None:
    """The ``report`` verb."""
    p = sub.add_parser("report", help="write a static report.html of a batch output folder")
    p.add_argument("output_dir", metavar="OUTDIR", help="the -o folder of 'cardiosr batch'")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from cardiosr.report import write_report

    print(write_report(args.output_dir))
    return 0
