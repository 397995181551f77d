"""Phantoms against real hearts: the shape measures the phantom generator's ranges should match (issue 15).

Every heart is put on its canonical grid (`cardiosr.geometry.to_canonical`, thick stacks interpolated per class)
and measured the same way:

* **LV length**: extent of LV + MYO along the slice axis (mm; a stack that misses the apex or base is shorter);
* **wall thickness**: r_epi − r_endo of the equivalent circles (π r² = area) on the middle third of the LV's
  slices, mean (mm);
* **RV/LV volume**: cavity volume ratio;
* **RV wrap**: angle around the LV centre covered by RV voxels on the middle slice (degrees);
* **RV/LV length**: extent of the RV along the slice axis over that of LV + MYO;
* **long-axis tilt**: angle between the slice normal and the line through the LV centroids of the slices of the
  middle half (degrees; on a stack this includes breathing offsets between slices).

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
from cardiosr.labels import LV, MYO, RV
from cardiosr.mesh_hearts import BIVME_FOLDER, RODERO_FILE, bivme_heart, rodero_heart
from cardiosr.phantom import cohort_member

MEASURES = ("LV length mm", "wall mm", "RV/LV volume", "RV wrap deg", "RV/LV length", "tilt deg")


def measure(labels: np.ndarray, spacing: np.ndarray) -> dict[str, float]:
    """The shape measures of one canonical label map."""
    area = {v: (labels == v).sum(axis=(1, 2)) * spacing[1] * spacing[2] for v in (LV, MYO, RV)}
    heart = np.flatnonzero(area[LV] + area[MYO] > 0)
    lv = np.flatnonzero(area[LV] > 0)
    rv = np.flatnonzero(area[RV] > 0)
    third = lv[len(lv) // 3 : max(len(lv) // 3 + 1, 2 * len(lv) // 3)]
    r_endo = np.sqrt(area[LV][third] / np.pi)
    r_epi = np.sqrt((area[LV][third] + area[MYO][third]) / np.pi)
    middle = lv[len(lv) // 2]
    centre = np.argwhere(labels[middle] == LV).mean(0)
    rv_pix = np.argwhere(labels[middle] == RV)
    wrap = np.nan
    if len(rv_pix):
        angles = np.degrees(np.arctan2(*(rv_pix - centre).T * spacing[1:, None]))
        wrap = 5.0 * len(np.unique(np.floor(angles / 5.0)))
    half = lv[len(lv) // 4 : max(len(lv) // 4 + 2, 3 * len(lv) // 4)]
    centroids = np.array([np.argwhere(labels[k] == LV).mean(0) * spacing[1:] for k in half])
    slope = np.polyfit(half * spacing[0], centroids, 1)[0]
    return {
        "LV length mm": (heart[-1] - heart[0] + 1) * spacing[0],
        "wall mm": float(np.mean(r_epi - r_endo)),
        "RV/LV volume": area[RV].sum() / max(area[LV].sum(), 1e-9),
        "RV wrap deg": wrap,
        "RV/LV length": (rv[-1] - rv[0] + 1) / (heart[-1] - heart[0] + 1) if len(rv) else np.nan,
        "tilt deg": float(np.degrees(np.arctan(np.linalg.norm(slope)))),
    }


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
        + " ".join(__doc__.split("\n\n")[3].split("\n"))
        + " Median [10th–90th percentile].",
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
