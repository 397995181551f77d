"""Generative shape priors G: z ↦ S (paper Eq. 2, §2.3, Fig. S1): a 3D β-VAE and a 3D DCGAN.

Both map a latent vector ``z`` (dimension M, :attr:`latent_dim`) to 4-class logits on the canonical
grid (background, LV, MYO, RV; 64×128×128 voxels at 2×1.25×1.25 mm) through the same decoder: a linear
layer to a small 3D feature map, then ``levels`` transposed 3D convolutions (kernel 4, stride 2), each
doubling the resolution. The VAE's encoder mirrors it with strided 3D convolutions.

Example
-------
>>> import torch
>>> vae = VAE3D(latent_dim=8, width=2, levels=5, max_channels=8).eval()
>>> vae.decode(torch.zeros(1, 8)).shape
torch.Size([1, 4, 64, 128, 128])
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cardiosr.geometry import CANONICAL_SHAPE
from cardiosr.labels import N_CLASSES

#: Architectures a checkpoint can name.
ARCHITECTURES = ("vae", "dcgan")


def channels_per_level(width: int, levels: int, max_channels: int | None) -> list[int]:
    """Feature channels after each down-sampling level: ``width · 2^i``, capped at ``max_channels``."""
    return [min(width * 2**i, max_channels or width * 2**i) for i in range(levels)]


def bottleneck_shape(grid_shape: Sequence[int], levels: int) -> tuple[int, int, int]:
    """Spatial shape of the coarsest feature map (each level halves every axis)."""
    factor = 2**levels
    if any(n % factor for n in grid_shape):
        raise ValueError(f"grid {tuple(grid_shape)} is not divisible by 2^{levels}")
    return tuple(int(n) // factor for n in grid_shape)  # type: ignore[return-value]


def _encoder(channels: list[int], in_channels: int, final_activation: str, first_norm: bool = True) -> nn.Sequential:
    """Strided convolutions (kernel 4, stride 2, padding 1), each with batch norm and LeakyReLU(0.2).

    Layers are flat, ``[conv, norm, act] * levels``, so that indices match the published GenVAE3D.
    """
    layers: list[nn.Module] = []
    previous = in_channels
    for i, ch in enumerate(channels):
        layers.append(nn.Conv3d(previous, ch, kernel_size=4, stride=2, padding=1))
        layers.append(nn.BatchNorm3d(ch) if (first_norm or i > 0) else nn.Identity())
        last = i == len(channels) - 1
        layers.append(nn.ReLU() if last and final_activation == "relu" else nn.LeakyReLU(0.2))
        previous = ch
    return nn.Sequential(*layers)


def _decoder(channels: list[int], out_channels: int) -> nn.Sequential:
    """Transposed convolutions back to full resolution; the last one gives logits (no norm, no activation)."""
    layers: list[nn.Module] = []
    reversed_channels = channels[::-1]
    for a, b in zip(reversed_channels[:-1], reversed_channels[1:], strict=True):
        layers += [nn.ConvTranspose3d(a, b, kernel_size=4, stride=2, padding=1), nn.BatchNorm3d(b), nn.LeakyReLU(0.2)]
    layers.append(nn.ConvTranspose3d(reversed_channels[-1], out_channels, kernel_size=4, stride=2, padding=1))
    return nn.Sequential(*layers)


class GenerativePrior(nn.Module):
    """What every prior offers latent optimisation: ``decode(z)`` and ``latent_dim``.

    Subclasses build ``fc_decode`` (latent → coarsest feature map) and ``decoder`` (transposed
    convolutions) from :attr:`channels` and :attr:`bottom`, which this base class works out.
    """

    fc_decode: nn.Linear
    decoder: nn.Sequential

    def __init__(
        self, latent_dim: int, width: int, levels: int, max_channels: int | None, grid_shape: Sequence[int]
    ) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.width, self.levels, self.max_channels = int(width), int(levels), max_channels
        self.grid_shape: tuple[int, int, int] = tuple(int(n) for n in grid_shape)  # type: ignore[assignment]
        self.channels = channels_per_level(self.width, self.levels, max_channels)
        #: (channels, D, H, W) of the coarsest feature map.
        self.bottom = (self.channels[-1], *bottleneck_shape(self.grid_shape, self.levels))

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored in checkpoint metadata)."""
        return {
            "latent_dim": self.latent_dim,
            "width": self.width,
            "levels": self.levels,
            "max_channels": self.max_channels,
        }

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (B, 4, D, H, W) of the label map for latents ``z`` of shape (B, latent_dim)."""
        return self.decoder(self.fc_decode(z).view(z.shape[0], *self.bottom))

    def frozen_decoder(self) -> FrozenDecoder:
        """An inference copy of :meth:`decode` for latent optimisation (see :class:`FrozenDecoder`)."""
        return FrozenDecoder(self)

    def init_class_prior(self, frequencies: Sequence[float]) -> None:
        """Set the last layer's bias to the log class frequencies, so training starts from the label prior."""
        last = self._last_layer()
        with torch.no_grad():
            freq = torch.as_tensor(frequencies, dtype=last.bias.dtype).clamp_min(1e-6)
            last.bias.copy_(torch.log(freq / freq.sum()))

    def _last_layer(self) -> nn.ConvTranspose3d:
        return self.decoder[-1]  # type: ignore[return-value]


