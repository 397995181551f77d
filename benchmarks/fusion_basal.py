"""The fusion's blunt basal end of the RV where the heart goes on, chosen on real anatomy (issue 15).

Short-axis annotators stop the RV at its valves while the LV outflow tract runs on. On ACDC's 20 mm gaps the
dropped slice between the RV's basal-most input slice and the slice beyond it holds on average as much RV as
that basal-most slice when the slice beyond still holds the LV or myocardium, but 0.41 of it when the slice
beyond holds no heart (100 files; most of those dropped slices hold none). The fusion's ``basal_mm``
(``--basal-absent-mm``) gives the slices beyond the RV's basal end this distance instead of ``absent_mm``
where the heart goes on (:func:`cardiosr.interpolation.signed_distance_slices`). Every case of
``benchmarks/real_data.py`` protocols (a), (b) and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is scored
on the four-chamber view's plane) is fitted once with the shipped defaults but without the fusion, then fused
with the shipped settings but each basal distance (off: the RV's base like any other end) on the output
grid, with clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per group and distance:
mean Dice and Dice per structure, the cases below the better of NN and SBI on the same case (and the lowest
margin), the cases that lose more than 0.01 against off (and the largest loss), and the lowest per-structure
consistency Dice. Writes the ``fusion-basal-heart`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_basal.py --draws 1
    python benchmarks/fusion_basal.py --protocols b --acdc-patients 10 --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion's blunt basal end of the RV where the heart goes on, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-basal-heart", TITLE, "RV basal distance (mm)", "basal_mm", (None, 0.5, 1.0, 2.5))
