"""Matched areas between the slices in the fusion, chosen on real anatomy (issue 15).

Shape-based interpolation shrinks a section between two slices whose sections are offset or differ in shape
(the mean of two signed distance maps is negative only where both nearly are). With area matching
(:func:`cardiosr.interpolation.match_areas`, ``--no-area-matching`` turns it off) the stack's interpolated
section of a structure between two slices that both hold it takes the linear interpolation of their areas.
Every case of ``benchmarks/real_data.py`` protocols (a), (b) and (c) (as in ``benchmarks/fusion_plateau.py``;
(c) is scored on the four-chamber view's plane) is fitted once with the shipped defaults but without the
fusion, then fused with the shipped settings with area matching off and on, put back on the input's world
grid with clean topology as ``enhance`` does, and scored as in ``real_data.py``. Per group: mean Dice and
Dice per structure, the cases below the better of NN and SBI on the same case (and the lowest margin), the
cases that lose more than 0.01 against area matching off (and the largest loss), and the lowest
per-structure consistency Dice. Writes the ``fusion-areas`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_areas.py --draws 1
    python benchmarks/fusion_areas.py --protocols b --acdc-patients 10 --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "Matched areas between the slices in the fusion, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-areas", TITLE, "area matching", "area_matched")
