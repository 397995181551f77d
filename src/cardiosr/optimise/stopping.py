"""The stopping rule of the latent search (paper §2.3: mean relative change of the loss below 5 %)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from cardiosr.errors import InputError


class StoppingRule:
    """The paper's stopping rule: stop when the mean relative change of the loss falls below ``tolerance``.

    The relative change is measured between two consecutive windows of ``window`` iterations:
    ``(mean(L over the previous window) - mean(L over the last window)) / mean(L over the previous window)``,
    so noise of single Adam steps does not stop (or prolong) the search. With the defaults of
    :class:`~cardiosr.optimise.options.OptimiseOptions` (window 5, 5 %) the search stops once five more
    iterations improved the loss by less than 5 %. It is checked only after ``2 * window`` iterations.

    Examples
    --------
    >>> rule = StoppingRule(window=2, tolerance=0.05)
    >>> [rule.converged(h) for h in ([4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 0.99, 0.98])]
    [False, True]
    """

    def __init__(self, window: int, tolerance: float) -> None:
        if window < 1 or not tolerance > 0:
            raise InputError(f"the stopping window must be ≥ 1 and the tolerance > 0 (got {window}, {tolerance})")
        self.window = int(window)
        self.tolerance = float(tolerance)

    def relative_change(self, history: Sequence[float]) -> float:
        """The relative change between the last two windows of ``history`` (``inf`` if too short)."""
        import numpy as np  # here: the options module (and `cardiosr --help`) reads this one without numpy

        w = self.window
        if len(history) < 2 * w:
            return math.inf
        previous = float(np.mean(history[-2 * w : -w]))
        last = float(np.mean(history[-w:]))
        return (previous - last) / max(abs(previous), 1e-12)

    def converged(self, history: Sequence[float]) -> bool:
        """True once the relative change is below the tolerance."""
        return self.relative_change(history) < self.tolerance
