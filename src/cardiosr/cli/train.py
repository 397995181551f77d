"""Verbs that train or sample models: ``train-prior``, ``train-edsr``, ``sample-prior``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cardiosr.cli.options import add_labels
from cardiosr.errors import InputError
from cardiosr.version import __version__


def add_train_prior_verb(sub: Any) -> None:
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
    p.add_argument(
        "--no-mesh-bend",
        action="store_true",
        help="keep the --meshes shapes' smooth in-plane displacement the same on every slice (no bent long axis)",
    )
    p.add_argument(
        "--stacks",
        metavar="DIR",
        help="learn the decoder from the short-axis stacks in DIR alone (auto-decoder through Eq. 1; see README)",
    )
    p.add_argument("--glob", default="*.nii*", help="with --stacks: which files are stacks (default '*.nii*')")
    p.add_argument(
        "--init",
        default="default",
        metavar="PRIOR",
        help="with --stacks: the prior to start from: default (fine-tuning), a file/folder, srheart:PATH, or none",
    )
    p.add_argument("--copies", type=int, metavar="K", help="with --stacks: augmented copies per stack (default 2)")
    p.add_argument(
        "--fit-steps",
        type=int,
        metavar="N",
        help="with --stacks: steps fitting the codes to the starting decoder before training (default 30)",
    )
    p.add_argument(
        "--val-steps",
        type=int,
        metavar="N",
        help="with --stacks: steps fitting each held-out stack in the validation (default 40)",
    )
    p.add_argument("--data-licence", default="", metavar="TEXT", help="the training data's licence, for the model card")
    p.add_argument("-o", "--output", required=True, help="output folder (prior.safetensors, last.pt, history.json)")
    p.add_argument("--model", default="vae", choices=("vae", "dcgan"), help="architecture (default vae)")
    stack_defaults = _stack_defaults()
    p.add_argument(
        "--epochs", type=int, help=f"epochs (default {defaults.epochs}; with --stacks {stack_defaults.epochs})"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"batch size (default {defaults.batch_size}; paper 16; with --stacks {stack_defaults.batch_size})",
    )
    p.add_argument(
        "--lr",
        type=float,
        help=f"peak Adam learning rate (default {defaults.lr:g}; paper 1e-4; with --stacks {stack_defaults.lr:g})",
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
    p.add_argument(
        "--max-tilt",
        type=float,
        default=defaults.max_tilt_deg,
        metavar="DEG",
        help=f"radius of the disc of extra long-axis tilts, degrees (default {defaults.max_tilt_deg:g}; 0 is none)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda (default auto)")
    p.add_argument("--workers", type=int, help="processes making phantoms (default: all cores)")
    p.add_argument("--resume", "--continue", action="store_true", help="continue from OUTPUT/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--record-command", help=argparse.SUPPRESS)
    add_labels(p, reads=True)
    p.set_defaults(func=_cmd_train_prior)


def _cmd_train_prior(args: argparse.Namespace) -> int:
    from cardiosr.device import resolve_device
    from cardiosr.prior.train import TrainConfig, folder_training_data, phantom_training_data, train_prior

    resolve_device(args.device)  # before spending minutes on the data
    defaults = _stack_defaults() if args.stacks is not None else _train_defaults()
    for name in ("epochs", "batch_size", "lr"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    if args.stacks is not None:
        return _train_prior_on_stacks(args)
    stack_only = [
        flag
        for flag, value, default in (
            ("--glob", args.glob, "*.nii*"),
            ("--init", args.init, "default"),
            ("--copies", args.copies, None),
            ("--fit-steps", args.fit_steps, None),
            ("--val-steps", args.val_steps, None),
            ("--data-licence", args.data_licence, ""),
        )
        if value != default
    ]
    if stack_only:
        raise InputError(f"{', '.join(stack_only)} only apply to --stacks")

    for name in ("epochs", "batch_size", "latent_dim", "width", "levels"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    if args.phantoms is not None and args.phantoms < 2:
        raise InputError(f"--phantoms must be at least 2 (got {args.phantoms})")
    if args.phantoms is None and args.input is None and args.meshes is None:
        raise InputError("give the training data: --phantoms N, -i DIR and/or --meshes DIR, or --stacks DIR")
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
        max_tilt_deg=args.max_tilt,
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
            mesh_training_data(
                args.mesh_shapes,
                args.meshes,
                seed=args.seed,
                workers=args.workers,
                progress=progress,
                bend=not args.no_mesh_bend,
            )
        )
        descriptions.append(
            f"{args.mesh_shapes} augmented shapes (seed {args.seed}) of the real hearts in {args.meshes}: "
            + "; ".join(SOURCES.values())
            + ("; no bent long axis" if args.no_mesh_bend else "")
        )
    data = parts[0] if len(parts) == 1 else __import__("numpy").concatenate(parts)
    description = " + ".join(descriptions)
    _, meta = train_prior(data, args.output, config, description, resume=args.resume, progress=progress)
    dice = (meta.get("metrics") or {}).get("val_dice")
    summary = "" if not dice else " (validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in dice.items()) + ")"
    print(f"prior written to {Path(args.output) / 'prior.safetensors'}{summary}")
    return 0


def _train_prior_on_stacks(args: argparse.Namespace) -> int:
    from cardiosr.batch import find_stacks
    from cardiosr.optimise.stack_prior import load_training_stacks, train_prior_on_stacks
    from cardiosr.prior import load_prior
    from cardiosr.prior.config import StackTrainConfig
    from cardiosr.prior.metadata import make_metadata
    from cardiosr.prior.networks import build_model

    if args.phantoms is not None or args.input is not None or args.meshes is not None:
        raise InputError("--stacks trains on stacks alone: leave out --phantoms, -i and --meshes")
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    base = _stack_defaults()
    for name, least in (("copies", 1), ("fit_steps", 0), ("val_steps", 1)):
        value = getattr(args, name)
        if value is None:
            setattr(args, name, getattr(base, name))
        elif value < least:
            raise InputError(f"--{name.replace('_', '-')} must be at least {least} (got {value})")
    files = find_stacks(args.stacks, args.glob)
    if args.init == "none":
        sizes = {k: getattr(args, k) for k in ("latent_dim", "width", "levels", "max_channels")}
        prior = build_model(args.model, sizes)
        init_meta = make_metadata(prior, args.model, beta=args.beta)
    else:
        prior, init_meta = load_prior(args.init)
    stacks = load_training_stacks(
        files, args.labels, slice_axis=args.slice_axis, ignore_labels=args.ignore_labels, progress=not args.quiet
    )
    command = "cardiosr " + " ".join(args.argv) if args.record_command is None else args.record_command
    config = StackTrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        copies=args.copies,
        fit_steps=args.fit_steps,
        val_steps=args.val_steps,
        seed=args.seed,
        val_fraction=args.val_fraction,
        device=args.device,
        extra={"command": command, "init": args.init},
    )
    description = f"{len(stacks)} short-axis stacks from {len(files)} files in {args.stacks} ({args.labels} labels)"
    _, meta = train_prior_on_stacks(
        stacks,
        prior,
        init_meta,
        args.output,
        config,
        data_description=description,
        data_licence=args.data_licence,
        resume=args.resume,
        progress=not args.quiet,
    )
    dice = (meta.get("metrics") or {}).get("val_drop_slice_dice")
    summary = (
        "" if not dice else " (held-out drop-slice Dice " + ", ".join(f"{k} {v:.3f}" for k, v in dice.items()) + ")"
    )
    print(f"prior written to {Path(args.output) / 'prior.safetensors'}{summary}")
    return 0


def add_train_edsr_verb(sub: Any) -> None:
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
    add_labels(p, reads=True)
    p.set_defaults(func=_cmd_train_edsr)


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


def add_sample_prior_verb(sub: Any) -> None:
    """The ``sample-prior`` verb."""
    p = sub.add_parser("sample-prior", help="decode random latents of a prior to label maps and a PNG")
    p.add_argument("--prior", default="default", help="default, a .safetensors/folder, or srheart:PATH")
    p.add_argument("-n", type=int, default=8, help="number of samples (default 8)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="std of the latents (default 1; 0 = z=0)")
    add_labels(p)
    p.set_defaults(func=_cmd_sample_prior)


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


def _train_defaults():  # noqa: ANN202 - imported lazily to keep `cardiosr --help` fast
    from cardiosr.prior.config import TrainConfig

    return TrainConfig()


def _stack_defaults():  # noqa: ANN202 - imported lazily to keep `cardiosr --help` fast
    from cardiosr.prior.config import StackTrainConfig

    return StackTrainConfig()
