"""The myocardium between the interpolated epicardium and LV blood pool, chosen on real anatomy (issue 15).

Shape-based interpolation of the myocardium's own distances thins or breaks the wall between two slices
whose rings are offset by more than the wall's thickness or change from a ring to a cap (the mean of two
ring distance maps is negative only where both rings nearly are). With the nested myocardium
(:func:`cardiosr.interpolation.nest_myocardium`, ``--no-nested-myocardium`` turns it off) the stack's wall
between the slices is what lies inside its interpolated epicardium (the LV blood pool and myocardium as one
region) and outside its interpolated LV blood pool. Every case of ``benchmarks/real_data.py`` protocols (a),
(b) and (c) (as in ``benchmarks/fusion_plateau.py``; (c) is scored on the four-chamber view's plane) is
fitted once with the shipped defaults but without the fusion, then fused with the shipped settings with the
nested myocardium off and on, put back on the input's world grid with clean topology as ``enhance`` does,
and scored as in ``real_data.py``. Per group: mean Dice and Dice per structure, the cases below the better
of NN and SBI on the same case (and the lowest margin), the cases that lose more than 0.01 against off (and
the largest loss), and the lowest per-structure consistency Dice. Writes the ``fusion-nested`` section of
``docs/benchmarks.md``.

    python benchmarks/fusion_nested.py --draws 1
    python benchmarks/fusion_nested.py --protocols b --acdc-patients 10 --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion's myocardium between the interpolated epicardium and LV blood pool, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-nested", TITLE, "nested myocardium", "nested_myocardium")
