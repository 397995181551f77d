"""Training of shape priors (paper §2.3): β-VAE (cross-entropy + β·KL) and DCGAN (adversarial).

Data are canonical label maps (N, 64, 128, 128) held in memory as uint8 (1 MiB each). One epoch is one
pass over the training split in batches; each epoch draws its shuffling, augmentation and VAE noise
from its own seed ``(seed, epoch)``, so an interrupted run resumed from ``last.pt`` gives the same
weights as an uninterrupted one. Files written to the output folder after every epoch:

- ``prior.safetensors`` (+ ``prior.json``): the prior as :func:`~cardiosr.prior.load_prior` reads it;
- ``last.pt``: weights, optimiser state and history for ``--resume`` (tensors and plain data only,
  read back with ``torch.load(..., weights_only=True)``);
- ``history.json``: losses, validation Dice and time per epoch.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from cardiosr.allocator import keep_freed_memory
from cardiosr.device import resolve_device
from cardiosr.errors import InputError
from cardiosr.geometry import CANONICAL_SHAPE
from cardiosr.io import atomic_path, write_json
from cardiosr.labels import N_CLASSES, STRUCTURES
from cardiosr.metrics import dice
from cardiosr.prior.augment import RandomInPlaneAffine
from cardiosr.prior.checkpoint import PRIOR_FILE, save_prior
from cardiosr.prior.config import StackTrainConfig, TrainConfig
from cardiosr.prior.metadata import make_metadata
from cardiosr.prior.networks import DCGAN3D, VAE3D, GenerativePrior, build_model

#: Resume file inside the output folder.
RESUME_FILE = "last.pt"
#: Config fields that must not change when resuming.
_FIXED_ON_RESUME = (
    "architecture",
    "latent_dim",
    "width",
    "levels",
    "max_channels",
    "seed",
    "val_fraction",
    "batch_size",
    "lr",
    "final_lr_fraction",
)


def reconstruction_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Voxel-mean cross-entropy between logits (B, 4, D, H, W) and integer labels (B, D, H, W)."""
    return F.cross_entropy(logits, labels)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) ‖ N(0, I)), summed over latent dimensions, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1)).mean()


