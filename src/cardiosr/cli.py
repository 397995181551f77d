"""Command-line interface: one verb per stage, thin wrappers around the library.

Exit codes: 0 success, 2 a problem with the input or options (one line on stderr, no traceback, no
partial output), 3 a batch finished with failed cases, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM);
an interrupted or terminated run cleans up its staging files first.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cardiosr.errors import InputError
from cardiosr.labels import AUTO_CONVENTION, CONVENTIONS, DEFAULT_CONVENTION, parse_ignore_labels
from cardiosr.version import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (argparse's own code too)
        self.exit(2, f"cardiosr: error: {message} (see '{self.prog} --help')\n")


def _add_labels(p: argparse.ArgumentParser, reads: bool = False, auto: bool = True) -> None:
    """``--labels``; for verbs that read label maps also ``--slice-axis``, ``--ignore-labels`` and (unless the
    verb writes files in ``--labels``) ``--labels auto``."""
    auto = reads and auto
    choices = sorted(CONVENTIONS) + ([AUTO_CONVENTION] if auto else [])
    p.add_argument(
        "--labels",
        default=DEFAULT_CONVENTION,
        choices=choices,
        help=f"label convention of the files (default: {DEFAULT_CONVENTION}: 1 LV, 2 MYO, 4 RV)"
        + ("; auto: choose from the anatomy" if auto else ""),
    )
    if reads:
        p.add_argument(
            "--slice-axis", type=int, choices=(0, 1, 2), help="on-disk slice axis of the input maps (default: choose)"
        )
        p.add_argument(
            "--ignore-labels",
            type=parse_ignore_labels,
            default=(),
            metavar="V,V",
            help="label values read as background in every input, e.g. 4,5 (atria of UK Biobank long-axis views)",
        )


def _cmd_demo(args: argparse.Namespace) -> int:
    from cardiosr.demo import run_demo

    result = run_demo(args.output, seed=args.seed, motion=args.motion)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in result.dice.items())
    scores_sr = ", ".join(f"{k} {v:.3f}" for k, v in result.dice_sr.items())
    print(f"phantom: {result.hr}\nclinical-style stack: {result.lr}\ninterpolated back: {result.upsampled}")
    print(f"cardiosr enhance: {result.sr} ({result.seconds:.1f} s)\nfigure: {result.figure}")
    print(f"Dice against the phantom, interpolated: {scores}\nDice against the phantom, enhanced: {scores_sr}")
    return 0


def _cmd_phantoms(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from cardiosr.io import save_labels, write_csv
    from cardiosr.phantom import generate_phantom, parameters_row

    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    out = Path(args.output)
    children = np.random.SeedSequence(args.seed).spawn(args.n)
    rows = []
    for i in tqdm(range(args.n), desc="phantoms", unit="case", disable=None, file=sys.stderr):
        vol, params = generate_phantom(children[i])
        params.seed = args.seed
        name = f"phantom_{i:04d}"
        save_labels(vol, out / f"{name}.nii.gz", convention=args.labels)
        rows.append({"case": name, "index": i, **parameters_row(params)})
    write_csv(out / "phantoms.csv", rows)
    print(f"wrote {args.n} phantoms and phantoms.csv to {out}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cardiosr.simulate import case_rng, iter_hr_sources, motion_scale, simulate_case, write_case

    scale = motion_scale(args.motion, args.motion_scale)
    pattern = None if args.motion_scale is not None else args.motion
    if args.factor < 1:
        raise InputError(f"--factor must be at least 1, got {args.factor}")
    if not 0.0 <= args.error_rate <= 1.0:
        raise InputError(f"--error-rate must be in [0, 1], got {args.error_rate}")
    out = Path(args.output)
    sources = iter_hr_sources(
        args.phantoms, args.hr, args.labels, args.seed, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels
    )
    count = 0
    for index, (name, hr) in enumerate(
        tqdm(sources, total=args.phantoms, desc="simulate", unit="case", disable=None, file=sys.stderr)
    ):
        case = simulate_case(name, hr, scale, case_rng(args.seed, index), args.factor, args.error_rate, pattern)
        write_case(case, out, args.labels, args.seed)
        if args.figures and index == 0:
            from cardiosr.figures import save_simulation_figure

            save_simulation_figure(case.hr, case.lr, case.shifts_mm, out / f"{name}_figure.png")
        count += 1
    print(f"wrote {count} simulated cases (motion x{scale:g}, factor {args.factor}) to {out}")
    return 0


def _cmd_canonical(args: argparse.Namespace) -> int:
    from cardiosr.geometry import from_canonical, to_canonical
    from cardiosr.io import load_labels, save_labels

    vol = load_labels(args.input, args.labels, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels)
    canon, frame = to_canonical(vol)
    save_labels(canon, args.output)
    print(
        f"canonical grid: {args.output} (apex-to-base reversed: {frame.flipped}, "
        f"in-plane rotation {frame.rotation_deg:.1f} deg)"
    )
    if args.back:
        save_labels(from_canonical(canon.array, frame, vol), args.back)
        print(f"back in the input's world frame at 2x1.25x1.25 mm: {args.back}")
    return 0


def _cmd_train_prior(args: argparse.Namespace) -> int:
    from cardiosr.device import resolve_device
    from cardiosr.prior.train import TrainConfig, folder_training_data, phantom_training_data, train_prior

    resolve_device(args.device)  # before spending minutes on the data

    for name in ("epochs", "batch_size", "latent_dim", "width", "levels"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    if args.phantoms is not None and args.phantoms < 2:
        raise InputError(f"--phantoms must be at least 2 (got {args.phantoms})")
    if args.phantoms is None and args.input is None and args.meshes is None:
        raise InputError("give the training data: --phantoms N, -i DIR and/or --meshes DIR")
    if args.meshes is not None and args.mesh_shapes < 2:
        raise InputError(f"--mesh-shapes must be at least 2 (got {args.mesh_shapes})")
    command = "cardiosr " + " ".join(args.argv) if args.record_command is None else args.record_command
    config = TrainConfig(
        architecture=args.model,
        latent_dim=args.latent_dim,
        width=args.width,
        levels=args.levels,
        max_channels=args.max_channels,
        beta=args.beta,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        val_fraction=args.val_fraction,
        augment=not args.no_augment,
        mirror_probability=args.mirror,
        device=args.device,
        extra={"command": command},
    )
    progress = not args.quiet
    parts, descriptions = [], []
    if args.phantoms is not None:
        parts.append(phantom_training_data(args.phantoms, seed=args.seed, workers=args.workers, progress=progress))
        descriptions.append(f"{args.phantoms} cardiosr phantoms (cohort seed {args.seed}, cardiosr {__version__})")
    if args.input is not None:
        parts.append(
            folder_training_data(
                args.input, args.labels, progress=progress, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels
            )
        )
        descriptions.append(f"{len(parts[-1])} label maps from {args.input} ({args.labels} labels)")
    if args.meshes is not None:
        from cardiosr.mesh_hearts import SOURCES, mesh_training_data

        parts.append(
            mesh_training_data(args.mesh_shapes, args.meshes, seed=args.seed, workers=args.workers, progress=progress)
        )
        descriptions.append(
            f"{args.mesh_shapes} augmented shapes (seed {args.seed}) of the real hearts in {args.meshes}: "
            + "; ".join(SOURCES.values())
        )
    data = parts[0] if len(parts) == 1 else __import__("numpy").concatenate(parts)
    description = " + ".join(descriptions)
    _, meta = train_prior(data, args.output, config, description, resume=args.resume, progress=progress)
    dice = (meta.get("metrics") or {}).get("val_dice")
    summary = "" if not dice else " (validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in dice.items()) + ")"
    print(f"prior written to {Path(args.output) / 'prior.safetensors'}{summary}")
    return 0


def _cmd_sample_prior(args: argparse.Namespace) -> int:
    from cardiosr.figures import save_orthogonal_views
    from cardiosr.io import save_labels
    from cardiosr.prior import load_prior
    from cardiosr.prior.sample import sample_prior

    if args.n < 1:
        raise InputError(f"-n must be at least 1 (got {args.n})")
    prior, meta = load_prior(args.prior)
    samples = sample_prior(prior, args.n, seed=args.seed, temperature=args.temperature)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for i, vol in enumerate(samples):
        save_labels(vol, out / f"sample_{i:03d}.nii.gz", convention=args.labels)
    titles = [f"sample {i}" for i in range(len(samples))]
    save_orthogonal_views(
        samples, titles, out / "samples.png", suptitle=f"{meta['architecture']} prior, T={args.temperature}"
    )
    print(f"{len(samples)} samples and samples.png written to {out}")
    return 0


def _check_output_folder(path: str) -> None:
    """Refuse an unwritable output folder before any work (:func:`cardiosr.output_folder.check_writable`)."""
    from cardiosr.output_folder import check_writable

    check_writable(path)


def _cmd_enhance(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cardiosr.output_folder import locked
    from cardiosr.pipeline.enhancer import Enhancer

    _check_output_folder(args.output)
    settings = _settings(args)
    bar = tqdm(total=None, desc="latent optimisation", unit="it", disable=True if args.quiet else None, file=sys.stderr)

    def progress(i: int, n: int) -> None:
        bar.total = n
        bar.update(i - bar.n)

    with locked(args.output):  # a second run into the same folder is refused at once
        try:
            result = Enhancer(settings).run(
                args.sa, la=args.la or None, la_eval=args.la_eval or None, progress=progress
            )
        finally:
            bar.close()
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


def _cmd_batch(args: argparse.Namespace) -> int:
    from cardiosr.batch import run_batch

    _check_output_folder(args.output)
    settings = _settings(args)  # checked once, before any case runs; run_batch loads the models once
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


def _cmd_report(args: argparse.Namespace) -> int:
    from cardiosr.report import write_report

    print(write_report(args.output_dir))
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from cardiosr.benchmark import QUICK, BenchmarkConfig, run_benchmark

    if args.tables_only:
        from cardiosr.benchmark import rebuild_tables

        paths = rebuild_tables(args.output)
        print(Path(paths["table_s1_md"]).read_text() + "\n" + Path(paths["table_2_md"]).read_text(), end="")
        return 0
    preset = QUICK if args.quick else {}
    phantoms = args.phantoms if args.phantoms is not None else (None if args.hr else preset.get("phantoms"))
    if phantoms is None and args.hr is None:
        raise InputError("give --phantoms N, --hr DIR or --quick")
    from cardiosr.optimise.options import OptimiseOptions

    lo = OptimiseOptions() if args.max_iterations is None else OptimiseOptions(max_iterations=args.max_iterations)
    config = BenchmarkConfig(
        phantoms=phantoms,
        hr_dir=args.hr,
        train=args.train if args.train is not None else preset.get("train"),
        test=args.test,
        patterns=tuple(args.patterns),
        edsr_steps=args.edsr_steps if args.edsr_steps is not None else preset.get("edsr_steps", 1000),
        lo=lo,
        prior=None if args.prior == "default" else args.prior,
        seed=args.seed,
        labels=args.labels,
        slice_axis=args.slice_axis,
        ignore_labels=args.ignore_labels,
        workers=args.workers,
    )

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    paths = run_benchmark(config, args.output, log=log, progress=not args.quiet)
    print(Path(paths["table_s1_md"]).read_text(), end="")
    print()
    print(Path(paths["table_2_md"]).read_text(), end="")
    print(f"written to {args.output}: " + ", ".join(sorted(Path(p).name for p in paths.values())))
    return 0


def _cmd_train_edsr(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from cardiosr.device import resolve_device
    from cardiosr.edsr import EDSR_FILE, EDSRTrainConfig, train_edsr
    from cardiosr.phantom import phantom_world_affine
    from cardiosr.prior.train import folder_training_data, phantom_training_data
    from cardiosr.simulate import motion_scale

    scale = motion_scale(args.motion, args.motion_scale)
    if args.steps < 1:
        raise InputError(f"--steps must be at least 1, got {args.steps}")
    if args.phantoms is not None:
        if args.phantoms < 1:
            raise InputError(f"--phantoms must be at least 1, got {args.phantoms}")
        data = phantom_training_data(args.phantoms, seed=args.seed, progress=not args.quiet)
        affine, source = phantom_world_affine(), f"{args.phantoms} phantoms (seed {args.seed})"
    else:
        data = folder_training_data(
            args.input,
            args.labels,
            progress=not args.quiet,
            slice_axis=args.slice_axis,
            ignore_labels=args.ignore_labels,
        )
        from cardiosr.geometry import CANONICAL_SPACING

        affine, source = np.diag([*CANONICAL_SPACING, 1.0]), str(args.input)
    config = EDSRTrainConfig(
        motion_scale=scale,
        factor=args.factor,
        n_feats=args.n_feats,
        n_blocks=args.n_blocks,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    bar = tqdm(
        total=args.steps, desc=f"EDSR ({args.motion or scale})", unit="step", disable=True if args.quiet else None
    )

    def progress(step: int, steps: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    try:
        _, history = train_edsr(
            data,
            affine,
            config,
            output=args.output,
            device=resolve_device(args.device),
            progress=progress,
            extra_metadata={"data": source, "motion_pattern": args.motion if args.motion_scale is None else None},
        )
    finally:
        bar.close()
    print(f"{Path(args.output) / EDSR_FILE}: {args.steps} steps, final loss {history[-1]['loss']:.4f}")
    return 0


def _add_settings_options(p: argparse.ArgumentParser) -> None:
    """The options of ``enhance`` and ``batch``, generated from :class:`~cardiosr.pipeline.settings.EnhanceSettings`
    and :class:`~cardiosr.optimise.options.OptimiseOptions` (flag, default and help of each field)."""
    from cardiosr.optimise.options import OptimiseOptions
    from cardiosr.option_fields import cli_fields
    from cardiosr.pipeline.settings import EnhanceSettings

    for cls in (EnhanceSettings, OptimiseOptions):
        for f in cli_fields(cls):
            cli, name = f.metadata["cli"], f.name.replace("_", "-")
            if isinstance(f.default, bool):
                flag = cli["flag"] or (f"--no-{name}" if f.default else f"--{name}")
                p.add_argument(flag, dest=f.name, action="store_false" if f.default else "store_true", help=cli["help"])
                continue
            p.add_argument(
                cli["flag"] or f"--{name}",
                dest=f.name,
                type=cli["kind"] or type(f.default),
                default=f.default,
                choices=cli["choices"],
                metavar=cli["metavar"],
                help=cli["help"],
            )
            if cli["off"]:
                p.add_argument(cli["off"], dest=f.name, action="store_const", const=None, help=cli["off_help"])


def _settings(args: argparse.Namespace) -> Any:
    """The :class:`~cardiosr.pipeline.settings.EnhanceSettings` of parsed ``enhance``/``batch`` arguments."""
    from cardiosr.optimise.options import OptimiseOptions
    from cardiosr.option_fields import cli_fields
    from cardiosr.pipeline.settings import EnhanceSettings

    values = {f.name: getattr(args, f.name) for cls in (EnhanceSettings, OptimiseOptions) for f in cli_fields(cls)}
    return EnhanceSettings.from_keywords(
        **values, convention=args.labels, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cardiosr`` command."""
    parser = _Parser(prog="cardiosr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"cardiosr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_demo_verb(sub)
    _add_phantoms_verb(sub)
    _add_simulate_verb(sub)
    _add_canonical_verb(sub)
    _add_enhance_verb(sub)
    _add_batch_verb(sub)
    _add_train_prior_verb(sub)
    _add_report_verb(sub)
    _add_benchmark_verb(sub)
    _add_train_edsr_verb(sub)
    _add_sample_prior_verb(sub)
    return parser


def _add_demo_verb(sub: Any) -> None:
    """The ``demo`` verb."""
    p = sub.add_parser("demo", help="run the built-in demo on a phantom (no data needed)")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default: 0)")
    p.add_argument("--motion", default="normal", choices=("none", "normal", "severe"), help="motion (default normal)")
    p.set_defaults(func=_cmd_demo)


