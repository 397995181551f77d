"""The fusion's closed LV cavity, chosen on real anatomy (issue 15: plausible outputs).

In a short-axis section the LV blood pool is enclosed by myocardium, but the default prior, trained on meshes
open at the valves, decodes a basal cavity that runs on beyond the myocardium's end, and the output grid
spreads it over two or three slices: every phantom result of the paper's tables failed the plausibility check
(:func:`cardiosr.metrics.plausibility`). With ``closed_cavity`` the fusion keeps the blood pool one in-plane
voxel inside the epicardium on every slice where it touches background or the RV
(:func:`cardiosr.interpolation.close_blood_pool`). Every case of ``benchmarks/real_data.py`` protocols (a),
(b) and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is scored on the four-chamber view's plane) is
fitted once with the shipped defaults but without the fusion, then fused with the shipped settings without
and with the closed cavity on the output grid, with clean topology as ``enhance`` does, and scored as in
``real_data.py``. Per group: mean Dice and Dice per structure, the cases below the better of NN and SBI on the
same case (and the lowest margin), the cases that lose more than 0.01 against off (and the largest loss), and
the lowest per-structure consistency Dice. Writes the ``fusion-cavity`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_cavity.py --draws 1
    python benchmarks/fusion_cavity.py --protocols c --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion's closed LV cavity, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-cavity", TITLE, "closed cavity", "closed_cavity")
