"""The fusion's closed LV wall between slices that both enclose the LV blood pool, on real anatomy (issue 15).

The blend of the stack's and the prior's signed distances can open the myocardial wall between two slices
whose own walls are closed: two rings offset against each other blend into a thinner ring, or into none
where they do not overlap, and the LV blood pool then touches the background or the RV in-plane (on ACDC
stacks as acquired, half of the results kept 1–57 such contacts; section *plausibility-ends*). With
``closed_wall`` (``--closed-wall``) the fusion turns the background and RV voxels in-plane round such exposed
blood pool into myocardium wherever the prior has weight between two slices that both enclose their blood
pool (:func:`cardiosr.fidelity.close_lv_wall`). Every case of ``benchmarks/real_data.py`` protocols (a), (b)
and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is scored on the four-chamber view's plane) is fitted
once with the shipped defaults but without the fusion, then fused with the shipped settings with the closure
off and on, put back on the input's world grid with clean topology as ``enhance`` does, and scored as in
``real_data.py``. Per group: mean Dice and Dice per structure, the cases below the better of NN and SBI on
the same case (and the lowest margin), the cases that lose more than 0.01 against off (and the largest
loss), the lowest per-structure consistency Dice, and the share of outputs that pass
:func:`cardiosr.metrics.plausibility`. Writes the ``fusion-closed-wall`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_closed_wall.py
    python benchmarks/fusion_closed_wall.py --protocols c --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion's closed LV wall between slices that enclose the blood pool, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-closed-wall", TITLE, "closed wall", "closed_wall")
