"""Verbs that make or map data: ``demo``, ``phantoms``, ``simulate``, ``canonical``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cardiosr.cli.options import add_labels
from cardiosr.errors import InputError


def add_demo_verb(sub: Any) -> None:
    """The ``demo`` verb."""
    p = sub.add_parser("demo", help="run the built-in demo on a phantom (no data needed)")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default: 0)")
    p.add_argument("--motion", default="normal", choices=("none", "normal", "severe"), help="motion (default normal)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from cardiosr.demo import run_demo

    result = run_demo(args.output, seed=args.seed, motion=args.motion)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in result.dice.items())
    scores_sr = ", ".join(f"{k} {v:.3f}" for k, v in result.dice_sr.items())
    print(f"phantom: {result.hr}\nclinical-style stack: {result.lr}\ninterpolated back: {result.upsampled}")
    print(f"cardiosr enhance: {result.sr} ({result.seconds:.1f} s)\nfigure: {result.figure}")
    print(f"Dice against the phantom, interpolated: {scores}\nDice against the phantom, enhanced: {scores_sr}")
    return 0


def add_phantoms_verb(sub: Any) -> None:
    """The ``phantoms`` verb."""
    p = sub.add_parser("phantoms", help="write a seeded cohort of anatomical phantoms")
    p.add_argument("-n", type=int, required=True, help="number of phantoms")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="cohort seed (default: 0)")
    add_labels(p)
    p.set_defaults(func=_cmd_phantoms)


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


def add_simulate_verb(sub: Any) -> None:
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
    p.add_argument(
        "--frames",
        type=int,
        metavar="T",
        help="with --phantoms: cines of T frames through one cardiac cycle, one shift per slice for all frames",
    )
    p.add_argument("--jitter", type=float, default=0.0, metavar="MM", help="with --frames: per-frame jitter (mm)")
    add_labels(p, reads=True, auto=False)
    p.set_defaults(func=_cmd_simulate)


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
    if args.frames is not None:
        return _simulate_cines(args, scale, out)
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


def _simulate_cines(args: argparse.Namespace, scale: float, out: Path) -> int:
    import numpy as np

    from cardiosr.simulate import case_rng, write_cine_case

    if args.phantoms is None:
        raise InputError("--frames needs --phantoms N (cines are animated phantoms)")
    if args.frames < 2 or args.phantoms < 1:
        raise InputError(f"--frames must be at least 2 and --phantoms at least 1, got {args.frames}, {args.phantoms}")
    for i in range(args.phantoms):
        seed = np.random.SeedSequence(args.seed, spawn_key=(i,))
        write_cine_case(
            f"cine_{i:04d}", seed, args.frames, scale, case_rng(args.seed, i), out, args.labels,
            factor=args.factor, jitter_mm=args.jitter,
        )  # fmt: skip
    print(f"wrote {args.phantoms} simulated cines of {args.frames} frames (motion x{scale:g}) to {out}")
    return 0


def add_canonical_verb(sub: Any) -> None:
    """The ``canonical`` verb."""
    p = sub.add_parser("canonical", help="map a short-axis label map onto the prior's canonical grid")
    p.add_argument("-i", "--input", required=True, help="short-axis label map (.nii.gz)")
    p.add_argument("-o", "--output", required=True, help="canonical label map to write (.nii.gz)")
    p.add_argument("--back", help="also write the canonical map mapped back to the input's world frame")
    add_labels(p, reads=True)
    p.set_defaults(func=_cmd_canonical)


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
