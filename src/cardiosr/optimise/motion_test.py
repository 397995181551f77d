"""The motion test (beyond the paper): do the data support motion? ``d = 0`` against the estimates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cardiosr.optimise.losses import EPS
from cardiosr.optimise.options import OptimiseOptions
from cardiosr.optimise.run import Run


def motion_decision(
    fixed: Run, still: Run, others: Sequence[Run], options: OptimiseOptions
) -> tuple[Run, dict[str, Any]]:
    """The motion test: which hypothesis explains the stack (``d = 0``, the estimate, the searched estimate).

    With a second estimate, the fixed hypothesis is the one of the two estimates with the lower loss
    (``motion["estimate"]`` names it).
    """
    estimate, estimate_losses = options.init_shifts, {options.init_shifts: round(fixed.state.total, 6)}
    second = [r for r in others if r.second]
    if second:
        estimate_losses[str(options.second_estimate)] = round(second[0].state.total, 6)
        if second[0].state.total < fixed.state.total:
            fixed, estimate = second[0], options.second_estimate
    loss_0, loss_d = still.state.total, fixed.state.total
    gain = (loss_0 - loss_d) / max(loss_0, EPS)
    motion: dict[str, Any] = {
        "supported": bool(gain > options.motion_threshold),
        "hypothesis": "estimated" if gain > options.motion_threshold else "none",
        "estimate": estimate,
        "loss_without_motion": round(loss_0, 6),
        "loss_with_motion": round(loss_d, 6),
        "relative_gain": round(gain, 4),
        "threshold": options.motion_threshold,
        "motion_prior_lambda": options.motion_prior,
    }
    if second:
        motion["estimate_losses"] = estimate_losses
    chosen = fixed if gain > options.motion_threshold else still
    searched = [r for r in others if r.search]
    if searched:
        loss_s = searched[0].state.total
        gain_s = (loss_0 - loss_s) / max(loss_0, EPS)
        motion.update(
            loss_searched=round(loss_s, 6),
            relative_gain_searched=round(gain_s, 4),
            search_threshold=options.search_threshold,
        )
        if chosen is still and options.search_threshold is not None and gain_s > options.search_threshold:
            chosen = searched[0]
            motion.update(supported=True, hypothesis="searched")
    return chosen, motion
