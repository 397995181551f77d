"""Protocol (b)'s files below interpolation: where they lose, and the dropped slices' own offsets (issue 15).

Protocol (b) of ``benchmarks/real_data.py``: the ACDC patients in ``../shared/data/acdc`` (ED and ES, files as
distributed), the even-numbered slices are the input (20 mm apart where the slices are 10 mm), the dropped
odd-numbered slices are scored, each at its own best in-plane translation within ±5 mm, because a dropped slice
keeps the breath-hold offset it was acquired with and no method can know it. Where a stack's slices are offset by
more than that window, a result that corrects the motion puts a dropped slice where its neighbours are, not where
it was acquired, and the window cannot find it. This script scores every method twice, within the protocol's
±5 mm and within ±``--window`` mm (default 30), and reports per window the mean Dice per structure and the files
below the better of NN and SBI. For each file where LO with the default prior is below interpolation within ±5 mm
it lists the margins in both windows, the largest step of the LV centroid between neighbouring slices of the full
file (a stack-only measure of breath-hold offsets; anatomy adds a few mm), the motion decision, and the dropped
slice where LO loses most against the better baseline: its place (next to an input slice without labels, next to
an input slice without RV, between two input slices that hold both, or beyond the last input slice) and the
structure that loses most there. ``--published`` adds LO with the published SRHeart prior. Writes the
``dropped-slice-window`` section of ``docs/benchmarks.md`` (``--section``, ``--title``: another).

    python benchmarks/dropped_slice_window.py
    python benchmarks/dropped_slice_window.py --acdc-patients 5 --no-write
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from _report import SHARED, markdown_table, write_section
from real_data import DROPPED_WINDOW_MM, NAMES, SRHEART, dropped_slices_moved

from cardiosr.degradation import drop_odd_slices
from cardiosr.io import load_labels
from cardiosr.labels import STRUCTURES
from cardiosr.metrics import dice
from cardiosr.pipeline import Enhancer
from cardiosr.prior import load_prior
from cardiosr.volume import LabelVolume

TITLE = "ACDC with odd slices dropped: the files below interpolation and the dropped slices' own offsets (issue 15)"
LO = "LO (default prior)"


def largest_centroid_step(full: LabelVolume) -> float:
    """The largest in-plane step (mm) of the LV centroid (blood pool and myocardium) between neighbouring slices
    of ``full`` that both hold at least 4 LV voxels."""
    centres = []
    for k in range(full.shape[0]):
        lv = np.isin(full.array[k], (1, 2))
        centres.append(np.argwhere(lv).mean(0) * full.spacing[1:] if lv.sum() >= 4 else None)
    pairs = zip(centres[:-1], centres[1:], strict=True)
    steps = [float(np.linalg.norm(a - b)) for a, b in pairs if a is not None and b is not None]
    return max(steps, default=float("nan"))


def place_of(full: LabelVolume, k: int) -> str:
    """Where dropped slice ``k`` of ``full`` lies against its input neighbours ``k - 1`` and ``k + 1``."""
    if k + 1 >= full.shape[0]:
        return "beyond the last input slice"
    neighbours = [full.array[k - 1], full.array[k + 1]]
    if not all(n.any() for n in neighbours):
        return "next to an input slice without labels"
    if not all((n == 3).any() for n in neighbours):
        return "next to an input slice without RV"
    return "between two slices with LV and RV"


def worst_slice(full: LabelVolume, lo: np.ndarray, base: np.ndarray) -> str:
    """The dropped slice where ``lo`` has the most wrong voxels more than ``base`` (both moved dropped slices):
    its index, place and the structure that loses most there (Dice can lose where no slice has more wrong voxels:
    it weighs each structure by its size)."""
    truth = full.array[1::2]
    losses = [(lo[j] != truth[j]).sum() - (base[j] != truth[j]).sum() for j in range(len(truth))]
    j = int(np.argmax(losses))
    if losses[j] <= 0:
        return "no dropped slice has more wrong voxels"
    by_structure = {
        name: int(((lo[j] == label) != (truth[j] == label)).sum() - ((base[j] == label) != (truth[j] == label)).sum())
        for label, name in STRUCTURES
    }
    name = max(by_structure, key=by_structure.get)
    return f"slice {2 * j + 1}, {place_of(full, 2 * j + 1)}; {name} +{by_structure[name]} voxels"


def mean(scores: dict[str, float]) -> float:
    return float(np.mean([scores[k] for k in NAMES]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acdc-patients", type=int, help="use only the first N ACDC patients (default: all)")
    parser.add_argument("--window", type=float, default=30.0, help="the wider search, mm (default 30)")
    parser.add_argument("--published", action="store_true", help="also LO with the published SRHeart prior")
    parser.add_argument("--section", default="dropped-slice-window", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default=TITLE, help="the section's title")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    enhancers = {"NN": Enhancer(method="nn"), "SBI": Enhancer(method="sbi"), LO: Enhancer(device="cpu")}
    if args.published and SRHEART.is_file():
        enhancers["LO (published prior)"] = Enhancer(device="cpu", prior=load_prior(f"srheart:{SRHEART}")[0])
    windows = (DROPPED_WINDOW_MM, args.window)
    files = sorted((SHARED / "acdc").glob("patient*_frame*_gt.nii.gz"))
    patients = sorted({f.name.split("_")[0] for f in files})[: args.acdc_patients]
    scores: dict[tuple[str, float], list[dict[str, float]]] = {(m, w): [] for m in enhancers for w in windows}
    below_rows, steps = [], {}
    for path in [f for f in files if f.name.split("_")[0] in patients]:
        full = load_labels(path, "acdc")
        steps[path.name] = largest_centroid_step(full)
        moved, decision = {}, ""
        for title, enhancer in enhancers.items():
            result = enhancer.run(drop_odd_slices(full))
            if title == LO:
                decision = result.optimisation.motion["hypothesis"]
            for w in windows:
                moved[title, w] = dropped_slices_moved(result.sr, full, w)
                scores[title, w].append(dice(moved[title, w], full.array[1::2]))
        margins = [mean(scores[LO, w][-1]) - max(mean(scores[b, w][-1]) for b in ("NN", "SBI")) for w in windows]
        print(path.name, decision, [round(m, 4) for m in margins], flush=True)
        if margins[0] < 0:
            base = max(("NN", "SBI"), key=lambda b: mean(scores[b, windows[0]][-1]))
            below_rows.append(
                [path.name.removesuffix("_gt.nii.gz"), f"{margins[0]:+.3f}", f"{margins[1]:+.3f}"]
                + [f"{steps[path.name]:.1f}", decision, base]
                + [worst_slice(full, moved[LO, windows[0]], moved[base, windows[0]])]
            )
    rows = []
    for (title, w), per_file in scores.items():
        below = "–"
        if title.startswith("LO"):
            margins = [
                mean(s) - max(mean(n), mean(b))
                for s, n, b in zip(per_file, scores["NN", w], scores["SBI", w], strict=True)
            ]
            below = f"{sum(m < 0 for m in margins)} ({min(margins):+.3f})"
        per = {k: float(np.mean([s[k] for s in per_file])) for k in NAMES}
        rows.append(
            [title, f"±{w:g} mm"] + [f"{per[k]:.3f}" for k in NAMES] + [f"{np.mean(list(per.values())):.4f}", below]
        )
    header = ["method", "each dropped slice's translation", *NAMES, "mean", "files below interpolation (lowest margin)"]
    below_header = [
        "file",
        f"margin ±{windows[0]:g} mm",
        f"margin ±{windows[1]:g} mm",
        "largest LV-centroid step, mm",
        "motion test",
        "better baseline",
        "where LO loses most (±5 mm)",
    ]
    body = (
        f"{__doc__.split(chr(10) + chr(10))[1]}\n\n{len(steps)} files. The largest LV-centroid step between "
        f"neighbouring slices of a file: median {np.nanmedian(list(steps.values())):.1f} mm; above 10 mm: "
        + (
            ", ".join(f"{name.removesuffix('_gt.nii.gz')} {v:.1f}" for name, v in sorted(steps.items()) if v > 10)
            or "none"
        )
        + ".\n\n"
        + markdown_table(header, rows)
        + "\n\nThe files where LO with the default prior is below interpolation within ±5 mm:\n\n"
        + markdown_table(below_header, below_rows)
    )
    print(body)
    if not args.no_write:
        write_section(args.section, args.title, body)


if __name__ == "__main__":
    main()
