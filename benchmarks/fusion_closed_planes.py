"""The fusion's closed LV wall on the acquired slices' own planes too, on real anatomy (issue 15).

The closed LV wall (section *fusion-closed-wall*) first acted only where the prior has weight between two
slices that both enclose their LV blood pool. On two ACDC stacks as acquired (``patient065_frame01``,
``patient091_frame01``) the results kept 3 and 20 in-plane contacts between the LV blood pool and the
background on the acquired slices' own centre planes, where the result is the slice itself, moved by its
sub-pixel shift and resampled onto the 1.25 mm output grid: a wall one pixel thick breaks there. The closure
now acts on and between such slices, whatever the prior's weight (:func:`cardiosr.fidelity.close_lv_wall`,
:func:`cardiosr.fidelity.between_enclosed_slices`). Every case of ``benchmarks/real_data.py`` protocols
(a), (b), (c) and (d) (as in ``benchmarks/fusion_plateau.py``) is fitted once with the shipped defaults but
without the fusion, then fused with the shipped settings with the closure off and on, put back on the
input's world grid with clean topology as ``enhance`` does, and scored as in ``real_data.py``; the closure
between the slices alone, the previous default, is the rows "2.5" of *fusion-basal-clearance* (the same fits
with the closure of that day). Writes the ``fusion-closed-planes`` section of ``docs/benchmarks.md``.

    python benchmarks/fusion_closed_planes.py --protocols a,b,c,d
    python benchmarks/fusion_closed_planes.py --protocols d --no-write
"""

from __future__ import annotations

from fusion_plateau import switch_report

TITLE = "The fusion's closed LV wall on the acquired slices' own planes too, on real anatomy (issue 15)"

if __name__ == "__main__":
    switch_report(__doc__, "fusion-closed-planes", TITLE, "closed wall", "closed_wall")
