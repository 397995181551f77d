"""Learning a prior from thick-slice stacks alone (``train-prior --stacks``): an auto-decoder through Eq. 1.

High-resolution segmentations are rare; short-axis stacks are what every cardiology group has. Each training
stack ``i`` gets its own latent code ``z_i`` and per-slice in-plane shifts ``d_i`` (mm), and the decoder
weights θ are learnt together with them through the degradation model of Eq. 1:

    min over θ, z, d of  Σ_i  L_SA(G_θ(z_i), d_i; S_i) + γ·Σ_views L_LA(G_θ(z_i); V_i)
                              + λ·(−log p(d_i)) + w·‖z_i‖²

``L_SA`` and ``L_LA`` are Eq. 3 and 4 (:func:`~cardiosr.optimise.problem.multi_view_loss`, γ = 1 when a stack
has long-axis views), ``−log p(d)`` the motion prior of ``enhance`` (:func:`~cardiosr.optimise.losses.
motion_prior_term`) and ``w·‖z‖²`` keeps the codes where the prior's are (``w`` = β/2 of the β-VAE). No single
stack says what lies between its slices; stacks cut the anatomy at different positions, so together they do.

Conventions, in plain words:

- The decoder is trained in ``eval`` mode: batch norm keeps the running statistics of the prior it starts from
  (its scale and offset are learnt), so a step of a few stacks never normalises with their statistics.
- The codes start from the prior's encoder applied to the stacks (the warm start of ``enhance``), the shifts
  from zero. Shifts are gauge-fixed as in ``enhance`` (zero mean over heart slices without long-axis views).
- Augmentation as for HR maps: each stack has ``copies`` copies, the first as acquired, the others with their
  canonical grid rotated in-plane and scaled about its centre, each copy its own code; the copies of a stack
  share its shifts (the breath-hold offsets are the stack's, in mm).
- Only the decoder learns; the encoder is kept (it only starts ``enhance``'s search).
- Validation (every epoch): each held-out stack's odd-numbered slices are dropped, a code and shifts are fitted
  to the even ones (``val_steps`` Adam steps, decoder fixed), and the dropped slices are scored, each at its own
  best in-plane translation within ±5 mm (its breath-hold offset is unknowable): the protocol of the real-data
  benchmark, with the prior alone (no data-consistency stage, no fusion).

Why an auto-decoder and not an encoder of stacks: it needs no new network, so the checkpoint keeps the format
of every prior and ``enhance --prior OUT`` just works; and it trains the decoder the way ``enhance`` uses it,
a code fitted to a stack through Eq. 1. The encoder alternative was not measured.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cardiosr.allocator import keep_freed_memory
from cardiosr.degradation import drop_odd_slices
from cardiosr.device import resolve_device
from cardiosr.errors import InputError
from cardiosr.geometry import CanonicalFrame, canonical_frame
from cardiosr.labels import STRUCTURES
from cardiosr.metrics import dice, slicewise_shift_optimal
from cardiosr.optimise.cycle import key_frame_of
from cardiosr.optimise.init import apply_gauge, warm_start_latents
from cardiosr.optimise.losses import motion_prior_term
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.problem import Problem, make_problem, multi_view_loss
from cardiosr.prior.config import StackTrainConfig
from cardiosr.prior.metadata import canonical_placement
from cardiosr.prior.networks import VAE3D, GenerativePrior
from cardiosr.prior.train import RESUME_FILE, learning_rate, write_training_outputs
from cardiosr.volume import LabelVolume

#: Half-width (mm) of the in-plane search of each dropped slice in the validation.
VALIDATION_SEARCH_MM = 5.0
#: Config fields that must not change when resuming.
_FIXED_ON_RESUME = ("seed", "val_fraction", "copies", "max_rotation_deg", "max_scaling", "batch_size", "lr")


@dataclass
class TrainingStack:
    """One short-axis stack of the training data, with the long-axis views of its subject (may be empty)."""

    name: str
    subject: str
    sa: LabelVolume
    la: list[LabelVolume] = dataclasses.field(default_factory=list)


def subject_of(file_name: str) -> str:
    """The subject a file belongs to: its name up to the first ``_`` (``patient001_frame01_gt.nii.gz`` →
    ``patient001``), so a subject's frames stay on one side of the validation split.

    Examples
    --------
    >>> subject_of("patient001_frame12_gt.nii.gz"), subject_of("case7.nii")
    ('patient001', 'case7')
    """
    return re.split(r"_|\.nii", file_name, maxsplit=1)[0]


def split_subjects(stacks: Sequence[TrainingStack], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (train, validation) split of the stacks by subject; validation holds ``max(1, round(n·f))``
    subjects when ``val_fraction > 0`` (``[]`` when it is 0)."""
    subjects = sorted({s.subject for s in stacks})
    n_val = 0 if val_fraction <= 0 else min(len(subjects) - 1, max(1, int(round(len(subjects) * val_fraction))))
    if len(subjects) - n_val < 1 or not stacks:
        raise InputError(f"need stacks of at least {n_val + 1} subjects to train (got {len(subjects)})")
    order = np.random.default_rng([seed, 7]).permutation(len(subjects))
    held = {subjects[i] for i in order[:n_val]}
    train = [i for i, s in enumerate(stacks) if s.subject not in held]
    val = [i for i, s in enumerate(stacks) if s.subject in held]
    return train, val


