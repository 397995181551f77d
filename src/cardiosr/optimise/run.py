"""One run of the latent search (a restart or a motion-test hypothesis of one subject) and its best state."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Snapshot:
    """The state of a run at one iteration: ``z``, ``d`` and the loss with its parts.

    Attributes
    ----------
    z, d:
        The latent code ``(M,)`` and the shifts ``(D_max, 2)`` mm, detached copies.
    iteration:
        The iteration it was taken at.
    losses:
        ``{'total', 'sa', 'la0', ..., 'motion'}`` as floats (``total`` includes the motion-prior term).
    """

    z: torch.Tensor
    d: torch.Tensor
    iteration: int
    losses: dict[str, float]

    @property
    def total(self) -> float:
        """The run's objective at this iteration."""
        return float(self.losses["total"])


@dataclass(eq=False)  # runs are compared by identity
class Run:
    """One start of one subject in the batch of :func:`cardiosr.optimise.latent_optimisation`.

    Attributes
    ----------
    problem, restart:
        Index of its subject and of its restart.
    zero_motion, search, second:
        The motion-test hypothesis it fits: ``d = 0``; ``d`` searched with ``z``; the second fixed estimate.
        All false: ``d`` kept at the first estimate (or searched, with ``shift_search``).
    freed, since:
        A fixed-estimate run whose shifts were freed when the motion test kept it
        (:attr:`~cardiosr.optimise.options.OptimiseOptions.estimate_search`): from then on ``d`` is searched too,
        and the stopping rule reads its history from row ``since`` on.
    motion_prior:
        λ of its motion-prior term (0: none).
    history, done, converged, best:
        Its loss rows, whether it stopped and by the stopping rule, and the :class:`Snapshot` kept.
    decided_at, decision:
        The iteration at which the motion test decided for its subject and stopped the other hypotheses
        (``None``: it did not decide early), and the losses and relative gains it decided on then.
    start:
        The shifts ``(D, 2)`` mm it started from (``None`` for the ``d = 0`` hypothesis).
    """

    problem: int
    restart: int
    zero_motion: bool = False
    search: bool = False
    second: bool = False
    freed: bool = False
    since: int = 0
    motion_prior: float = 0.0
    history: list[dict] = field(default_factory=list)
    done: bool = False
    converged: bool = False
    best: Snapshot | None = None
    decided_at: int | None = None
    decision: dict | None = None
    start: np.ndarray | None = None

    @property
    def moves_shifts(self) -> bool:
        """Whether its shifts are searched now (a searching run, or a freed estimate)."""
        return self.search or self.freed

    @property
    def state(self) -> Snapshot:
        """The kept snapshot (every run has one after the search's first iteration)."""
        if self.best is None:
            raise RuntimeError("this run has not been evaluated yet")
        return self.best


def snapshot(run: Run, z: torch.Tensor, d: torch.Tensor, i: int, row: dict, iteration: int) -> None:
    """Keep row ``i`` of ``z`` and ``d`` and the loss ``row`` as ``run``'s state."""
    run.best = Snapshot(z[i].detach().clone(), d[i].detach().clone(), iteration, dict(row))
