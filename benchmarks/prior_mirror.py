"""Does the handedness mirror (``train-prior --mirror P``) help on a real heart? A controlled comparison.

Two priors are trained with identical settings except the mirror probability (0 and ``--mirror``), on
``--phantoms`` phantoms for ``--epochs`` epochs (smaller than the shipped default so that both fit in
minutes; the comparison, not the absolute level, is the point). Each is then scored by encode → decode
reconstruction Dice on held-out phantoms (cohort seed 1), on the real ``demo_HR`` and on ``demo_HR``
mirrored across the plane of its long axis and LV→RV direction (a file whose handedness is wrong).
Writes the ``prior-mirror`` section of ``docs/benchmarks.md``.

    python benchmarks/prior_mirror.py --phantoms 150 --epochs 12
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np
import torch
from _report import SHARED, report

from cardiosr.geometry import to_canonical
from cardiosr.io import load_labels
from cardiosr.phantom import cohort_member
from cardiosr.prior.augment import RandomInPlaneAffine
from cardiosr.prior.train import TrainConfig, evaluate_reconstruction, phantom_training_data, train_prior

NAMES = ("LV", "MYO", "RV")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantoms", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--mirror", type=float, default=0.5)
    parser.add_argument("-n", type=int, default=20, help="held-out phantoms (default 20)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = phantom_training_data(args.phantoms, seed=0, progress=False)
    held_out = np.stack([cohort_member(1, i)[0].array for i in range(args.n)])
    demo = SHARED / "srheart-demo" / "demo_HR.nii.gz"
    real = mirrored = None
    if demo.is_file():
        canon, _ = to_canonical(load_labels(demo, "ukbb"))
        real = canon.array[None].astype(np.uint8)
        flip = RandomInPlaneAffine(0.0, 0.0, mirror_probability=1.0)
        mirrored = flip(torch.from_numpy(real.astype(np.int64)), torch.Generator().manual_seed(0)).numpy()
        mirrored = mirrored.astype(np.uint8)
    rows = []
    for p in (0.0, args.mirror):
        config = TrainConfig(epochs=args.epochs, mirror_probability=p, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            model, _ = train_prior(data, tmp, config, f"{args.phantoms} phantoms", progress=False)
            minutes = (time.perf_counter() - t0) / 60
        row = [f"{p:g}", f"{minutes:.1f}"]
        for maps in (held_out, real, mirrored):
            if maps is None:
                row.append("—")
                continue
            scores = evaluate_reconstruction(model, maps)
            row.append(" / ".join(f"{scores[k]:.3f}" for k in NAMES))
        rows.append(row)
        print(row, flush=True)
    report(
        "prior-mirror",
        "Handedness mirror augmentation (issue 5)",
        ["--mirror", "training (min)", "held-out phantoms LV/MYO/RV", "demo_HR", "demo_HR mirrored"],
        rows,
        (
            f"Two VAE priors trained on {args.phantoms} phantoms (cohort seed 0) for {args.epochs} epochs, "
            "default settings otherwise, differing only in the mirror probability; encode → decode Dice on "
            f"{args.n} held-out phantoms (mean), the real demo_HR (canonical grid, centre of mass centred) and "
            "demo_HR mirrored across the plane of its long axis and LV→RV direction."
        ),
        write=not args.no_write,
    )


if __name__ == "__main__":
    main()