def augmented_frame(frame: CanonicalFrame, rotation_deg: float, scaling: float) -> CanonicalFrame:
    """``frame`` with its grid rotated in-plane by ``rotation_deg`` (degrees) and scaled by ``1 + scaling``
    about the grid's centre (the heart's centre).

    Examples
    --------
    >>> f = CanonicalFrame(affine=np.eye(4), shape=(4, 9, 9))
    >>> g = augmented_frame(f, 90.0, 0.0)
    >>> np.round(g.affine @ [0, 4, 4, 1], 6).tolist()   # the centre stays where it is
    [0.0, 4.0, 4.0, 1.0]
    """
    a = np.deg2rad(rotation_deg)
    rot = (1.0 + scaling) * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = (np.asarray(frame.shape, float)[1:] - 1.0) / 2.0
    grid = np.eye(4)
    grid[1:3, 1:3] = rot
    grid[1:3, 3] = centre - rot @ centre
    return dataclasses.replace(frame, affine=frame.affine @ grid)


def _training_problems(
    stacks: Sequence[TrainingStack], indices: Sequence[int], config: StackTrainConfig, placement: dict[str, Any]
) -> tuple[list[Problem], list[int]]:
    """Every copy of every training stack as a :class:`Problem`, and the stack each copy belongs to."""
    rng = np.random.default_rng([config.seed, 11])
    problems, owner = [], []
    for i in indices:
        stack = stacks[i]
        frame = canonical_frame(stack.sa, **placement)
        for copy in range(config.copies):
            f = frame
            if copy:
                f = augmented_frame(
                    frame,
                    rng.uniform(-config.max_rotation_deg, config.max_rotation_deg),
                    rng.uniform(-config.max_scaling, config.max_scaling),
                )
            problems.append(make_problem(stack.sa, stack.la, frame=f))
            owner.append(i)
    return problems, owner


def _initial_codes(prior: GenerativePrior, problems: Sequence[Problem], device: torch.device) -> torch.Tensor:
    if isinstance(prior, VAE3D):
        zeros = [np.zeros((p.sa_loss.n_slices, 2)) for p in problems]
        return warm_start_latents(prior, problems, zeros, device)
    return torch.zeros(len(problems), prior.latent_dim, device=device)


def _objective(
    logits: torch.Tensor,
    d: torch.Tensor,
    z: torch.Tensor,
    problem: Problem,
    weights: tuple[float, float],
    *,
    selected: bool = False,
) -> torch.Tensor:
    """One item's training loss: Eq. 5 + λ·(−log p(d)) + w·‖z‖², ``weights = (λ, w)`` (``d`` raw, gauged here)."""
    heart = problem.sa_loss.heart_slices
    gauged = apply_gauge(d, heart, problem.zero_mean_gauge)
    fit, _ = multi_view_loss(logits, gauged, problem, selected=selected)
    return fit + weights[0] * motion_prior_term(gauged, heart) + weights[1] * z.square().sum(1)


def fit_codes(
    prior: GenerativePrior,
    problems: Sequence[Problem],
    z: torch.Tensor,
    d: torch.Tensor,
    rows: Sequence[int],
    *,
    steps: int,
    weights: tuple[float, float],
) -> None:
    """Fit codes ``z`` (one per problem) and shifts ``d`` (row ``rows[i]`` for problem ``i``) in place, the
    decoder fixed: ``steps`` Adam steps at ``enhance``'s learning rates on :func:`_objective`."""
    decoder = prior.frozen_decoder().to(z.device)
    options = OptimiseOptions()
    z.requires_grad_(True)
    d.requires_grad_(True)
    opt = torch.optim.Adam([{"params": [z], "lr": options.lr_z}, {"params": [d], "lr": options.lr_d}])
    for _ in range(steps):
        opt.zero_grad()
        for k, p in enumerate(problems):
            zk, dk = z[k : k + 1], d[rows[k] : rows[k] + 1, : p.sa_loss.n_slices]
            _objective(p.decode(decoder, zk), dk, zk, p, weights, selected=p.reads_parts).sum().backward()
        opt.step()
    z.requires_grad_(False)
    d.requires_grad_(False)


