"""Reconstruction Dice of a shape prior: encode → decode held-out phantoms and the real shared demo_HR.

Usage::

    python benchmarks/prior_reconstruction.py [--prior default] [-n 50] [--cohort-seed 1]

Held-out phantoms come from cohort seed 1 (the default prior was trained on cohort seed 0). The real
case (``../shared/data/srheart-demo/demo_HR.nii.gz``, skipped when absent) measures the domain gap
between phantoms and real hearts. Prints a table and writes it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _report import SHARED, markdown_table, write_section

from cardiosr.geometry import to_canonical
from cardiosr.io import load_labels
from cardiosr.labels import STRUCTURES
from cardiosr.phantom import cohort_member
from cardiosr.prior import VAE3D, canonical_placement, load_prior
from cardiosr.prior.train import evaluate_reconstruction

NAMES = [name for _, name in STRUCTURES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default="default")
    parser.add_argument("-n", type=int, default=50, help="held-out phantoms (default 50)")
    parser.add_argument("--cohort-seed", type=int, default=1, help="cohort of the held-out phantoms (default 1)")
    args = parser.parse_args()

    prior, meta = load_prior(args.prior)
    if not isinstance(prior, VAE3D):
        raise SystemExit("reconstruction needs an encoder: use a VAE prior")
    rows, t0 = [], time.perf_counter()
    data = np.stack([cohort_member(args.cohort_seed, i)[0].array for i in range(args.n)])
    per_case = []
    with torch.no_grad():
        for i in range(args.n):
            per_case.append(evaluate_reconstruction(prior, data[i : i + 1]))
    mean = {k: np.mean([c[k] for c in per_case]) for k in NAMES}
    std = {k: np.std([c[k] for c in per_case]) for k in NAMES}
    rows.append(
        [f"{args.n} held-out phantoms (cohort seed {args.cohort_seed})"]
        + [f"{mean[k]:.3f} ± {std[k]:.3f}" for k in NAMES]
        + [f"{np.mean([mean[k] for k in NAMES]):.3f}"]
    )
    demo = SHARED / "srheart-demo" / "demo_HR.nii.gz"
    if demo.is_file():
        canon, _ = to_canonical(load_labels(demo, "ukbb"), **canonical_placement(meta))
        real = evaluate_reconstruction(prior, canon.array[None])
        rows.append(
            ["real demo_HR (shared data)"]
            + [f"{real[k]:.3f}" for k in NAMES]
            + [f"{np.mean([real[k] for k in NAMES]):.3f}"]
        )
    table = markdown_table(["data", "LV", "MYO", "RV", "mean"], rows)
    seconds = time.perf_counter() - t0
    print(table)
    training = meta.get("training", {})
    body = (
        f"Prior: `{args.prior}` ({meta['architecture']}, latent {meta['latent_dim']}, "
        f"trained on {training.get('data', '?')}). Dice of `decode(encode(x).mean)` against `x`, "
        f"per structure (mean ± std over cases). {seconds:.0f} s.\n\n{table}\n\n"
        f"Training, from the prior's metadata: `{training.get('command', '?')}`, "
        f"{training.get('epochs', '?')} epochs in {training.get('seconds', 0) / 60:.1f} min "
        f"(plus making the data) on {training.get('machine', '?')}."
    )
    write_section(f"prior-reconstruction-{args.prior.replace('/', '_')}", f"Prior reconstruction ({args.prior})", body)


if __name__ == "__main__":
    main()