def _add_phantoms_verb(sub: Any) -> None:
    """The ``phantoms`` verb."""
    p = sub.add_parser("phantoms", help="write a seeded cohort of anatomical phantoms")
    p.add_argument("-n", type=int, required=True, help="number of phantoms")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="cohort seed (default: 0)")
    _add_labels(p)
    p.set_defaults(func=_cmd_phantoms)


def _add_simulate_verb(sub: Any) -> None:
    """The ``simulate`` verb."""
    p = sub.add_parser("simulate", help="simulate clinical stacks with known motion from HR label maps")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--phantoms", type=int, metavar="N", help="simulate from N phantoms")
    src.add_argument("--hr", metavar="DIR", help="simulate from the HR label maps (.nii.gz) in DIR")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--motion",
        default="normal",
        choices=("none", "normal", "severe"),
        help="motion pattern (paper 3.2): none, normal (2.3±0.87 mm), severe (4x normal); default normal",
    )
    p.add_argument("--motion-scale", type=float, help="any other multiple of the normal amplitude (overrides --motion)")
    p.add_argument("--factor", type=int, default=5, help="down-sampling factor along the slice axis (default 5)")
    p.add_argument("--error-rate", type=float, default=0.0, help="rate of segmentation errors ε (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of phantoms, motion and errors (default 0)")
    p.add_argument("--figures", action="store_true", help="also write CASE_figure.png for the first case")
    _add_labels(p, reads=True, auto=False)
    p.set_defaults(func=_cmd_simulate)