def vae_loss(
    logits: torch.Tensor, labels: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """β-VAE loss (Fig. S1A): ``CE + β · KL``; returns (total, CE, KL)."""
    ce = reconstruction_loss(logits, labels)
    kl = kl_divergence(mu, logvar)
    return ce + beta * kl, ce, kl


def one_hot_tensor(labels: torch.Tensor) -> torch.Tensor:
    """Integer labels (B, D, H, W) → float one-hot (B, 4, D, H, W)."""
    return F.one_hot(labels.long(), N_CLASSES).permute(0, 4, 1, 2, 3).float()


def phantom_training_data(n: int, seed: int = 0, workers: int | None = None, progress: bool = True) -> np.ndarray:
    """The first ``n`` phantoms of cohort ``seed`` as a uint8 array (n, 64, 128, 128), made in parallel."""
    from cardiosr.phantom import cohort_member

    workers = workers or os.cpu_count() or 1
    out = np.empty((n, *CANONICAL_SHAPE), np.uint8)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(cohort_member, [seed] * n, range(n), chunksize=4)
        for i, (vol, _) in enumerate(tqdm(jobs, total=n, desc="phantoms", disable=not progress, leave=False)):
            out[i] = vol.array
    return out


def folder_training_data(
    folder: str | os.PathLike,
    convention: str,
    progress: bool = True,
    *,
    slice_axis: int | None = None,
    ignore_labels: Sequence[int] = (),
) -> np.ndarray:
    """Every ``.nii``/``.nii.gz`` label map in ``folder`` mapped onto the canonical grid, as uint8 (N, D, H, W)
    (read with :func:`cardiosr.io.load_labels`'s ``slice_axis`` and ``ignore_labels``)."""
    from cardiosr.geometry import to_canonical
    from cardiosr.io import load_labels

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such folder", folder)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz")))
    if not files:
        raise InputError("no .nii or .nii.gz label maps in the folder", folder)
    arrays = [
        to_canonical(load_labels(p, convention, slice_axis=slice_axis, ignore_labels=ignore_labels))[0].array
        for p in tqdm(files, disable=not progress, leave=False)
    ]
    return np.stack(arrays).astype(np.uint8)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) split of ``range(n)``; validation holds ``max(1, round(n·val_fraction))``."""
    if n < 2:
        raise InputError(f"need at least 2 label maps to train (got {n})")
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@torch.no_grad()
def evaluate_reconstruction(
    model: VAE3D, data: np.ndarray, batch_size: int = 4, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """Mean per-structure Dice and cross-entropy of ``decode(encode(x).mu)`` over label maps ``data``."""
    model.eval()
    scores: list[dict[str, float]] = []
    losses: list[float] = []
    for start in range(0, len(data), batch_size):
        labels = torch.from_numpy(data[start : start + batch_size]).long().to(device)
        logits, _, _ = model(one_hot_tensor(labels))
        losses.append(float(reconstruction_loss(logits, labels)) * len(labels))
        pred = logits.argmax(1).cpu().numpy()
        scores += [dice(p, t) for p, t in zip(pred, labels.cpu().numpy(), strict=True)]
    result = {name: float(np.mean([s[name] for s in scores])) for _, name in STRUCTURES}
    result["ce"] = float(np.sum(losses) / len(data))
    return result


def learning_rate(config: TrainConfig | StackTrainConfig, epoch: int) -> float:
    """Learning rate of ``epoch`` (0-based): cosine from ``lr`` to ``lr · final_lr_fraction`` over ``epochs``."""
    if config.epochs <= 1:
        return config.lr
    floor = config.lr * config.final_lr_fraction
    return float(floor + 0.5 * (config.lr - floor) * (1 + np.cos(np.pi * epoch / (config.epochs - 1))))


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def _class_frequencies(data: np.ndarray) -> list[float]:
    counts = np.bincount(data[: min(len(data), 64)].ravel(), minlength=N_CLASSES).astype(float)
    return list(counts / counts.sum())


def train_prior(
    data: np.ndarray,
    output_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    data_description: str = "",
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[GenerativePrior, dict[str, Any]]:
    """Train a prior on canonical label maps ``data`` (N, 64, 128, 128) and write it to ``output_dir``.

    Returns the trained model (eval mode) and its metadata. With ``resume=True`` training continues
    from ``output_dir/last.pt`` up to ``config.epochs`` (the architecture and seed must match).

    Examples
    --------
    >>> import tempfile
    >>> from cardiosr.phantom import cohort_member
    >>> data = np.stack([cohort_member(0, i)[0].array for i in range(3)])
    >>> cfg = TrainConfig(width=2, max_channels=4, latent_dim=4, batch_size=2, epochs=1, augment=False)
    >>> model, meta = train_prior(data, tempfile.mkdtemp(), cfg, progress=False, log=lambda s: None)
    >>> meta["training"]["epochs"], meta["training"]["n_train"], meta["training"]["n_val"]
    (1, 2, 1)
    """
    # Kept in one piece (~85 lines): the epoch loop, validation, the atomic checkpoint and resume share the
    # model, optimiser, scheduler and generator state; split up, each part would take all of them.
    config = config or TrainConfig()
    keep_freed_memory(large_blocks=True)  # a step frees blocks of 67 MB: reuse them, not fresh pages
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    data = np.ascontiguousarray(data, dtype=np.uint8)
    train_idx, val_idx = split_indices(len(data), config.val_fraction, config.seed)

    torch.manual_seed(config.seed)
    model = build_model(config.architecture, config.model_config()).to(device)
    model.init_class_prior(_class_frequencies(data[train_idx]))
    if isinstance(model, DCGAN3D):
        optimisers = [
            torch.optim.Adam(model.generator_parameters(), lr=config.lr, betas=(0.5, 0.999)),
            torch.optim.Adam(model.discriminator_parameters(), lr=config.lr, betas=(0.5, 0.999)),
        ]
    else:
        optimisers = [torch.optim.Adam(model.parameters(), lr=config.lr)]

    history: list[dict[str, Any]] = []
    start_epoch = 0
    resume_path = output_dir / RESUME_FILE
    if resume:
        if not resume_path.is_file():
            raise InputError(f"nothing to resume: no {RESUME_FILE}", output_dir)
        state = torch.load(resume_path, map_location=device, weights_only=True)
        for key in _FIXED_ON_RESUME:
            if state["config"].get(key) != getattr(config, key):
                raise InputError(
                    f"cannot resume: the run used {key}={state['config'].get(key)!r}, not {getattr(config, key)!r}",
                    resume_path,
                )
        model.load_state_dict(state["model"])
        for opt, opt_state in zip(optimisers, state["optimisers"], strict=True):
            opt.load_state_dict(opt_state)
        history, start_epoch = list(state["history"]), int(state["epoch"])
        log(f"resuming after epoch {start_epoch} of {config.epochs}")

    augment = (
        RandomInPlaneAffine(config.max_rotation_deg, config.max_scaling, config.mirror_probability, config.max_tilt_deg)
        if config.augment
        else None
    )
    n_batches = int(np.ceil(len(train_idx) / config.batch_size))
    meta: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        for opt in optimisers:
            for group in opt.param_groups:
                group["lr"] = learning_rate(config, epoch)
        gen = _epoch_generator(config.seed, epoch)
        order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        model.train()
        sums: dict[str, float] = {}
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for b in range(n_batches):
            labels = torch.from_numpy(data[order[b * config.batch_size : (b + 1) * config.batch_size]])
            labels = augment(labels, gen) if augment else labels.long()
            labels = labels.to(device)
            if isinstance(model, DCGAN3D):
                step = _dcgan_step(model, optimisers, labels, gen)
            else:
                noise = torch.randn(len(labels), config.latent_dim, generator=gen)
                logits, mu, logvar = model(one_hot_tensor(labels), noise=noise)
                total, ce, kl = vae_loss(logits, labels, mu, logvar, config.beta)
                optimisers[0].zero_grad()
                total.backward()
                optimisers[0].step()
                step = {"loss": total.item(), "ce": ce.item(), "kl": kl.item()}
            for k, v in step.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            bar.set_postfix(loss=f"{step['loss']:.4f}")
        bar.close()
        row: dict[str, Any] = {"epoch": epoch + 1, **{f"train_{k}": v / n_batches for k, v in sums.items()}}
        if isinstance(model, VAE3D):
            val = evaluate_reconstruction(model, data[val_idx], device=device)
            row.update({"val_ce": val.pop("ce"), "val_dice": val})
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        log(_format_row(row, config.epochs))
        meta = _metadata(model, config, history, data_description, len(train_idx), len(val_idx), device)
        _write_outputs(output_dir, model, optimisers, config, history, meta)
    if not meta:  # nothing left to train: report what is on disk
        meta = _metadata(model, config, history, data_description, len(train_idx), len(val_idx), device)
    return model.eval(), meta


def _dcgan_step(
    model: DCGAN3D, optimisers: Sequence[torch.optim.Optimizer], labels: torch.Tensor, gen: torch.Generator
) -> dict[str, float]:
    """One discriminator and one generator step (standard non-saturating GAN loss)."""
    opt_g, opt_d = optimisers
    real = one_hot_tensor(labels)
    z = torch.randn(len(labels), model.latent_dim, generator=gen).to(labels.device)
    fake = torch.softmax(model.decode(z), 1)
    d_real, d_fake = model.discriminate(real), model.discriminate(fake.detach())
    loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros_like(d_fake)
    )
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    d_gen = model.discriminate(fake)
    loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"loss": loss_g.item(), "loss_d": loss_d.item()}


def _format_row(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    if "train_loss_d" in row:
        parts.append(f"D loss {row['train_loss_d']:.4f}")
    if "val_dice" in row:
        d = row["val_dice"]
        parts.append(f"val CE {row['val_ce']:.4f}")
        parts.append("val Dice " + " ".join(f"{k} {v:.3f}" for k, v in d.items()))
    parts.append(f"{row['seconds']:.0f} s")
    return "  ".join(parts)


def _metadata(
    model: GenerativePrior,
    config: TrainConfig,
    history: list[dict[str, Any]],
    description: str,
    n_train: int,
    n_val: int,
    device: torch.device,
) -> dict[str, Any]:
    last = history[-1] if history else {}
    cfg = asdict(config)
    extra = cfg.pop("extra")
    return make_metadata(
        model,
        config.architecture,
        beta=config.beta if config.architecture == "vae" else None,
        training={
            "data": description,
            "n_train": n_train,
            "n_val": n_val,
            "epochs": len(history),
            "config": cfg,
            "seconds": float(sum(r["seconds"] for r in history)),
            "device": str(device),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
            **extra,
        },
        metrics={"val_dice": last.get("val_dice"), "val_ce": last.get("val_ce"), "train_loss": last.get("train_loss")},
    )


def _write_outputs(
    output_dir: Path,
    model: GenerativePrior,
    optimisers: Sequence[torch.optim.Optimizer],
    config: TrainConfig,
    history: list[dict[str, Any]],
    meta: dict[str, Any],
) -> None:
    cfg = asdict(config)
    cfg.pop("extra")
    state = {
        "model": model.state_dict(),
        "optimisers": [opt.state_dict() for opt in optimisers],
        "epoch": len(history),
        "history": history,
        "config": cfg,
    }
    write_training_outputs(output_dir, model, state, meta)


def write_training_outputs(
    output_dir: Path, model: GenerativePrior, state: dict[str, Any], meta: dict[str, Any]
) -> None:
    """What a training run leaves after every epoch, each file written atomically: ``last.pt`` (``state``:
    tensors and plain data, with its ``history``), ``prior.safetensors`` + ``prior.json`` (``meta``) and
    ``history.json``."""
    with atomic_path(output_dir / RESUME_FILE) as tmp:
        torch.save(state, tmp)
    save_prior(model, output_dir / PRIOR_FILE, meta)
    for name, obj in (("prior.json", meta), ("history.json", state["history"])):
        write_json(output_dir / name, obj)
