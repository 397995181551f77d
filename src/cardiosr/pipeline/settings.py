"""Every setting of ``cardiosr enhance`` in one frozen dataclass, :class:`EnhanceSettings` (no torch).

The command line generates the options of ``enhance`` and ``batch`` from its fields (and those of
:class:`~cardiosr.optimise.options.OptimiseOptions`, held in ``optimise``), help text and defaults included,
so each setting has one definition and one default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cardiosr.errors import InputError
from cardiosr.labels import DEFAULT_CONVENTION
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.option_fields import option

#: The methods of ``enhance(method=...)``: latent optimisation and the paper's three baselines (§2.1).
METHODS = ("lo", "nn", "sbi", "edsr")
#: The device choices (``auto``: CUDA when present, else CPU).
DEVICES = ("auto", "cpu", "cuda")
#: Mesh formats of ``--mesh``.
MESH_FORMATS = ("vtk", "stl")


@dataclass(frozen=True, kw_only=True)
class EnhanceSettings:
    """How one subject is enhanced: method, models, device, optimisation, extra outputs.

    Attributes
    ----------
    method:
        ``'lo'`` (latent optimisation) or a baseline of the paper's §2.1: ``'nn'``, ``'sbi'``, ``'edsr'``
        (baselines correct no motion and ignore ``optimise``).
    prior:
        ``'default'`` (the shipped prior), a ``.safetensors`` file or training folder, ``'srheart:PATH'``, or
        a loaded :class:`~cardiosr.prior.GenerativePrior` (Python only).
    edsr:
        For ``method='edsr'``: a ``cardiosr train-edsr`` checkpoint, a loaded model, or ``None`` (the
        shipped normal-motion model).
    convention:
        Label convention of the input files (``--labels``) (``'ukbb'``, ``'mnms'``, ``'acdc'`` or ``'auto'``).
    slice_axis:
        The short-axis file's on-disk slice axis (0, 1, 2); ``None`` chooses it.
    ignore_labels:
        On-disk label values read as background in every input (e.g. ``(4, 5)`` or ``"4,5"``).
    device:
        ``'auto'`` (CUDA when present), ``'cpu'`` or ``'cuda'``.
    gamma:
        γ of Eq. 5 (mm-free weight of the long-axis loss); ``None``: 1 with a long-axis view, else 0.
    snap_slices:
        Move the canonical grid by at most 1 mm along its slice axis so that the stack's slices lie on its
        planes when the slice spacing is a whole number of canonical slices (10 mm, 20 mm): the latent search
        then decodes one plane per slice instead of two, about 30 % less time, but the grid is no longer
        centred on the heart as the prior was trained, and on ACDC the mean Dice is 0.004 lower with 26
        instead of 18 of 100 files below interpolation (``docs/benchmarks.md``, section *real-data-snap*).
        Off by default.
    optimise:
        :class:`~cardiosr.optimise.options.OptimiseOptions`.
    figure, mesh:
        Write ``figure.png``; write ``LV/MYO/RV`` surface meshes (``'vtk'`` or ``'stl'``, ``None``: none).
    frames:
        For a cine: the frames that get a shape (``'ED,ES'``, ``'0,12'``; ``None``: all); the shifts always
        come from every frame (:meth:`~cardiosr.pipeline.enhancer.Enhancer.run_cycle`).

    Examples
    --------
    >>> s = EnhanceSettings.from_keywords(method="sbi", max_iterations=20)
    >>> s.method, s.optimise.max_iterations, s.device
    ('sbi', 20, 'auto')
    """

    method: str = option("lo", "lo (latent optimisation, default) or a baseline: nn, sbi (shape-based), edsr",
                         choices=METHODS)  # fmt: skip
    prior: Any = option("default", "default, a .safetensors/folder, or srheart:PATH")
    edsr: Any = option(None, "EDSR checkpoint for --method edsr (default: the shipped normal-motion model)", kind=str)
    convention: str = DEFAULT_CONVENTION
    slice_axis: int | None = None
    ignore_labels: Any = ()
    device: str = option("auto", "auto (CUDA if present), cpu or cuda (default {default})", choices=DEVICES)
    gamma: float | None = option(None, "weight γ of the long-axis loss (default 1 with --la, paper)", kind=float)
    snap_slices: bool = option(
        False,
        "put the slices on canonical planes (grid moved ≤ 1 mm): about 30%% faster, ACDC 0.004 lower mean Dice",
    )
    optimise: OptimiseOptions = field(default_factory=OptimiseOptions)
    figure: bool = option(True, "do not write figure.png")
    mesh: str | None = option(
        None, "also write LV/MYO/RV surface meshes in world coordinates", choices=MESH_FORMATS, kind=str
    )
    frames: str | None = option(
        None,
        "cine only: the frames that get a shape, e.g. ED,ES or 0,12 (default: all; shifts use every frame)",
        kind=str,
    )

    def check(self) -> None:
        """Raise :class:`InputError` on settings that cannot work (before any file is read)."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r} (choose one of: {', '.join(METHODS)})")
        if self.edsr is not None and str(self.edsr) != "default" and self.method != "edsr":
            raise InputError("--edsr is only used with --method edsr")
        if self.mesh is not None and self.mesh not in MESH_FORMATS:
            raise InputError(f"mesh must be one of {', '.join(MESH_FORMATS)}, got {self.mesh!r}")
        self.optimise.check()

    @classmethod
    def from_keywords(cls, **keywords: Any) -> EnhanceSettings:
        """Settings from keywords: fields of this class and of :class:`OptimiseOptions` (one-line error otherwise)."""
        own = {f.name for f in dataclasses.fields(cls)} - {"optimise"}
        optimise_fields = {f.name for f in dataclasses.fields(OptimiseOptions)}
        unknown = sorted(set(keywords) - own - optimise_fields)
        if unknown:
            known = ", ".join(sorted(own | optimise_fields))
            raise InputError(f"unknown option(s) {', '.join(unknown)} (known: {known})")
        optimise = OptimiseOptions(**{k: v for k, v in keywords.items() if k in optimise_fields})
        settings = cls(**{k: v for k, v in keywords.items() if k in own}, optimise=optimise)
        settings.check()
        return settings
