"""One subject (or a batch of subjects) end to end: read and check → canonical grid → fit → world → QC → files.

Modules: ``settings`` (:class:`EnhanceSettings`, no torch) · ``enhancer`` (:class:`Enhancer`, :func:`enhance`,
:func:`enhance_batch`) · ``checks`` (inputs) · ``baselines`` (NN, SBI, EDSR) · ``qc`` (back to world, clean
topology, consistency, flags) · ``result`` (:class:`Result` and its files) · ``cycle`` (:class:`CycleResult`: a
cine's 4D files, volume curves and ejection fractions, from :meth:`Enhancer.run_cycle`). Names are imported on
first use, so that reading the settings (``cardiosr --help``) does not load torch.

Examples
--------
::

    import cardiosr
    result = cardiosr.enhance("sa.nii.gz", la="la_4ch.nii.gz", convention="mnms")
    result.sr.array.shape        # (D, H, W) at 2 x 1.25 x 1.25 mm along the input's axes
    result.shifts_mm             # (slices, 2) mm, zero-mean gauge unless a long-axis view is given
    result.save("out/")          # sr.nii.gz, sr_canonical.nii.gz, shifts.json, loss.csv, summary.json, figure.png
"""

from __future__ import annotations

from cardiosr.lazy import lazy_exports

_WHERE = {
    "EnhanceSettings": "settings",
    "METHODS": "settings",
    "Enhancer": "enhancer",
    "enhance": "enhancer",
    "enhance_batch": "enhancer",
    "Result": "result",
    "CycleResult": "cycle",
    "staging_folder": "result",
    "baseline_probabilities": "baselines",
    "DEFAULT_EDSR": "baselines",
    "check_short_axis": "checks",
    "stack_checks": "checks",
    "view_checks": "checks",
    "physiology_checks": "checks",
    "QC_LV_ML_RANGE": "checks",
    "QC_LV_MASS_G_RANGE": "checks",
    "QC_MIN_VIEW_AGREEMENT": "checks",
    "QC_MAX_LOSS": "qc",
    "QC_MIN_CONSISTENCY_DICE": "qc",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
