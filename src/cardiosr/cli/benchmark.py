"""The ``benchmark`` verb: the paper's simulated tables for every method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cardiosr.cli.options import add_labels, add_settings_options, enhance_settings
from cardiosr.errors import InputError

#: Settings of ``enhance`` that ``benchmark`` does not take: it runs every method, writes no per-case figure or
#: mesh, and its ``--seed`` is the cohort's (the restarts keep their default seed).
NOT_BENCHMARK_OPTIONS = ("method", "edsr", "figure", "mesh", "frames", "seed")


def add_benchmark_verb(sub: Any) -> None:
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
    p.add_argument("--quick", action="store_true", help="12 phantoms (8 train, 4 test), 150 EDSR steps: ~5 min")
    p.add_argument("--tables-only", action="store_true", help="rewrite the tables of OUTPUT from its cases.csv")
    p.add_argument("--seed", type=int, default=1, help="phantom cohort and motion seed (default 1; prior: 0)")
    p.add_argument("--workers", type=int, help="processes making phantoms (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_settings_options(p, exclude=NOT_BENCHMARK_OPTIONS)
    add_labels(p, reads=True, auto=False)
    p.set_defaults(func=_cmd_benchmark)


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
    config = BenchmarkConfig(
        phantoms=phantoms,
        hr_dir=args.hr,
        train=args.train if args.train is not None else preset.get("train"),
        test=args.test,
        patterns=tuple(args.patterns),
        edsr_steps=args.edsr_steps if args.edsr_steps is not None else preset.get("edsr_steps", 1000),
        settings=enhance_settings(args, exclude=NOT_BENCHMARK_OPTIONS),
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
