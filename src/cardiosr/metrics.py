"""Evaluation metrics of a super-resolved label map against a reference (paper §4, issue 7).

Flat functions on internal label arrays ``(D, H, W)`` (0 background, 1 LV, 2 MYO, 3 RV) with the voxel
size in mm where lengths matter:

* :func:`dice`: overlap per structure;
* :func:`shift_optimal_dice`: Dice after the best common in-plane translation of the prediction (the
  motion model only determines the heart up to one common in-plane translation: ``(S, d)`` and
  ``(S shifted by t, d - t)`` explain the same stack, so a method should not be penalised for it);
* :func:`surface_distances`: 95th-percentile Hausdorff distance and mean (symmetric) surface distance, mm;
* :func:`plausibility`: connected components, holes, and whether the myocardium separates the LV blood
  pool from background and from the RV;
* :func:`clinical_volumes`: LV and RV cavity volume (mL) and LV myocardial mass (g);
* :func:`evaluate`: all of the above in one flat dict (one row of a per-case CSV);
* :func:`long_axis_dice`: a 3D result sliced along a long-axis view's plane against that view's labels
  (the paper's Table 3 protocol, where no 3D ground truth exists).
* :func:`shape_measures`: LV length, wall thickness, RV/LV volume, how far the RV wraps round the septum,
  RV/LV length and long-axis tilt of a canonical map (how phantoms are compared with real hearts);
* :func:`paired_difference`: two methods' scores on the same cases compared case by case, with a bootstrap
  confidence interval of the mean difference (whether a gap between two methods is more than noise);

The distance and topology functions use :mod:`scipy.ndimage` (Euclidean distance transform with the
voxel size as ``sampling``, connected-component labelling, hole filling). MONAI's implementations would
fit as well but pull a large dependency for three functions; the definitions here follow MONAI's
``compute_hausdorff_distance(percentile=95)`` and ``compute_average_surface_distance(symmetric=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, signal

from cardiosr.geometry import resample_labels
from cardiosr.labels import LV, MYO, RV, STRUCTURES
from cardiosr.volume import LabelVolume

#: Density of myocardium used for the LV mass (g/mL).
MYOCARDIAL_DENSITY_G_PER_ML = 1.05
#: Default search range of :func:`shift_optimal_dice`: ±this many mm along each in-plane axis.
SHIFT_SEARCH_MM = 10.0
#: :func:`plausibility` does not check the LV's separation within this many mm of either end of the LV: one
#: clinical short-axis slice, where the base opens to the atrium and the outflow tract.
PLAUSIBILITY_END_MM = 10.0


def _check(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, reference = np.asarray(prediction), np.asarray(reference)
    if prediction.shape != reference.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {reference.shape}")
    return prediction, reference


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
    prediction, reference = _check(prediction, reference)
    if mask is not None:
        prediction, reference = prediction[mask], reference[mask]
    out = {}
    for value, name in STRUCTURES:
        p, r = prediction == value, reference == value
        total = int(p.sum()) + int(r.sum())
        out[name] = 1.0 if total == 0 else 2.0 * float((p & r).sum()) / total
    return out


def shift_optimal_dice(
    prediction: np.ndarray,
    reference: np.ndarray,
    spacing: Sequence[float],
    search_mm: float = SHIFT_SEARCH_MM,
) -> tuple[dict[str, float], tuple[float, float]]:
    """Dice per structure after the best common in-plane translation of ``prediction``.

    Every translation by a whole number of voxels along ``H`` and ``W`` within ±``search_mm`` (mm) is
    tried at once: the overlap of each structure for all translations is one cross-correlation
    (:func:`scipy.signal.fftconvolve`, voxels shifted in from outside the grid are background). The
    translation maximising the mean Dice of the three structures is kept.

    Parameters
    ----------
    prediction, reference:
        Internal label maps ``(D, H, W)`` on the same grid.
    spacing:
        Voxel size ``(D, H, W)`` in mm.
    search_mm:
        Half-width of the search along each in-plane axis, mm (default :data:`SHIFT_SEARCH_MM`; 10 mm
        covers the common translation of severe simulated motion, about 9.2 mm/√12 ≈ 2.7 mm on average).

    Returns
    -------
    (dict, (float, float))
        Dice per structure at the best translation, and that translation ``(H, W)`` in mm (the prediction
        moved by it).

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.zeros((1, 12, 12), np.uint8); ref[0, 3:7, 3:7] = 1
    >>> pred = np.roll(ref, 2, axis=2)  # the same square two columns to the right
    >>> scores, t = shift_optimal_dice(pred, ref, (2.0, 1.25, 1.25))
    >>> scores["LV"], t
    (1.0, (0.0, -2.5))
    """
    prediction, reference = _check(prediction, reference)
    spacing = np.asarray(spacing, float)
    rh, rw = (int(np.floor(search_mm / s + 1e-9)) for s in spacing[1:])
    n_h, n_w = prediction.shape[1:]
    scores = np.zeros((2 * rh + 1, 2 * rw + 1))
    per: dict[str, np.ndarray] = {}
    for value, name in STRUCTURES:
        p = (prediction == value).astype(np.float32)
        r = (reference == value).astype(np.float32)
        if not p.any() and not r.any():
            per[name] = np.ones_like(scores)
        elif not p.any() or not r.any():
            per[name] = np.zeros_like(scores)
        else:
            # overlap[t] = sum_x p(x - t) r(x): correlation of r with p over the in-plane axes, summed over D
            corr = signal.fftconvolve(r, p[:, ::-1, ::-1], mode="full", axes=(1, 2)).sum(0)
            centre_h, centre_w = n_h - 1, n_w - 1  # zero translation in the 'full' output
            window = np.zeros_like(scores)
            h0, w0 = max(0, rh - centre_h), max(0, rw - centre_w)
            sub = corr[
                max(0, centre_h - rh) : centre_h + rh + 1,
                max(0, centre_w - rw) : centre_w + rw + 1,
            ]
            window[h0 : h0 + sub.shape[0], w0 : w0 + sub.shape[1]] = sub
            # the prediction's size shrinks when part of it leaves the grid; sizes are counted unshifted,
            # so a translation never gains by pushing voxels out
            per[name] = 2.0 * np.clip(np.rint(window), 0, None) / (p.sum() + r.sum())
        scores += per[name] / len(STRUCTURES)
    best = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if scores[best] <= scores[rh, rw] + 1e-12:  # ties keep no translation
        best = (rh, rw)
    translation = (float((best[0] - rh) * spacing[1]), float((best[1] - rw) * spacing[2]))
    return {name: float(per[name][best]) for _, name in STRUCTURES}, translation


def slicewise_shift_optimal(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float], search_mm: float
) -> np.ndarray:
    """``prediction`` with each slice moved to its own best in-plane translation (:func:`shift_optimal_dice`).

    For slices whose breath-hold offset is unknowable (slices left out of a stack and scored against it),
    each slice is moved by the whole-voxel translation within ±``search_mm`` (mm) that maximises its mean
    Dice; voxels moved in from outside the grid are background.

    Examples
    --------
    >>> ref = np.zeros((2, 12, 12), np.uint8); ref[:, 3:7, 3:7] = 1
    >>> pred = ref.copy(); pred[1] = np.roll(ref[1], 2, axis=1)   # the second slice two rows off
    >>> bool((slicewise_shift_optimal(pred, ref, (10.0, 1.25, 1.25), 5.0) == ref).all())
    True
    """
    moved = np.zeros_like(prediction)
    h, w = prediction.shape[1:]
    for k in range(prediction.shape[0]):
        _, (dh, dw) = shift_optimal_dice(prediction[k : k + 1], reference[k : k + 1], spacing, search_mm=search_mm)
        sh, sw = int(round(dh / spacing[1])), int(round(dw / spacing[2]))
        src = prediction[k, max(0, -sh) : h - max(0, sh), max(0, -sw) : w - max(0, sw)]
        moved[k, max(0, sh) : h - max(0, -sh), max(0, sw) : w - max(0, -sw)] = src
    return moved


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (the grid's border counts as outside)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_distances(
    prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]
) -> dict[str, dict[str, float]]:
    """95th-percentile Hausdorff distance and mean surface distance per structure, in mm.

    Surfaces are the voxels of a structure with a face neighbour outside it; the distance of each surface
    voxel of one map to the nearest surface voxel of the other comes from a Euclidean distance transform
    with ``sampling=spacing``. ``hd95`` is the larger of the two directed 95th percentiles, ``msd`` the mean
    over both directions' distances together.

    Parameters
    ----------
    prediction, reference:
        Internal label maps ``(D, H, W)`` on the same grid.
    spacing:
        Voxel size ``(D, H, W)`` in mm (anisotropic voxels are measured correctly).

    Returns
    -------
    dict
        ``{'LV': {'hd95': mm, 'msd': mm}, ...}``: 0 when the structure is absent from both maps, ``inf``
        when it is absent from exactly one.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.zeros((1, 1, 10), np.uint8); ref[0, 0, 2:5] = 1
    >>> pred = np.roll(ref, 1, axis=2)
    >>> d = surface_distances(pred, ref, (2.0, 2.0, 1.5))["LV"]  # one voxel of each end is 1.5 mm off
    >>> round(d["hd95"], 3), round(d["msd"], 3)  # 95th percentile of (0, 0, 1.5); mean of (0, 0, 1.5) twice
    (1.35, 0.5)
    """
    prediction, reference = _check(prediction, reference)
    spacing = np.asarray(spacing, float)
    out: dict[str, dict[str, float]] = {}
    for value, name in STRUCTURES:
        p, r = prediction == value, reference == value
        if not p.any() and not r.any():
            out[name] = {"hd95": 0.0, "msd": 0.0}
            continue
        if not p.any() or not r.any():
            out[name] = {"hd95": float("inf"), "msd": float("inf")}
            continue
        # crop to the union's bounding box (plus a margin) so the distance transforms stay small
        idx = np.argwhere(p | r)
        lo, hi = np.maximum(idx.min(0) - 2, 0), idx.max(0) + 3
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        sp, sr = _surface(p[box]), _surface(r[box])
        to_r = ndimage.distance_transform_edt(~sr, sampling=spacing)[sp]
        to_p = ndimage.distance_transform_edt(~sp, sampling=spacing)[sr]
        hd95 = max(float(np.percentile(to_r, 95)), float(np.percentile(to_p, 95)))
        out[name] = {"hd95": hd95, "msd": float(np.concatenate([to_r, to_p]).mean())}
    return out


def _in_plane_neighbours(labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """The labels of the four in-plane face neighbours (along ``H`` and ``W``) of every voxel of a ``(D, H, W)``
    map; beyond the array's edge the myocardium, which touches nothing (an edge is no contact)."""
    padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)), constant_values=MYO)
    return padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]


