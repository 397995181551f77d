"""What the optimisation found for one subject (:class:`OptimisationResult`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiosr.optimise.init import GAUGE_ZERO_MEAN


@dataclass
class OptimisationResult:
    """What the optimisation found for one subject (best restart, after the consistency stage if run).

    Attributes
    ----------
    probs:
        ``(4, 64, 128, 128)`` class probabilities on the canonical grid (``None`` once :meth:`release_maps`
        dropped them).
    z:
        The latent code ``(M,)``.
    shifts_mm:
        ``(D, 2)`` gauge-fixed shift of every short-axis slice along the stack's rows and columns (mm;
        slice content moved by ``+d``).
    history:
        One row per iteration: ``{'stage', 'iteration', 'total', 'sa', 'la0', ...}``.
    iterations:
        Iterations of the latent search (best restart) and of the consistency stage.
    converged:
        Whether the stopping rule ended the latent search (False: the iteration cap did).
    final:
        The final loss and its parts.
    restart_losses:
        Final latent-search loss of every restart.
    uncertainty:
        ``(64, 128, 128)`` share of restarts that disagree with the most common label (0 agree … 1), or
        ``None`` with a single start.
    seconds:
        Wall time of this subject's optimisation (a batch's time is shared equally).
    gauge:
        How the common translation of ``shifts_mm`` is fixed (:data:`GAUGE_ZERO_MEAN` or :data:`GAUGE_LONG_AXIS`).
    latent_probs:
        ``G(z)`` as probabilities before the data-consistency stage (``None`` if it did not run, and for the
        frames of a cine).
    motion:
        With ``motion_test``: the decision whether the data support motion and its evidence (losses with
        and without shifts, relative gain, threshold, λ).
    output_labels:
        With the fusion (:mod:`cardiosr.fidelity`): its ``uint8`` labels fused on the output grid itself
        (:func:`cardiosr.geometry.hr_grid` of the input), which the result in the world frame is; ``None``
        without the fusion (the output is then resampled from :attr:`probs`) and once :meth:`release_maps` ran.
    """

    probs: np.ndarray | None
    z: np.ndarray
    shifts_mm: np.ndarray
    history: list[dict[str, float | int | str]]
    iterations: dict[str, int]
    converged: bool
    final: dict[str, float]
    restart_losses: list[float]
    uncertainty: np.ndarray | None = None
    seconds: float = 0.0
    gauge: str = GAUGE_ZERO_MEAN
    latent_probs: np.ndarray | None = None
    motion: dict | None = None
    output_labels: np.ndarray | None = None

    def release_maps(self) -> None:
        """Drop the canonical probability maps (16 MB each) once the result is finished: a cine keeps every
        frame's result, and its memory must not grow by the maps of every frame."""
        self.probs = None
        self.latent_probs = None
        self.output_labels = None