def drop_slice_validation(
    prior: GenerativePrior,
    stacks: Sequence[TrainingStack],
    *,
    steps: int,
    weights: tuple[float, float],
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Mean Dice per structure of the odd-numbered slices of ``stacks``, predicted by ``prior`` from the even ones.

    A code and shifts are fitted to each stack's even slices (:func:`fit_codes`, ``steps`` steps, ``weights`` =
    (λ of the motion prior, weight of ‖z‖²)); the decoded heart is degraded onto the whole stack by Eq. 1 and the
    dropped slices are scored, each at its own best in-plane translation within ±:data:`VALIDATION_SEARCH_MM` mm.
    Stacks with fewer than 3 slices are skipped. Returns ``{}`` when none is left.
    """
    device = torch.device(device)
    kept = [s for s in stacks if s.sa.shape[0] >= 3]
    if not kept:
        return {}
    placement = canonical_placement(getattr(prior, "metadata", {}) or {})
    evens = [drop_odd_slices(s.sa) for s in kept]
    sparse = [make_problem(e, frame=canonical_frame(e, **placement)) for e in evens]
    for p in sparse:
        p.to(device)
    z = _initial_codes(prior, sparse, device)
    d = torch.zeros(len(sparse), max(p.sa_loss.n_slices for p in sparse), 2, device=device)
    fit_codes(prior, sparse, z, d, range(len(sparse)), steps=steps, weights=weights)
    decoder = prior.frozen_decoder().to(device)
    scores = []
    with torch.no_grad():
        for k, (stack, p) in enumerate(zip(kept, sparse, strict=True)):
            whole = make_problem(stack.sa, frame=p.frame).to(device)
            probs = whole.sa_loss.degrade(decoder(z[k : k + 1]), torch.zeros(1, stack.sa.shape[0], 2, device=device))
            predicted = (probs[0].argmax(0) * whole.sa_loss.inside).cpu().numpy().astype(np.uint8)
            target = whole.sa_loss.target.cpu().numpy().astype(np.uint8)
            odd = np.arange(1, stack.sa.shape[0], 2)
            moved = slicewise_shift_optimal(predicted[odd], target[odd], stack.sa.spacing, VALIDATION_SEARCH_MM)
            scores.append(dice(moved, target[odd]))
    return {name: float(np.mean([s[name] for s in scores])) for _, name in STRUCTURES}


def train_prior_on_stacks(
    stacks: Sequence[TrainingStack],
    prior: GenerativePrior,
    init_metadata: dict[str, Any],
    output_dir: str | os.PathLike,
    config: StackTrainConfig | None = None,
    *,
    data_description: str = "",
    data_licence: str = "",
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[GenerativePrior, dict[str, Any]]:
    """Learn ``prior``'s decoder from short-axis ``stacks`` (see the module docstring) and write it to ``output_dir``.

    Parameters
    ----------
    stacks:
        The training stacks (internal labels), with their subjects for the validation split.
    prior:
        Where the decoder starts: the shipped default (fine-tuning), another prior, or a freshly built network.
    init_metadata:
        That prior's metadata (architecture, grid and its centring are kept).
    output_dir:
        Gets ``prior.safetensors`` (+ ``prior.json``), ``history.json`` and ``last.pt`` after every epoch.
    config:
        Hyper-parameters (:class:`~cardiosr.prior.config.StackTrainConfig`).
    data_description, data_licence:
        What the data are and their licence, for the model card (``prior.json`` → ``training``).
    resume:
        Continue from ``output_dir/last.pt`` up to ``config.epochs``.

    Returns
    -------
    (GenerativePrior, dict)
        The trained prior (``eval`` mode) and its metadata.

    Examples
    --------
    >>> import tempfile
    >>> from cardiosr.degradation import downsample_slices
    >>> from cardiosr.phantom import cohort_member
    >>> from cardiosr.prior.networks import VAE3D
    >>> stacks = [TrainingStack(f"s{i}", f"s{i}", downsample_slices(cohort_member(0, i)[0], 5)) for i in range(3)]
    >>> net = VAE3D(latent_dim=4, width=2, levels=5, max_channels=4).eval()
    >>> meta = {"architecture": "vae", "grid": {"centring": "mass"}}
    >>> cfg = StackTrainConfig(epochs=1, copies=1, val_fraction=0.3, val_steps=1, device="cpu")
    >>> model, card = train_prior_on_stacks(stacks, net, meta, tempfile.mkdtemp(), cfg, progress=False, log=len)
    >>> card["training"]["n_train_stacks"], card["training"]["n_val_stacks"]
    (2, 1)
    """
    config = config or StackTrainConfig()
    keep_freed_memory(large_blocks=True)  # the decoder's training steps free large blocks: reuse them
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    motion_prior = OptimiseOptions().motion_prior if config.motion_prior is None else float(config.motion_prior)
    train_idx, val_idx = split_subjects(stacks, config.val_fraction, config.seed)
    placement = canonical_placement(init_metadata)
    prior = prior.to(device).eval()
    prior.metadata = init_metadata
    problems, owner = _training_problems(stacks, train_idx, config, placement)
    for p in problems:
        p.to(device)
    stack_row = {s: r for r, s in enumerate(train_idx)}  # the copies of a stack share its shifts
    rows = [stack_row[i] for i in owner]
    weights = (motion_prior, config.latent_weight)
    z0 = _initial_codes(prior, problems, device)
    d0 = torch.zeros(len(train_idx), max(p.sa_loss.n_slices for p in problems), 2, device=device)
    if not resume and config.fit_steps:  # the codes first fit the stacks with the starting decoder, as enhance would
        log(f"fitting the codes of {len(problems)} stacks and copies ({config.fit_steps} steps)")
        fit_codes(prior, problems, z0, d0, rows, steps=config.fit_steps, weights=weights)
    z, d = torch.nn.Parameter(z0), torch.nn.Parameter(d0)
    for p in prior.parameters():
        p.requires_grad_(False)
    decoder_params = [*prior.fc_decode.parameters(), *prior.decoder.parameters()]
    for p in decoder_params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(
        [
            {"params": decoder_params, "lr": config.lr},
            {"params": [z], "lr": config.latent_lr},
            {"params": [d], "lr": config.shift_lr},
        ]
    )
    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume:
        history, start_epoch = _resume(output_dir, config, prior, opt, z, d)
        log(f"resuming after epoch {start_epoch} of {config.epochs}")
    val_stacks = [stacks[i] for i in val_idx]
    validate = functools.partial(drop_slice_validation, steps=config.val_steps, weights=weights, device=device)
    if val_stacks and not history:  # the starting prior's score, for comparison
        t0 = time.perf_counter()
        history.append({"epoch": 0, "val_drop_slice_dice": validate(prior, val_stacks)})
        history[0]["seconds"] = time.perf_counter() - t0
        log(_format_row(history[0], config.epochs))
    meta: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        opt.param_groups[0]["lr"] = learning_rate(config, epoch)  # the same cosine as for HR maps
        order = np.random.default_rng([config.seed, epoch]).permutation(len(problems))
        batches = [order[b : b + config.batch_size] for b in range(0, len(order), config.batch_size)]
        total = 0.0
        for batch in tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False):
            opt.zero_grad()
            logits = prior.decode(z[torch.as_tensor(batch, device=device)])
            loss = sum(
                _objective(
                    logits[k : k + 1],
                    d[rows[item] : rows[item] + 1, : problems[item].sa_loss.n_slices],
                    z[item : item + 1],
                    problems[item],
                    weights,
                ).sum()
                for k, item in enumerate(batch)
            )
            (loss / len(batch)).backward()
            opt.step()
            total += float(loss.detach())
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / len(problems)}
        if val_stacks:
            row["val_drop_slice_dice"] = validate(prior, val_stacks)
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        log(_format_row(row, config.epochs))
        meta = _metadata(init_metadata, config, history, data_description, data_licence, stacks, train_idx, val_idx)
        meta["training"]["device"] = str(device)
        _write_outputs(output_dir, prior, opt, z, d, config, history, meta)
    if not meta:
        meta = _metadata(init_metadata, config, history, data_description, data_licence, stacks, train_idx, val_idx)
    for p in prior.parameters():
        p.requires_grad_(True)
    prior.metadata = meta
    return prior.eval(), meta


def _resume(
    output_dir: Path,
    config: StackTrainConfig,
    prior: GenerativePrior,
    opt: torch.optim.Optimizer,
    z: torch.nn.Parameter,
    d: torch.nn.Parameter,
) -> tuple[list[dict[str, Any]], int]:
    path = output_dir / RESUME_FILE
    if not path.is_file():
        raise InputError(f"nothing to resume: no {RESUME_FILE}", output_dir)
    state = torch.load(path, map_location=z.device, weights_only=True)
    for key in _FIXED_ON_RESUME:
        if state["config"].get(key) != getattr(config, key):
            raise InputError(
                f"cannot resume: the run used {key}={state['config'].get(key)!r}, not {getattr(config, key)!r}", path
            )
    if tuple(state["z"].shape) != tuple(z.shape) or tuple(state["d"].shape) != tuple(d.shape):
        raise InputError("cannot resume: the training stacks differ from the run's", path)
    prior.load_state_dict(state["model"])
    opt.load_state_dict(state["optimiser"])
    with torch.no_grad():
        z.copy_(state["z"])
        d.copy_(state["d"])
    return list(state["history"]), int(state["epoch"])


def _format_row(row: dict[str, Any], epochs: int) -> str:
    if not row["epoch"]:
        parts = ["before training"]
    else:
        parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    if row.get("val_drop_slice_dice"):
        parts.append(
            "held-out drop-slice Dice " + " ".join(f"{k} {v:.3f}" for k, v in row["val_drop_slice_dice"].items())
        )
    parts.append(f"{row['seconds']:.0f} s")
    return "  ".join(parts)


def _metadata(
    init_metadata: dict[str, Any],
    config: StackTrainConfig,
    history: list[dict[str, Any]],
    description: str,
    licence: str,
    stacks: Sequence[TrainingStack],
    train_idx: Sequence[int],
    val_idx: Sequence[int],
) -> dict[str, Any]:
    cfg = asdict(config)
    extra = cfg.pop("extra")
    last = history[-1] if history else {}
    meta = {k: v for k, v in init_metadata.items() if k not in ("training", "metrics")}
    meta["training"] = {
        "data": description,
        "data_licence": licence,
        "method": "auto-decoder on short-axis stacks through Eq. 1 (cardiosr.optimise.stack_prior)",
        "started_from": (init_metadata.get("training") or {}).get("data", "a new network"),
        "n_train_stacks": len(train_idx),
        "n_val_stacks": len(val_idx),
        "val_stacks": [stacks[i].name for i in val_idx],
        "epochs": sum(1 for r in history if r["epoch"]),
        "config": cfg,
        "seconds": float(sum(r["seconds"] for r in history)),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        **extra,
    }
    meta["metrics"] = {"val_drop_slice_dice": last.get("val_drop_slice_dice"), "train_loss": last.get("train_loss")}
    return meta


def _write_outputs(
    output_dir: Path,
    prior: GenerativePrior,
    opt: torch.optim.Optimizer,
    z: torch.Tensor,
    d: torch.Tensor,
    config: StackTrainConfig,
    history: list[dict[str, Any]],
    meta: dict[str, Any],
) -> None:
    cfg = asdict(config)
    cfg.pop("extra")
    state = {
        "model": prior.state_dict(),
        "optimiser": opt.state_dict(),
        "z": z.detach().cpu(),
        "d": d.detach().cpu(),
        "epoch": history[-1]["epoch"],
        "history": history,
        "config": cfg,
    }
    write_training_outputs(output_dir, prior, state, meta)


def load_training_stacks(
    files: Sequence[tuple[str | os.PathLike, Sequence[str | os.PathLike]]],
    convention: str,
    *,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
    progress: bool = True,
) -> list[TrainingStack]:
    """Read short-axis stacks, each with its long-axis views: ``files`` holds ``(stack, [views])`` pairs.

    A 4D stack (a cine) gives one training stack per frame; its views join frame by frame when they are 4D
    too, a single-frame view joins the frame with the largest LV blood pool (ED), as in ``enhance``. Labels
    are read in ``convention`` as :func:`cardiosr.io.load_labels` reads them; a file that is not a label map
    is a one-line error.
    """
    from cardiosr.frames import load_frames

    out: list[TrainingStack] = []
    for sa_path, la_paths in tqdm(files, desc="stacks", disable=not progress, leave=False):
        cine = load_frames(sa_path, convention, slice_axis, ignore_labels)
        views = [load_frames(p, convention, None, ignore_labels).frames for p in la_paths]
        ed = key_frame_of(cine.frames)
        for t, frame in enumerate(cine.frames):
            name = Path(sa_path).name + (f"[{t}]" if len(cine.frames) > 1 else "")
            la = [v[t] if len(v) == len(cine.frames) else v[0] for v in views if len(v) == len(cine.frames) or t == ed]
            out.append(TrainingStack(name, subject_of(Path(sa_path).name), frame, la))
    return out