class VAE3D(GenerativePrior):
    """3D β-VAE over one-hot label maps (paper §2.3, Fig. S1A).

    Parameters
    ----------
    latent_dim : int
        M, the dimension of z (paper: 64).
    width : int
        Channels after the first down-sampling; each further level doubles them (up to ``max_channels``).
    levels : int
        Number of stride-2 levels; the grid must be divisible by ``2**levels``.
    max_channels : int or None
        Cap on the channels of the deep levels (keeps the linear layers and the file small).
    grid_shape : tuple of int
        Output grid (D, H, W) in voxels; the canonical grid by default.
    encoder_final_activation : {"leaky_relu", "relu"}
        Activation after the last encoder convolution ("relu" in the published GenVAE3D).

    Examples
    --------
    >>> import torch
    >>> vae = VAE3D(latent_dim=4, width=2, levels=5, max_channels=4).eval()
    >>> mu, logvar = vae.encode(torch.zeros(1, 4, 64, 128, 128))
    >>> mu.shape, vae.latent_dim
    (torch.Size([1, 4]), 4)
    """

    def __init__(
        self,
        latent_dim: int = 64,
        width: int = 8,
        levels: int = 5,
        max_channels: int | None = 64,
        grid_shape: Sequence[int] = CANONICAL_SHAPE,
        encoder_final_activation: str = "leaky_relu",
    ) -> None:
        super().__init__(latent_dim, width, levels, max_channels, grid_shape)
        if encoder_final_activation not in ("leaky_relu", "relu"):
            raise ValueError(f"unknown encoder_final_activation {encoder_final_activation!r}")
        self.encoder_final_activation = encoder_final_activation
        flat = math.prod(self.bottom)
        self.encoder = _encoder(self.channels, N_CLASSES, encoder_final_activation)
        self.fc_mu = nn.Linear(flat, self.latent_dim)
        self.fc_logvar = nn.Linear(flat, self.latent_dim)
        self.fc_decode = nn.Linear(self.latent_dim, flat)
        self.decoder = _decoder(self.channels, N_CLASSES)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored in checkpoint metadata)."""
        return {**super().config(), "encoder_final_activation": self.encoder_final_activation}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of z for one-hot (or probability) maps ``x`` of shape (B, 4, D, H, W)."""
        h = self.encoder(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct ``x``: returns (logits, mu, logvar).

        ``noise`` (standard normal, shape (B, latent_dim)) gives the reparameterised sample
        ``z = mu + noise · exp(logvar / 2)``; without it ``z = mu`` (deterministic reconstruction).
        """
        mu, logvar = self.encode(x)
        z = mu if noise is None else mu + noise.to(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


class DCGAN3D(GenerativePrior):
    """3D DCGAN (paper §2.3): a generator with the VAE's decoder and a strided-convolution discriminator.

    The discriminator sees class probabilities (one-hot for real label maps, softmax of the generator's
    logits for fakes) and returns one logit per sample.

    Examples
    --------
    >>> import torch
    >>> gan = DCGAN3D(latent_dim=4, width=2, levels=5, max_channels=4).eval()
    >>> gan.discriminate(torch.softmax(gan.decode(torch.zeros(2, 4)), 1)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        latent_dim: int = 64,
        width: int = 8,
        levels: int = 5,
        max_channels: int | None = 64,
        grid_shape: Sequence[int] = CANONICAL_SHAPE,
    ) -> None:
        super().__init__(latent_dim, width, levels, max_channels, grid_shape)
        flat = math.prod(self.bottom)
        self.fc_decode = nn.Linear(self.latent_dim, flat)
        self.decoder = _decoder(self.channels, N_CLASSES)
        # DCGAN convention: no batch norm on the discriminator's first layer.
        self.discriminator = _encoder(self.channels, N_CLASSES, "leaky_relu", first_norm=False)
        self.fc_discriminate = nn.Linear(flat, 1)

    def discriminate(self, probabilities: torch.Tensor) -> torch.Tensor:
        """One real-vs-generated logit per sample for class maps of shape (B, 4, D, H, W)."""
        return self.fc_discriminate(self.discriminator(probabilities).flatten(1))[:, 0]

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters of G (latent → label map)."""
        return [*self.fc_decode.parameters(), *self.decoder.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters of the discriminator."""
        return [*self.discriminator.parameters(), *self.fc_discriminate.parameters()]


def build_model(
    architecture: str, config: dict[str, Any], grid_shape: Sequence[int] = CANONICAL_SHAPE
) -> GenerativePrior:
    """Instantiate ``architecture`` ("vae" or "dcgan") from its :meth:`config` dict."""
    if architecture == "vae":
        return VAE3D(grid_shape=grid_shape, **config)
    if architecture == "dcgan":
        return DCGAN3D(grid_shape=grid_shape, **config)
    raise ValueError(f"unknown prior architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")


class FrozenDecoder(nn.Module):
    """``decode(z)`` of a prior in ``eval`` mode, rebuilt for speed: weights frozen, batch norm folded.

    In ``eval`` mode a ``BatchNorm3d`` after a transposed convolution is a per-channel affine map, so it
    is folded into the convolution's weights and bias (``W' = W·s``, ``b' = (b - μ)·s + β`` with
    ``s = γ / sqrt(σ² + ε)``), and activations run in place in ``channels_last_3d`` memory order. The
    output equals ``prior.eval().decode(z)`` to float rounding; gradients flow to ``z`` only. It saves
    the batch-norm passes of every latent-optimisation step.

    Examples
    --------
    >>> prior = VAE3D(latent_dim=4, width=2, levels=2, max_channels=4, grid_shape=(8, 16, 16)).eval()
    >>> z = torch.randn(2, 4)
    >>> torch.allclose(prior.frozen_decoder()(z), prior.decode(z), atol=1e-5)
    True
    """

    def __init__(self, prior: GenerativePrior) -> None:
        super().__init__()
        self.bottom = prior.bottom
        self.fc_decode = copy.deepcopy(prior.fc_decode)
        layers: list[nn.Module] = []
        source = list(prior.decoder)
        i = 0
        while i < len(source):
            layer = copy.deepcopy(source[i])
            following = source[i + 1] if i + 1 < len(source) else None
            if isinstance(layer, nn.ConvTranspose3d) and isinstance(following, nn.BatchNorm3d):
                _fold_batchnorm(layer, following)
                i += 1
            elif isinstance(layer, nn.LeakyReLU | nn.ReLU):
                layer.inplace = True
            layers.append(layer)
            i += 1
        self.decoder = nn.Sequential(*layers)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 4, D, H, W)`` for latents ``(B, latent_dim)``."""
        return self.decoder(self._features(z)).contiguous()

    def _features(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc_decode(z).view(z.shape[0], *self.bottom).contiguous(memory_format=torch.channels_last_3d)

    def slices(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The logits of the output slices ``index`` only: ``forward(z)[:, :, index]``, to float rounding.

        The last transposed convolution (kernel 4, stride 2, padding 1 along the slice axis) makes output
        slice ``o`` from the two input slices ``i = (o + 1 - k) / 2`` that are whole numbers, with the
        kernel's slice taps ``k``; so each requested slice is a 2D transposed convolution of those two
        input slices (their channels side by side). The latent search reads only the two canonical slices
        around each short-axis slice (:class:`~cardiosr.degradation.ShiftedResampling`'s planar path),
        about a third of the grid, and the last layer is most of the decoder's work.

        Parameters
        ----------
        z:
            ``(B, latent_dim)`` latent codes.
        index:
            ``(n,)`` output slice indices (along the first spatial axis), in any order, repeats allowed.

        Returns
        -------
        torch.Tensor
            ``(B, 4, n, H, W)`` logits (a view of memory ordered ``(B, n, 4, H, W)``, which
            :meth:`~cardiosr.degradation.ShiftedResampling.forward_selected` reads without a copy).

        Examples
        --------
        >>> prior = VAE3D(latent_dim=4, width=2, levels=2, max_channels=4, grid_shape=(8, 16, 16)).eval()
        >>> decode, z, index = prior.frozen_decoder(), torch.randn(2, 4), torch.tensor([0, 3, 4, 7, 7])
        >>> torch.allclose(decode.slices(z, index), decode(z)[:, :, index], atol=1e-5)
        True
        """
        return self.read(z, slice_index=index)[0]

    def voxels(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The logits of the output voxels ``index`` only: ``forward(z).flatten(2)[:, :, flat]``, to float rounding.

        Each output voxel of the last transposed convolution (kernel 4, stride 2, padding 1 along every
        axis) is made from the 2×2×2 input voxels ``i = (o + 1 - k) / 2`` that are whole numbers, with the
        kernel's taps ``k``, which depend only on the parity of ``o`` along each axis; so the voxels of one
        parity class are one product of their gathered inputs (channels side by side) with that class's
        taps. A long-axis view reads the 8 corners of each of its pixels (trilinear interpolation), about 2 %
        of the grid (:meth:`cardiosr.optimise.losses.LongAxisLoss.forward_voxels`).

        Parameters
        ----------
        z:
            ``(B, latent_dim)`` latent codes.
        index:
            ``(n, 3)`` integer output voxel indices ``(d, h, w)``, in any order, repeats allowed.

        Returns
        -------
        torch.Tensor
            ``(B, 4, n)`` logits.

        Examples
        --------
        >>> prior = VAE3D(latent_dim=4, width=2, levels=2, max_channels=4, grid_shape=(8, 16, 16)).eval()
        >>> decode, z = prior.frozen_decoder(), torch.randn(2, 4)
        >>> index = torch.tensor([[0, 0, 0], [7, 15, 15], [3, 8, 1], [3, 8, 1]])
        >>> full = decode(z)[:, :, index[:, 0], index[:, 1], index[:, 2]]
        >>> torch.allclose(decode.voxels(z, index), full, atol=1e-5)
        True
        """
        return self.read(z, voxel_index=index)[1]

    def read(
        self, z: torch.Tensor, *, slice_index: torch.Tensor | None = None, voxel_index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """:meth:`slices` and :meth:`voxels` of one pass through the layers before the last: ``(slices, voxels)``,
        each ``None`` when its index is."""
        if not self._last_layer_halves():
            full = self.forward(z)
            slices = None if slice_index is None else full[:, :, slice_index]
            voxels = None if voxel_index is None else full[:, :, *voxel_index.unbind(1)]
            return slices, voxels
        x = self.decoder[:-1](self._features(z)).permute(0, 2, 3, 4, 1)  # (B, D_in, H_in, W_in, C_in)
        # for the slices a zero slice at both ends (a tap beyond the input reads zero)
        slices = None if slice_index is None else self._slices_from(F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1)), slice_index)
        voxels = None if voxel_index is None else self._voxels_from(x, voxel_index)
        return slices, voxels

    def _last_layer_halves(self) -> bool:
        """Whether the last layer is a plain transposed convolution of kernel 4, stride 2, padding 1."""
        last = self.decoder[-1]
        return (
            isinstance(last, nn.ConvTranspose3d)
            and last.kernel_size == (4, 4, 4)
            and last.stride == (2, 2, 2)
            and last.padding == (1, 1, 1)
            and last.groups == 1
            and last.dilation == (1, 1, 1)
            and not any(last.output_padding)
        )

    def _slices_from(self, padded: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """:meth:`slices` from the last layer's input, ``(B, D_in + 2, H_in, W_in, C)`` padded along D."""
        last = self.decoder[-1]
        b, _, h, w, c_in = padded.shape
        order, outputs = [], []
        for parity, taps in ((0, (1, 3)), (1, (0, 2))):  # the taps k with (o + 1 - k) even
            chosen = torch.nonzero(index % 2 == parity).flatten()
            if chosen.numel() == 0:
                continue
            o, n = index[chosen], len(chosen)
            inputs = padded.index_select(1, torch.cat([(o + 1 - k) // 2 + 1 for k in taps]))  # (B, 2n, H, W, C)
            # (B·n, 2C, H, W) in channels-last memory, which the 2D transposed convolution runs fastest on
            stacked = inputs.view(b, 2, n, h, w, c_in).permute(0, 2, 3, 4, 1, 5).reshape(b * n, h, w, 2 * c_in)
            stacked = stacked.permute(0, 3, 1, 2)
            weight = torch.cat([last.weight[:, :, k] for k in taps], 0)
            y = F.conv_transpose2d(
                stacked, weight, last.bias, stride=last.stride[1:], padding=last.padding[1:], dilation=last.dilation[1:]
            )
            order.append(chosen)
            outputs.append(y.contiguous().view(b, n, *y.shape[1:]))  # (B, n, C, H, W)
        out = _Interleave.apply(order, *outputs) if len(outputs) > 1 else outputs[0]
        return out.permute(0, 2, 1, 3, 4)

    def _voxels_from(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """:meth:`voxels` from the last layer's input ``x``, ``(B, D_in, H_in, W_in, C)``."""
        last = self.decoder[-1]
        b, c_in = x.shape[0], x.shape[-1]
        padded = F.pad(x, (0, 0, 1, 1, 1, 1, 1, 1))  # zeros around (a tap beyond the input reads zero)
        size, n_h, n_w = padded[0, ..., 0].numel(), padded.shape[2], padded.shape[3]
        flat = padded.reshape(-1, c_in)  # (B · (D_in + 2)(H_in + 2)(W_in + 2), C)
        taps = torch.tensor([[1, 3], [0, 2]], device=index.device)  # the taps k with (o + 1 - k) even, by parity
        parity = index % 2
        classes = parity[:, 0] * 4 + parity[:, 1] * 2 + parity[:, 2]
        order = torch.argsort(classes, stable=True)  # the voxels by parity class, one block per class
        o, k = index[order], taps[parity[order]]  # (n, 3), (n, 3, 2)
        i = (o[:, :, None] + 1 - k) // 2 + 1  # (n, 3, 2) padded input indices
        rows = ((i[:, 0, :, None, None] * n_h + i[:, 1, None, :, None]) * n_w + i[:, 2, None, None, :]).reshape(-1)
        rows = (rows + size * torch.arange(b, device=rows.device)[:, None]).reshape(-1)  # every batch item's
        # (B, n, 8·C): the 2×2×2 inputs of each voxel (D tap slowest), channels side by side
        gathered = flat.index_select(0, rows).view(b, -1, 8 * c_in)
        counts = [c for c in torch.bincount(classes, minlength=8).tolist() if c]
        starts = [sum(counts[:j]) for j in range(len(counts))]
        outputs = []
        for start, block in zip(starts, torch.split(gathered, counts, dim=1), strict=True):
            kk = k[start]  # (3, 2): this class's two taps along each axis
            weight = last.weight[:, :, kk[0]][:, :, :, kk[1]][:, :, :, :, kk[2]]  # (C_in, C_out, 2, 2, 2)
            product = torch.matmul(block, weight.permute(2, 3, 4, 0, 1).reshape(8 * c_in, -1))
            outputs.append(product if last.bias is None else product + last.bias)
        out = torch.cat(outputs, 1)  # (B, n, C_out) in class order
        return out.index_select(1, torch.argsort(order)).permute(0, 2, 1)


class _Interleave(torch.autograd.Function):
    """Parts ``(B, n_i, ...)`` written into one ``(B, Σ n_i, ...)`` at the positions ``indices[i]`` along axis 1.

    What ``torch.cat(parts, 1).index_select(1, argsort(cat(indices)))`` gives, in one write, and whose
    backward reads each part's rows of the gradient (``index_select``'s backward would first fill a zero
    tensor of the whole size, then add into it): the latent search runs this every iteration.
    """

    @staticmethod
    def forward(ctx: Any, indices: Sequence[torch.Tensor], *parts: torch.Tensor) -> torch.Tensor:
        first = parts[0]
        out = first.new_empty(first.shape[0], sum(len(i) for i in indices), *first.shape[2:])
        for index, part in zip(indices, parts, strict=True):
            out.index_copy_(1, index, part)
        ctx.indices = indices
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (None, *(grad.index_select(1, index) for index in ctx.indices))


def _fold_batchnorm(conv: nn.ConvTranspose3d, norm: nn.BatchNorm3d) -> None:
    """Fold an eval-mode ``BatchNorm3d`` into the ``ConvTranspose3d`` before it (in place)."""
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        conv.weight.mul_(scale.view(1, -1, 1, 1, 1))  # ConvTranspose3d weight: (in, out, k, k, k)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
        conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)