def exposed_lv(labels: np.ndarray) -> np.ndarray:
    """LV blood-pool voxels of a ``(D, H, W)`` label map that touch the background or the RV in-plane.

    A face neighbour along ``H`` or ``W`` (within the voxel's own short-axis slice) that is background or RV
    blood pool: there the myocardium does not separate the LV blood pool (:func:`plausibility` counts these
    contacts). Through-plane neighbours and the array's edge do not count.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 5, 6), np.uint8); a[0, 1:4, 1:5] = 2; a[0, 2, 2:4] = 1
    >>> bool(exposed_lv(a).any())
    False
    >>> a[0, 2, 4] = 1                 # the blood pool reaches through the wall
    >>> np.argwhere(exposed_lv(a)).tolist()
    [[0, 2, 4]]
    """
    labels = np.asarray(labels)
    lv = labels == LV
    touching = np.zeros_like(lv)
    for neighbour in _in_plane_neighbours(labels):
        touching |= (neighbour == 0) | (neighbour == RV)
    return lv & touching


def plausibility(labels: np.ndarray, slice_mm: float, *, end_mm: float = PLAUSIBILITY_END_MM) -> dict[str, int | bool]:
    """Anatomical plausibility checks of one label map in internal ``(D, H, W)`` order.

    * ``components_LV/MYO/RV``: connected components (26-connectivity) of each structure; 1 is plausible
      (0 if absent).
    * ``holes_LV/MYO/RV``: voxels enclosed by the structure but not part of it (3D hole filling).
    * ``lv_background_contacts``, ``lv_rv_contacts``: in-plane face contacts (along ``H``/``W`` within each
      short-axis slice) between LV blood pool and background or RV. The myocardium separates them when
      both are 0. Through-plane contacts, and the slices within ``end_mm`` of the first and the last slice
      holding LV, are not counted: at the base the cavity opens to the atrium and the outflow tract.
    * ``plausible``: all structures present as one component without holes, and the LV separated.

    Parameters
    ----------
    labels:
        Internal labels ``(D, H, W)``.
    slice_mm:
        Distance between the slices (along ``D``), in mm.
    end_mm:
        Length (mm) at each end of the LV where its separation is not checked (default
        :data:`PLAUSIBILITY_END_MM`, one clinical slice). A length, not a number of slices, so that the same
        heart gets the same verdict on 10 mm slices and on a 2 mm grid: on 10 mm slices only the end slices
        are left out, on a 2 mm grid the five planes at each end.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((3, 7, 9), np.uint8)
    >>> a[:, 1:6, 1:6] = 2; a[:, 2:5, 2:5] = 1; a[:, 1:6, 6:8] = 3
    >>> p = plausibility(a, 10.0); p["plausible"], p["lv_background_contacts"]
    (True, 0)
    >>> a[1, 3, 1:3] = 1  # a gap in the middle slice's myocardial wall, filled by blood pool
    >>> plausibility(a, 10.0)["lv_background_contacts"]
    1
    >>> plausibility(a, 2.0)["lv_background_contacts"]  # 2 mm from either end of the LV: not checked
    0
    """
    labels = np.asarray(labels)
    if labels.any():  # the heart's bounding box and one voxel of background round it: the same counts, faster
        box = tuple(
            slice(max(int(i.min()) - 1, 0), min(int(i.max()) + 2, n))
            for i, n in zip(np.nonzero(labels), labels.shape, strict=True)
        )
        labels = labels[box]
    out: dict[str, int | bool] = {}
    ok = True
    structure = np.ones((3, 3, 3), bool)
    for value, name in STRUCTURES:
        mask = labels == value
        n = int(ndimage.label(mask, structure=structure)[1]) if mask.any() else 0
        holes = int((ndimage.binary_fill_holes(mask) & ~mask).sum()) if mask.any() else 0
        out[f"components_{name}"] = n
        out[f"holes_{name}"] = holes
        ok &= n == 1 and holes == 0
    lv = labels == LV
    slices = np.flatnonzero(lv.any(axis=(1, 2)))
    checked = np.zeros(labels.shape[0], bool)
    if slices.size:
        position = np.arange(labels.shape[0]) * float(slice_mm)
        first, last = position[slices[0]], position[slices[-1]]
        checked[slices] = (position[slices] - first >= end_mm) & (last - position[slices] >= end_mm)
    lv = lv & checked[:, None, None]
    contacts = {"background": 0, "rv": 0}
    for neighbour in _in_plane_neighbours(labels):
        contacts["background"] += int((lv & (neighbour == 0)).sum())
        contacts["rv"] += int((lv & (neighbour == RV)).sum())
    out["lv_background_contacts"] = contacts["background"]
    out["lv_rv_contacts"] = contacts["rv"]
    out["plausible"] = bool(ok and contacts["background"] == 0 and contacts["rv"] == 0)
    return out