def _add_canonical_verb(sub: Any) -> None:
    """The ``canonical`` verb."""
    p = sub.add_parser("canonical", help="map a short-axis label map onto the prior's canonical grid")
    p.add_argument("-i", "--input", required=True, help="short-axis label map (.nii.gz)")
    p.add_argument("-o", "--output", required=True, help="canonical label map to write (.nii.gz)")
    p.add_argument("--back", help="also write the canonical map mapped back to the input's world frame")
    _add_labels(p, reads=True)
    p.set_defaults(func=_cmd_canonical)


def _add_enhance_verb(sub: Any) -> None:
    """The ``enhance`` verb."""
    p = sub.add_parser(
        "enhance", help="motion-correct and super-resolve a short-axis segmentation (latent optimisation)"
    )
    p.add_argument("--sa", required=True, help="short-axis label map (.nii.gz)")
    p.add_argument("--la", action="append", default=[], help="long-axis label map in the same world space (repeatable)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    _add_settings_options(p)
    p.add_argument(
        "--la-eval",
        action="append",
        default=[],
        help="long-axis label map to evaluate the result on, not used in the loss (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_labels(p, reads=True)
    p.set_defaults(func=_cmd_enhance)


def _add_batch_verb(sub: Any) -> None:
    """The ``batch`` verb."""
    p = sub.add_parser("batch", help="enhance every case of a folder (CASE_sa.nii.gz [+ CASE_la*.nii.gz])")
    p.add_argument("-i", "--input", required=True, help="input folder: CASE_sa.nii.gz, optional CASE_la[_VIEW].nii.gz")
    p.add_argument("-o", "--output", required=True, help="output folder: one sub-folder per case, cohort.csv")
    p.add_argument("--continue", dest="resume", action="store_true", help="skip cases whose outputs are complete")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--num-parts", type=int, default=1, help="split the cases into this many parts (default 1)")
    p.add_argument("--part-id", type=int, default=0, help="which part this run processes (0-based, default 0)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="local processes (default) or Ray")
    p.add_argument("--address", help="Ray cluster address HOST:PORT (default: start a local Ray instance)")
    p.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray CPUs per case (default 1)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="Ray GPUs per case (default 0)")
    _add_settings_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_labels(p, reads=True)
    p.set_defaults(func=_cmd_batch)


def _add_train_prior_verb(sub: Any) -> None:
    """The ``train-prior`` verb."""
    defaults = _train_defaults()
    p = sub.add_parser("train-prior", help="train a shape prior (β-VAE or DCGAN) on HR label maps or phantoms")
    p.add_argument("--phantoms", type=int, metavar="N", help="train on N generated phantoms")
    p.add_argument("-i", "--input", metavar="DIR", help="train on the HR label maps (.nii.gz) in DIR")
    p.add_argument(
        "--meshes",
        metavar="DIR",
        help="train on shapes made from the shareable real-heart meshes in DIR (rodero-01/, bivme-patient1/)",
    )
    p.add_argument(
        "--mesh-shapes",
        type=int,
        default=250,
        metavar="N",
        help="how many augmented shapes to make from --meshes (default 250)",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (prior.safetensors, last.pt, history.json)")
    p.add_argument("--model", default="vae", choices=("vae", "dcgan"), help="architecture (default vae)")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"epochs (default {defaults.epochs})")
    p.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"batch size (default {defaults.batch_size}; paper 16)",
    )
    p.add_argument(
        "--lr", type=float, default=defaults.lr, help=f"peak Adam learning rate (default {defaults.lr:g}; paper 1e-4)"
    )
    p.add_argument("--latent-dim", type=int, default=defaults.latent_dim, help="latent dimension M (default 64)")
    p.add_argument("--width", type=int, default=defaults.width, help="channels of the first level (default 8)")
    p.add_argument("--levels", type=int, default=defaults.levels, help="stride-2 levels (default 5)")
    p.add_argument("--max-channels", type=int, default=defaults.max_channels, help="channel cap (default 64)")
    p.add_argument("--beta", type=float, default=defaults.beta, help="β of the KL term (default 0.001)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, split, initialisation (default 0)")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction, help="validation share (default 0.1)")
    p.add_argument("--no-augment", action="store_true", help="no in-plane rotation/scaling augmentation")
    p.add_argument("--mirror", type=float, default=0.0, metavar="P", help="probability of the handedness mirror (0)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda (default auto)")
    p.add_argument("--workers", type=int, help="processes making phantoms (default: all cores)")
    p.add_argument("--resume", "--continue", action="store_true", help="continue from OUTPUT/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--record-command", help=argparse.SUPPRESS)
    _add_labels(p, reads=True)
    p.set_defaults(func=_cmd_train_prior)


