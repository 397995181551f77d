"""Phantoms against real hearts: the shape measures the phantom generator's ranges should match (issue 15).

Every heart is put on its canonical grid (`cardiosr.geometry.to_canonical`, thick stacks interpolated per class)
and measured the same way by `cardiosr.metrics.shape_measures`: LV length, wall thickness, RV/LV volume, how far
the RV wraps round the septum, RV/LV length and long-axis tilt.

Sources: 50 phantoms (cohort seed 1), the 50 ACDC patients at ED (as distributed), demo_HR, the voxelised
Rodero heart and biv-me ED (frame 0). Writes the ``anatomy-measures`` section of ``docs/benchmarks.md``.

    python benchmarks/anatomy_measures.py
"""

from __future__ import annotations

import argparse
import configparser
import warnings

import numpy as np
from _report import SHARED, report

from cardiosr.geometry import to_canonical
from cardiosr.io import load_labels
from cardiosr.mesh_hearts import BIVME_FOLDER, RODERO_FILE, bivme_heart, rodero_heart
from cardiosr.metrics import SHAPE_MEASURES as MEASURES
from cardiosr.metrics import shape_measures as measure
from cardiosr.phantom import cohort_member


def acdc_ed() -> list:
    out = []
    for cfg in sorted((SHARED / "acdc").glob("patient*.Info.cfg")):
        info = configparser.ConfigParser()
        info.read_string("[i]\n" + cfg.read_text())
        name = cfg.name.split(".")[0]
        out.append(load_labels(cfg.parent / f"{name}_frame{int(info['i']['ED']):02d}_gt.nii.gz", "acdc"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    groups: dict[str, list[dict[str, float]]] = {}
    groups[f"phantoms ({args.phantoms}, seed 1)"] = [
        measure(v.array, v.spacing) for v, _ in (cohort_member(1, i) for i in range(args.phantoms))
    ]
    if (SHARED / "acdc").is_dir():
        maps = [to_canonical(v)[0] for v in acdc_ed()]
        groups[f"ACDC ED ({len(maps)})"] = [measure(m.array, m.spacing) for m in maps]
    singles = [("demo_HR", lambda: load_labels(SHARED / "srheart-demo" / "demo_HR.nii.gz", "ukbb"))]
    singles += [("Rodero CT", lambda: rodero_heart(SHARED / RODERO_FILE))]
    singles += [("biv-me ED", lambda: bivme_heart(SHARED / BIVME_FOLDER, 0))]
    for name, load in singles:
        canonical = to_canonical(load())[0]
        groups[name] = [measure(canonical.array, canonical.spacing)]
    rows = []
    for name, values in groups.items():
        cells = []
        for key in MEASURES:
            x = np.array([v[key] for v in values], float)
            x = x[~np.isnan(x)]
            if len(values) == 1:
                cells.append(f"{x[0]:.2f}" if len(x) else "–")
            else:
                q = np.percentile(x, [10, 50, 90])
                cells.append(f"{q[1]:.2f} [{q[0]:.2f}–{q[2]:.2f}]")
        rows.append([name, *cells])
        print(rows[-1], flush=True)
    report(
        "anatomy-measures",
        "Phantoms against real hearts: shape measures (issue 15)",
        ["source", *MEASURES],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + " "
        + " ".join(__doc__.split("\n\n")[2].split("\n"))
        + " Median [10th–90th percentile].",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
