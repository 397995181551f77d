"""The fusion on the output grid itself against the canonical result resampled, on real anatomy (issue 15).

The canonical grid's 2 mm planes lie wherever the heart's centre puts them (benchmarks/grid_phase.py), so a
result fused there and resampled onto the output grid (:func:`cardiosr.geometry.hr_grid`, whose planes
include the slices' centre planes) ends a structure between two slices wherever those planes happen to
lie. Fused on the output grid itself (:func:`cardiosr.fidelity.fused_labels`: the prior's distances
resampled linearly, the stack's computed at the output's own voxels), it does not. Every case of
``benchmarks/real_data.py`` protocols (a), (b) and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is
scored on the four-chamber view's plane) is fitted once with the shipped defaults but without the fusion,
then fused with the shipped settings on the canonical grid and resampled (off) and on the output grid (on),
with clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per group: mean Dice and Dice
per structure, the cases below the better of NN and SBI on the same case (and the lowest margin), the cases
that lose more than 0.01 against off (and the largest loss), and the lowest per-structure consistency Dice
(of the canonical result, the same both ways). Writes the ``fusion-grid`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_grid.py --draws 1
    python benchmarks/fusion_grid.py --protocols c --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion on the output grid itself, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-grid", TITLE, "fused on the output grid", "output_grid")
