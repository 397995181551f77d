"""The paper's Table 3 protocol on the real M&Ms-2 case in ``../shared/data``: every method on the 4-chamber view.

For case 001 at end-diastole and end-systole (``--labels mnms``), each method restores the short-axis
stack with the four-chamber view used for evaluation only (``enhance --la-eval``): NN, SBI, EDSR (the
shipped normal-motion model, as the paper's Table 3), LO; and LO-multi-view uses the view in the loss too
(``enhance --la``); both also with the published SRHeart prior (trained on real hearts) instead of the
shipped phantom-trained one. The result is sliced on the view's plane and compared with the view's labels (Dice).
For LO-multi-view this measures agreement with a view it was fitted to, not accuracy. One subject, so
no spread: an illustration of the protocol on real data, not a replication of Table 3 (UK Biobank, 200
subjects). Writes the ``paper-table-3`` section of ``docs/benchmarks.md``.

    python benchmarks/table3_real.py
"""

from __future__ import annotations

import argparse
import warnings

from _report import SHARED, report

from cardiosr.pipeline import enhance

SRHEART = SHARED / "srheart-prior" / "VAECE_zdim_32_epoch_100_beta_1.00E-03_alpha.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    folder = SHARED / "mnms2-case001"
    rows = []
    for phase in ("ED", "ES"):
        sa, la = folder / f"001_SA_{phase}_gt.nii.gz", folder / f"001_LA_{phase}_gt.nii.gz"
        runs = [(m.upper() if m != "lo" else "LO", {"method": m, "la_eval": la}) for m in ("nn", "sbi", "edsr", "lo")]
        runs.append(("LO-multi-view", {"method": "lo", "la": la}))
        if SRHEART.is_file():  # the published prior, trained on real hearts
            runs.append(("LO, SRHeart prior", {"method": "lo", "la_eval": la, "prior": f"srheart:{SRHEART}"}))
            runs.append(("LO-multi-view, SRHeart prior", {"method": "lo", "la": la, "prior": f"srheart:{SRHEART}"}))
        for title, kwargs in runs:
            result = enhance(sa, convention="mnms", **kwargs)
            scores = result.la_evaluation[0]["dice"]
            rows.append(
                [phase, title]
                + [f"{scores[k]:.3f}" for k in ("LV", "MYO", "RV")]
                + [f"{sum(scores.values()) / 3:.3f}", f"{result.seconds:.1f}"]
            )
            print(rows[-1], flush=True)
    report(
        "paper-table-3",
        "Paper Table 3 protocol on the real M&Ms-2 case (issue 7)",
        ["phase", "method", "LV", "MYO", "RV", "mean", "s"],
        rows,
        __doc__.split("\n\n")[1].replace("\n", " "),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