def _add_report_verb(sub: Any) -> None:
    """The ``report`` verb."""
    p = sub.add_parser("report", help="write a static report.html of a batch output folder")
    p.add_argument("output_dir", metavar="OUTDIR", help="the -o folder of 'cardiosr batch'")
    p.set_defaults(func=_cmd_report)


def _add_benchmark_verb(sub: Any) -> None:
    """The ``benchmark`` verb."""
    p = sub.add_parser("benchmark", help="reproduce the paper's simulated tables (S1, 2) and Fig. 3 for all methods")
    p.add_argument("--phantoms", type=int, metavar="N", help="generate N phantoms (cohort --seed)")
    p.add_argument("--hr", metavar="DIR", help="use the HR label maps (.nii.gz) in DIR")
    p.add_argument("-o", "--output", required=True, help="output folder (tables, cases.csv, figure_3.png, models)")
    p.add_argument("--train", type=int, help="cases (the first ones) that train EDSR (default 80%%)")
    p.add_argument("--test", type=int, help="test cases (default: all the others)")
    p.add_argument(
        "--patterns", nargs="+", default=["none", "normal", "severe"], help="motion patterns (default: all three)"
    )
    p.add_argument("--edsr-steps", type=int, help="optimiser steps per EDSR model (default 1000)")
    p.add_argument("--max-iterations", type=int, help="iteration cap of LO's latent search (default 60)")
    p.add_argument("--prior", default="default", help="prior of LO: default, a .safetensors/folder, or srheart:PATH")
    p.add_argument("--quick", action="store_true", help="12 phantoms (8 train, 4 test), 150 EDSR steps: ~5 min")
    p.add_argument("--tables-only", action="store_true", help="rewrite the tables of OUTPUT from its cases.csv")
    p.add_argument("--seed", type=int, default=1, help="phantom cohort and motion seed (default 1; prior: 0)")
    p.add_argument("--workers", type=int, help="processes making phantoms (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_labels(p, reads=True, auto=False)
    p.set_defaults(func=_cmd_benchmark)


def _add_train_edsr_verb(sub: Any) -> None:
    """The ``train-edsr`` verb."""
    p = sub.add_parser("train-edsr", help="train the EDSR baseline on simulated LR-HR pairs of one motion pattern")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--phantoms", type=int, metavar="N", help="train on N generated phantoms")
    src.add_argument("-i", "--input", metavar="DIR", help="train on the HR label maps (.nii.gz) in DIR")
    p.add_argument("-o", "--output", required=True, help="output folder (edsr.safetensors, edsr.json, history.json)")
    p.add_argument("--motion", default="normal", choices=("none", "normal", "severe"), help="motion pattern (normal)")
    p.add_argument("--motion-scale", type=float, help="any other multiple of the normal amplitude (overrides --motion)")
    p.add_argument("--factor", type=int, default=5, help="up-sampling factor along the slice axis (default 5)")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=2, help="pairs per step (default 2)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--n-feats", type=int, default=16, help="feature channels (default 16)")
    p.add_argument("--n-blocks", type=int, default=4, help="residual blocks (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and motion (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_labels(p, reads=True)
    p.set_defaults(func=_cmd_train_edsr)


def _add_sample_prior_verb(sub: Any) -> None:
    """The ``sample-prior`` verb."""
    p = sub.add_parser("sample-prior", help="decode random latents of a prior to label maps and a PNG")
    p.add_argument("--prior", default="default", help="default, a .safetensors/folder, or srheart:PATH")
    p.add_argument("-n", type=int, default=8, help="number of samples (default 8)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="std of the latents (default 1; 0 = z=0)")
    _add_labels(p)
    p.set_defaults(func=_cmd_sample_prior)


def _train_defaults():  # noqa: ANN202 - imported lazily to keep `cardiosr --help` fast
    from cardiosr.prior.config import TrainConfig

    return TrainConfig()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"cardiosr: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cardiosr`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    previous_term = _install_sigterm()
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"cardiosr: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("cardiosr: terminated (SIGTERM); nothing partial was left behind", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cardiosr: interrupted; nothing partial was left behind", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that every clean-up that runs on Ctrl-C runs (exit 143)."""


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, even if the signal repeats
    raise Terminated


def _install_sigterm():  # noqa: ANN202
    """Treat SIGTERM like SIGINT in the main thread; returns the previous handler (``None`` elsewhere)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