def clinical_volumes(labels: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """LV and RV cavity volumes (mL) and LV myocardial mass (g, at 1.05 g/mL) of one label map.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((10, 10, 10), np.uint8); a[:5] = 1; a[5:8] = 2; a[8:] = 3
    >>> clinical_volumes(a, (2.0, 1.0, 1.0))  # 500 LV, 300 MYO, 200 RV voxels of 2 mm^3
    {'LV_ml': 1.0, 'RV_ml': 0.4, 'LV_mass_g': 0.63}
    """
    voxel_ml = float(np.prod(np.asarray(spacing, float))) / 1000.0
    labels = np.asarray(labels)
    count = {value: int((labels == value).sum()) for value in (LV, MYO, RV)}
    return {
        "LV_ml": round(count[LV] * voxel_ml, 10),
        "RV_ml": round(count[RV] * voxel_ml, 10),
        "LV_mass_g": round(count[MYO] * voxel_ml * MYOCARDIAL_DENSITY_G_PER_ML, 10),
    }


#: The keys of :func:`shape_measures`, in table order.
SHAPE_MEASURES = ("LV length mm", "wall mm", "RV/LV volume", "RV wrap deg", "RV/LV length", "tilt deg")


def shape_measures(labels: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Shape measures of a heart on a canonical grid (slices along axis 0, apex first), lengths in mm.

    * ``LV length mm``: extent of LV + MYO along the slice axis (a stack that misses the apex or base is
      shorter);
    * ``wall mm``: ``r_epi − r_endo`` of the equivalent circles (π r² = area) on the middle third of the LV's
      slices, mean;
    * ``RV/LV volume``: cavity volume ratio;
    * ``RV wrap deg``: angle around the LV centre covered by RV pixels on the LV's middle slice (5° bins);
    * ``RV/LV length``: extent of the RV along the slice axis over that of LV + MYO;
    * ``tilt deg``: angle between the slice normal and the line through the LV centroids of the middle half
      of the LV's slices (on a stack it includes breathing offsets between slices).

    Parameters
    ----------
    labels:
        ``(D, H, W)`` internal labels with LV labels on at least two slices.
    spacing:
        Voxel size ``(D, H, W)``, mm.

    Examples
    --------
    A straight LV of 10 slices with an RV on one side (a half ring, 180°) along 5 of them:

    >>> yy, xx = np.mgrid[:40, :40] - 19.5
    >>> r = np.hypot(yy, xx)
    >>> sl = np.where(r < 6, 1, np.where(r < 9, 2, np.where((r < 14) & (xx > 0), 3, 0)))
    >>> heart = np.stack([sl if k >= 5 else np.where(sl == 3, 0, sl) for k in range(10)])
    >>> m = shape_measures(heart, (2.0, 1.0, 1.0))
    >>> m["LV length mm"], m["RV/LV length"], m["RV wrap deg"], round(m["tilt deg"], 1)
    (20.0, 0.5, 180.0, 0.0)
    """
    spacing = np.asarray(spacing, float)
    area = {v: (labels == v).sum(axis=(1, 2)) * spacing[1] * spacing[2] for v in (LV, MYO, RV)}
    heart = np.flatnonzero(area[LV] + area[MYO] > 0)
    lv = np.flatnonzero(area[LV] > 0)
    rv = np.flatnonzero(area[RV] > 0)
    third = lv[len(lv) // 3 : max(len(lv) // 3 + 1, 2 * len(lv) // 3)]
    r_endo = np.sqrt(area[LV][third] / np.pi)
    r_epi = np.sqrt((area[LV][third] + area[MYO][third]) / np.pi)
    middle = lv[len(lv) // 2]
    centre = np.argwhere(labels[middle] == LV).mean(0)
    rv_pixels = np.argwhere(labels[middle] == RV)
    wrap = np.nan
    if len(rv_pixels):
        angles = np.degrees(np.arctan2(*(rv_pixels - centre).T * spacing[1:, None]))
        wrap = 5.0 * len(np.unique(np.floor(angles / 5.0)))
    half = lv[len(lv) // 4 : max(len(lv) // 4 + 2, 3 * len(lv) // 4)]
    centroids = np.array([np.argwhere(labels[k] == LV).mean(0) * spacing[1:] for k in half])
    slope = np.polyfit(half * spacing[0], centroids, 1)[0]
    return {
        "LV length mm": float((heart[-1] - heart[0] + 1) * spacing[0]),
        "wall mm": float(np.mean(r_epi - r_endo)),
        "RV/LV volume": float(area[RV].sum() / max(area[LV].sum(), 1e-9)),
        "RV wrap deg": float(wrap),
        "RV/LV length": float((rv[-1] - rv[0] + 1) / (heart[-1] - heart[0] + 1)) if len(rv) else np.nan,
        "tilt deg": float(np.degrees(np.arctan(np.linalg.norm(slope)))),
    }


def ejection_fraction(edv: float, esv: float) -> float | None:
    """``100 · (EDV − ESV) / EDV`` (percent); ``None`` when EDV is 0.

    Examples
    --------
    >>> ejection_fraction(150.0, 60.0)
    60.0
    """
    return None if edv <= 0 else round(100.0 * (edv - esv) / edv, 2)


def paired_difference(
    scores: Sequence[float], reference: Sequence[float], *, confidence: float = 0.95, seed: int = 0
) -> dict[str, float | int]:
    """Two methods' scores on the same cases, compared case by case: ``scores − reference``.

    Parameters
    ----------
    scores, reference:
        One score per case (e.g. mean Dice), the same cases in the same order.
    confidence:
        Level of the interval (default 0.95).
    seed:
        Seed of the bootstrap's resampling (the interval is reproducible).

    Returns
    -------
    dict
        ``mean`` (mean difference), ``low`` and ``high`` (the percentile bootstrap interval of the mean
        difference, :func:`scipy.stats.bootstrap` with 9,999 resamples; both equal ``mean`` when every case
        differs alike), ``better`` and ``worse`` (cases where ``scores`` is above and below ``reference``) and
        ``cases``. An interval that holds 0 says the data do not tell the two methods apart.

    Examples
    --------
    >>> r = paired_difference([0.82, 0.91, 0.77, 0.88], [0.80, 0.90, 0.78, 0.85])
    >>> round(r["mean"], 4), r["better"], r["worse"], r["low"] <= r["mean"] <= r["high"]
    (0.0125, 3, 1, True)
    """
    from scipy import stats

    a, b = np.asarray(scores, float), np.asarray(reference, float)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError("scores and reference need one value per case, the same cases")
    diff = a - b
    mean = float(diff.mean())
    low = high = mean
    if np.ptp(diff) > 0:
        interval = stats.bootstrap(
            (diff,),
            np.mean,
            confidence_level=confidence,
            n_resamples=9999,
            method="percentile",
            rng=np.random.default_rng(seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    return {
        "mean": mean,
        "low": low,
        "high": high,
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
        "cases": len(diff),
    }


def evaluate(
    prediction: np.ndarray,
    reference: np.ndarray,
    spacing: Sequence[float],
    search_mm: float = SHIFT_SEARCH_MM,
) -> dict[str, float | int | bool]:
    """Every metric of this module as one flat dict (a row of the benchmark's per-case CSV).

    Keys: ``dice_LV``…, ``dice_mean``, ``sdice_LV``… (shift-optimal) and ``sdice_mean``, ``shift_h_mm``,
    ``shift_w_mm`` (the best translation), ``hd95_LV``…, ``msd_LV``… (mm), the :func:`plausibility` keys,
    ``LV_ml``/``RV_ml``/``LV_mass_g`` of the prediction and their errors against the reference
    (``err_LV_ml`` = prediction − reference, ...).
    """
    prediction, reference = _check(prediction, reference)
    row: dict[str, float | int | bool] = {}
    d = dice(prediction, reference)
    row.update({f"dice_{k}": v for k, v in d.items()})
    row["dice_mean"] = float(np.mean(list(d.values())))
    sd, (th, tw) = shift_optimal_dice(prediction, reference, spacing, search_mm)
    row.update({f"sdice_{k}": v for k, v in sd.items()})
    row["sdice_mean"] = float(np.mean(list(sd.values())))
    row["shift_h_mm"], row["shift_w_mm"] = th, tw
    for name, values in surface_distances(prediction, reference, spacing).items():
        row[f"hd95_{name}"] = values["hd95"]
        row[f"msd_{name}"] = values["msd"]
    row.update(plausibility(prediction, spacing[0]))
    vols, ref_vols = clinical_volumes(prediction, spacing), clinical_volumes(reference, spacing)
    for key, value in vols.items():
        row[key] = value
        row[f"err_{key}"] = round(value - ref_vols[key], 10)
    return row


def long_axis_dice(result: LabelVolume, la: LabelVolume) -> dict[str, float]:
    """Dice per structure of a 3D label map sliced along a long-axis plane, against that view's labels.

    ``result`` (any grid, world affine) is resampled onto the pixels of ``la`` (a single-slice view in
    the same world space) by per-class linear interpolation; outside ``result``'s grid it is background.
    Every pixel of the view counts (paper §3.2, Table 3).

    Examples
    --------
    >>> import numpy as np
    >>> vol = LabelVolume(np.ones((4, 4, 4), np.uint8), np.eye(4))
    >>> la = LabelVolume(np.ones((1, 4, 6), np.uint8), np.eye(4))  # columns 4, 5 fall outside ``vol``
    >>> round(long_axis_dice(vol, la)["LV"], 3)  # 2·16 / (16 + 24)
    0.8
    """
    sliced = resample_labels(result.array, result.affine, la.shape, la.affine)
    return dice(sliced, la.array)


def view_agreement(sa: LabelVolume, la: LabelVolume) -> dict[str, float] | None:
    """How well a short-axis stack and a long-axis view agree where they cross, before any optimisation.

    Every long-axis pixel whose world position falls inside a short-axis slice's slab (within half a
    slice spacing of its centre plane, inside its in-plane extent) is compared with the label of the
    short-axis voxel it falls in (nearest neighbour, no motion correction). Pixels where both are
    background are ignored by Dice anyway.

    Returns
    -------
    dict or None
        Dice per structure present in either view on the common pixels, and ``'mean'`` over those
        structures; ``None`` when the views share no pixel or no heart label there.

    Examples
    --------
    >>> import numpy as np
    >>> sa = LabelVolume(np.ones((3, 4, 4), np.uint8), np.diag([10.0, 1, 1, 1]))
    >>> swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])  # rows along the stack
    >>> la = LabelVolume(np.ones((1, 20, 4), np.uint8), swap)
    >>> view_agreement(sa, la)["mean"]
    1.0
    """
    from cardiosr.geometry import voxel_coordinates

    coords = voxel_coordinates(sa.affine, la.affine, la.shape)  # (1, H, W, 3) SA voxel indices of LA pixels
    idx = np.rint(coords).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(sa.shape)), axis=-1)
    if not inside.any():
        return None
    sa_labels = sa.array[tuple(idx[inside].T)]
    la_labels = la.array[inside]
    out: dict[str, float] = {}
    for value, name in STRUCTURES:
        p, r = sa_labels == value, la_labels == value
        total = int(p.sum()) + int(r.sum())
        if total:
            out[name] = 2.0 * float((p & r).sum()) / total
    if not out:
        return None
    out["mean"] = float(np.mean(list(out.values())))
    return out
