"""Hyper-parameters of prior training, :class:`TrainConfig` (no torch: the command line reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Hyper-parameters of prior training (defaults: the shipped default prior; see ``docs/prior.md``).

    Parameters
    ----------
    architecture : {"vae", "dcgan"}
    latent_dim : int
        M, the latent dimension (paper: 64).
    width, levels, max_channels : int
        Network size (see :class:`~cardiosr.prior.networks.VAE3D`).
    beta : float
        Weight of the KL term of the β-VAE loss (paper: 0.001).
    lr : float
        Peak Adam learning rate (paper: 1e-4; see ``docs/prior.md`` for why the default is 1e-3).
    batch_size : int
        Label maps per step (paper: 16; the default 4 gives 4× more steps for the same CPU time).
    epochs : int
        Passes over the training split.
    final_lr_fraction : float
        The learning rate follows a cosine from ``lr`` (first epoch) to ``lr · final_lr_fraction``
        (last epoch); 1 keeps it constant.
    seed : int
        Seeds initialisation, the validation split, shuffling, augmentation and noise.
    val_fraction : float
        Share of the data held out for validation (at least one map).
    max_rotation_deg, max_scaling, mirror_probability, max_tilt_deg : float
        Augmentation (:class:`~cardiosr.prior.augment.RandomInPlaneAffine`); ``augment=False`` disables it.
        ``max_tilt_deg`` (degrees) leans the long axis further against the slice normal, uniformly over a disc.
    """

    architecture: str = "vae"
    latent_dim: int = 64
    width: int = 8
    levels: int = 5
    max_channels: int | None = 64
    beta: float = 1e-3
    lr: float = 1e-3
    batch_size: int = 4
    epochs: int = 30
    final_lr_fraction: float = 0.05
    seed: int = 0
    val_fraction: float = 0.1
    augment: bool = True
    max_rotation_deg: float = 10.0
    max_scaling: float = 0.1
    mirror_probability: float = 0.0
    max_tilt_deg: float = 0.0
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def model_config(self) -> dict[str, Any]:
        """Constructor arguments of the network."""
        config: dict[str, Any] = {
            "latent_dim": self.latent_dim,
            "width": self.width,
            "levels": self.levels,
            "max_channels": self.max_channels,
        }
        return config


@dataclass
class StackTrainConfig:
    """Hyper-parameters of learning a prior from thick-slice stacks (``train-prior --stacks``).

    See :mod:`cardiosr.optimise.stack_prior` for the objective; defaults are those measured in
    ``docs/prior.md`` (*Training from stacks*).

    Parameters
    ----------
    epochs : int
        Passes over the training stacks (each with its augmented copies).
    lr : float
        Peak Adam learning rate of the decoder's weights; cosine decay to ``lr · final_lr_fraction``.
    latent_lr, shift_lr : float
        Adam learning rates of the stacks' latent codes and of their shifts (mm per step scale).
    batch_size : int
        Stacks (or copies) decoded together per step.
    latent_weight : float
        Weight of ``‖z‖²`` per stack (β/2 of the β-VAE's KL for a unit-variance prior).
    motion_prior : float or None
        λ of the motion prior ``−λ·log p(d)``; ``None``: the default of ``enhance``
        (:class:`~cardiosr.optimise.options.OptimiseOptions`).
    copies : int
        Copies of every stack in the training set: the first as acquired, the others with an in-plane
        rotation (uniform in ±``max_rotation_deg``, degrees) and scaling (uniform in ±``max_scaling``) of
        its canonical grid, each with its own latent code.
    val_fraction : float
        Share of the subjects held out for validation (files named alike up to their first ``_`` are
        one subject and stay together).
    fit_steps : int
        Adam steps that fit the training stacks' codes and shifts to the starting decoder before training.
    val_steps : int
        Adam steps of the latent fit of each held-out stack's even slices in the validation.
    seed : int
        Seeds the split, the copies' augmentation and the order of the stacks.
    """

    epochs: int = 40
    lr: float = 3e-4
    final_lr_fraction: float = 0.05
    latent_lr: float = 0.05
    shift_lr: float = 0.2
    batch_size: int = 4
    latent_weight: float = 5e-4
    motion_prior: float | None = None
    copies: int = 2
    max_rotation_deg: float = 10.0
    max_scaling: float = 0.1
    val_fraction: float = 0.1
    fit_steps: int = 30
    val_steps: int = 40
    seed: int = 0
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)
