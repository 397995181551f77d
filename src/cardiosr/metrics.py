"""Evaluation metrics (Dice so far; distances, topology and volumes follow with the metrics issue)."""

from __future__ import annotations

import numpy as np

from cardiosr.labels import STRUCTURES


def dice(prediction: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Dice overlap per structure (LV, MYO, RV) of two internal label maps on the same grid.

    Parameters
    ----------
    prediction, reference:
        Integer arrays of internal labels, same shape.
    mask:
        Optional boolean array: only voxels where it is True count.

    Returns
    -------
    dict
        ``{'LV': ..., 'MYO': ..., 'RV': ...}``; a structure absent from both is scored 1.0.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([0, 1, 1, 2, 3]); b = np.array([0, 1, 2, 2, 3])
    >>> dice(a, b)
    {'LV': 0.6666666666666666, 'MYO': 0.6666666666666666, 'RV': 1.0}
    """
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {reference.shape}")
    if mask is not None:
        prediction, reference = prediction[mask], reference[mask]
    out = {}
    for value, name in STRUCTURES:
        p, r = prediction == value, reference == value
        total = int(p.sum()) + int(r.sum())
        out[name] = 1.0 if total == 0 else 2.0 * float((p & r).sum()) / total
    return out
