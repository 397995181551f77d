"""Latent optimisation: joint motion correction and super-resolution (paper §2.2, Eq. 3–5, Algorithm 1).

Given a low-resolution short-axis label map ``S_LR`` (and optionally long-axis maps ``S_LA``), find the
latent code ``z`` of a prior ``G`` and the in-plane shift ``d`` (mm) of every short-axis slice that minimise

* Eq. 3, :class:`ShortAxisLoss`: ``L_SA(z, d) = CE(M_d(↓s G(z)), S_LR)``,
* Eq. 4, :class:`LongAxisLoss`: ``L_LA(z) = CE(R(G(z)), S_LA)``,
* Eq. 5, :func:`multi_view_loss`: ``L(z, d) = L_SA + γ · Σ_views L_LA`` (γ = 1 with a long-axis view, else 0),

with Adam on ``z`` and ``d`` (:func:`latent_optimisation`, Algorithm 1) until :class:`StoppingRule` (the
paper's "mean relative change of the loss below 5 %") or an iteration cap. Beyond the paper, each behind an
option of :class:`OptimiseOptions`: an encoder warm start, restarts with a per-voxel uncertainty map, many
subjects in one batch, and a data-consistency stage (:func:`refine_consistency`). The published
procedure's schedule is re-implemented as ``schedule='reference'`` to benchmark against.

Gauge
-----
Shifting every slice by the same vector and moving the heart the other way gives the same loss, so
``d`` is fixed up to that common translation by the **zero-mean gauge**: the shifts of the slices that
hold heart labels sum to zero (slices with no heart labels carry no information and keep ``d = 0``).
With a long-axis view the long-axis plane fixes the world position and the mean shift is estimated too
(gauge ``'long-axis'``).

Modules
-------
``options`` (:class:`OptimiseOptions`, no torch) · ``stopping`` (:class:`StoppingRule`) · ``losses`` (Eq. 3–4 and
the motion prior) · ``problem`` (one subject, Eq. 5) · ``init`` (gauge, starts of ``d`` and ``z``) · ``run`` (one
run's state) · ``motion_test`` · ``search`` (Algorithm 1, both schedules) · ``refine`` (data consistency) ·
``result`` (:class:`OptimisationResult`) · ``cycle`` (a cine: shifts shared by all frames, one ``z`` per frame,
:func:`cycle_optimisation`). The names below are imported on first use, so that the torch-free
``options`` can be read (by the command line's ``--help``) without loading torch.
"""

from __future__ import annotations

from cardiosr.lazy import lazy_exports

_WHERE = {
    "MOTION_AMPLITUDE_MM": "losses",
    "MOTION_VARIANCE_MM2": "losses",
    "motion_prior_term": "losses",
    "cross_entropy": "losses",
    "ShortAxisLoss": "losses",
    "LongAxisLoss": "losses",
    "Problem": "problem",
    "make_problem": "problem",
    "multi_view_loss": "problem",
    "GAUGE_ZERO_MEAN": "init",
    "GAUGE_LONG_AXIS": "init",
    "GAUGE_NOT_ESTIMATED": "init",
    "apply_gauge": "init",
    "centroid_shifts": "init",
    "INITIAL_SHIFTS": "init",
    "shift_slices": "init",
    "OptimiseOptions": "options",
    "StoppingRule": "stopping",
    "OptimisationResult": "result",
    "latent_optimisation": "search",
    "refine_consistency": "refine",
    "cycle_optimisation": "cycle",
    "CycleFit": "cycle",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
