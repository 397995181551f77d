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
    max_rotation_deg, max_scaling, mirror_probability : float
        Augmentation (:class:`~cardiosr.prior.augment.RandomInPlaneAffine`); ``augment=False`` disables it.
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
