"""Throughput of ``cardiosr batch``: cases per minute with 1 and 2 local workers and with the Ray backend.

Simulates ``-n`` clinical stacks (phantom cohort seed 3, normal motion, UK Biobank labels), then runs the
same batch three times into fresh output folders with default options (figures on, as a user would) and
reports wall time, cases per minute and the peak resident memory of the processes that ran the cases
(``ru_maxrss`` of each worker, the largest over cases). Writes the ``batch-throughput`` section of
``docs/benchmarks.md``.

    python benchmarks/batch_throughput.py -n 12
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from _report import report

from cardiosr.batch import run_batch
from cardiosr.io import save_labels
from cardiosr.phantom import cohort_member
from cardiosr.pipeline.settings import EnhanceSettings
from cardiosr.simulate import case_rng, simulate_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=12, help="cases (default 12)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="cardiosr-throughput-"))
    inputs = work / "in"
    for i in range(args.n):
        hr = cohort_member(3, i)[0]
        save_labels(simulate_case(f"c{i}", hr, 1.0, case_rng(3, i)).lr, inputs / f"case{i:03d}_sa.nii.gz")
    configs = [("local, 1 worker", {"workers": 1}), ("local, 2 workers", {"workers": 2})]
    if not args.no_ray:
        configs.append(("Ray (local instance, 1 CPU per task)", {"backend": "ray"}))
    rows = []
    for title, kwargs in configs:
        out = work / title.split(",")[0].split(" ")[0] / str(kwargs.get("workers", "ray"))
        start = time.perf_counter()
        result = run_batch(inputs, out, EnhanceSettings(device="cpu"), progress=False, **kwargs)
        wall = time.perf_counter() - start
        done = [o for o in result.outcomes if o.status == "done"]
        peak = max(o.peak_rss_mb for o in done) if done else float("nan")
        per_case = sum(o.seconds for o in done) / max(len(done), 1)
        rows.append(
            [
                title,
                f"{len(done)}/{args.n}",
                f"{wall:.0f}",
                f"{60.0 * len(done) / wall:.1f}",
                f"{per_case:.1f}",
                f"{peak / 1024:.2f}",
            ]
        )
        print(rows[-1], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    report(
        "batch-throughput",
        "Batch throughput and memory (issue 8)",
        ["backend", "cases", "wall (s)", "cases / min", "s / case in its worker", "peak memory per worker (GB)"],
        rows,
        (
            f"{args.n} simulated stacks (12 slices of 128×128 at 10×1.25×1.25 mm, normal motion), `cardiosr batch` "
            "with default options (latent optimisation with the shipped prior, figure.png written), nothing else "
            "running. Wall time includes starting the workers (and Ray) and loading the prior in each; 's / case "
            "in its worker' is the time from reading the case to its last output file. Peak memory is the largest "
            "`ru_maxrss` of a process that ran cases (the goal is ≤ 1.5 GB)."
        ),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
