"""The shipped prior's latent code in the whitened principal axes of its training codes, on real anatomy (issue 15).

The shipped β-VAE has M = 64 latent dimensions, but the codes (posterior means) of its own training maps — the
250 phantoms and 250 real-heart shapes ``train-prior --phantoms 250 --meshes ../shared/data --mesh-shapes 250``
makes, each as made and in ``--copies`` − 1 copies with the training augmentation (in-plane rotation and
scaling) — span far fewer: the script prints how much of their variance the first components hold. Writing
``z = μ + V_K · diag(σ_K) · c`` (μ the mean code, ``V_K`` the first K principal directions, σ their standard
deviations, ``c`` the new K-dimensional code) gives a prior of the same file format (the decoder's first linear
layer and the encoder's mean layer are composed with that affine map) whose latent search runs in whitened
coordinates: Adam's step along each principal axis scales with that axis' spread in the training codes, so the
search hardly moves along directions the training hearts do not vary in. K < 64 also confines ``z`` to the
first K axes; K = 64 is the same set of shapes as the shipped prior, only searched in those coordinates. Each
such prior is run as an extra LO method through the protocols of ``benchmarks/real_data.py`` (protocol b on
the first ``--acdc-patients`` patients), beside NN, SBI and LO with the shipped prior. Writes the
``prior-subspace`` section of ``docs/benchmarks.md``.

Why written here: no library composes a VAE with a PCA of its codes; the PCA is :func:`numpy.linalg.svd`.

    python benchmarks/prior_subspace.py --components 8,64 --acdc-patients 10
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _report import SHARED, report
from real_data import HEADER, protocol_a, protocol_b, protocol_c, summary_table, warm_up

from cardiosr.mesh_hearts import mesh_training_data
from cardiosr.prior import load_prior
from cardiosr.prior.augment import RandomInPlaneAffine
from cardiosr.prior.checkpoint import PRIOR_FILE, save_prior
from cardiosr.prior.networks import VAE3D
from cardiosr.prior.train import one_hot_tensor, phantom_training_data


def training_codes(prior: VAE3D, n_phantoms: int, n_shapes: int, copies: int, seed: int = 0) -> np.ndarray:
    """Posterior means ``(copies · n, M)`` of the training maps of ``train-prior`` (seed ``seed``), each as made
    and in ``copies − 1`` augmented copies (the training's in-plane rotation ±10° and scaling ±10 %)."""
    data = np.concatenate(
        [
            phantom_training_data(n_phantoms, seed=seed, progress=False),
            mesh_training_data(n_shapes, SHARED, seed=seed, progress=False),
        ]
    )
    augment, generator, codes = RandomInPlaneAffine(10.0, 0.1), torch.Generator().manual_seed(seed), []
    with torch.no_grad():
        for copy_index in range(copies):
            for start in range(0, len(data), 8):
                labels = torch.from_numpy(data[start : start + 8])
                labels = augment(labels, generator) if copy_index else labels.long()
                codes.append(prior.encode(one_hot_tensor(labels))[0])
    return torch.cat(codes).numpy()


def reparametrised(prior: VAE3D, scaled: torch.Tensor, mean: torch.Tensor) -> VAE3D:
    """``prior`` with ``z = mean + scaled · c`` (``scaled`` ``(M, k)`` of full column rank): a VAE3D with latent
    dimension ``k`` (same file format) whose decoder's first linear layer and encoder's mean layer are composed
    with that affine map (the encoder's mean maps back by the pseudo-inverse). Decodes every ``c`` as ``prior``
    decodes ``z``; only the coordinates the latent search moves in change."""
    k = scaled.shape[1]
    reduced = VAE3D(**{**prior.config(), "latent_dim": k})  # the constructor's arguments
    kept = {n: w for n, w in prior.state_dict().items() if not n.startswith(("fc_mu", "fc_logvar", "fc_decode"))}
    reduced.load_state_dict(kept, strict=False)
    with torch.no_grad():
        reduced.fc_decode.weight.copy_(prior.fc_decode.weight @ scaled)
        reduced.fc_decode.bias.copy_(prior.fc_decode.weight @ mean + prior.fc_decode.bias)
        project = torch.linalg.pinv(scaled)  # c = project @ (z − mean)
        reduced.fc_mu.weight.copy_(project @ prior.fc_mu.weight)
        reduced.fc_mu.bias.copy_(project @ (prior.fc_mu.bias - mean))
        reduced.fc_logvar.weight.copy_(prior.fc_logvar.weight[:k])
        reduced.fc_logvar.bias.copy_(prior.fc_logvar.bias[:k])
    return reduced.eval()


def subspace_prior(prior: VAE3D, codes: np.ndarray, k: int) -> VAE3D:
    """``prior`` with ``z = μ + V_K · diag(σ_K) · c``: a VAE3D with latent dimension ``k`` (same file format)."""
    mean = codes.mean(0)
    _, singular, directions = np.linalg.svd(codes - mean, full_matrices=False)
    sigma = torch.tensor(singular[:k] / np.sqrt(len(codes) - 1), dtype=torch.float32)
    basis = torch.tensor(directions[:k], dtype=torch.float32).T  # (M, k)
    return reparametrised(prior, basis * sigma, torch.tensor(mean, dtype=torch.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", default="8,64", help="K of each whitened prior (default 8,64)")
    parser.add_argument("--phantoms", type=int, default=250, help="phantoms of the training set (default 250)")
    parser.add_argument("--mesh-shapes", type=int, default=250, help="real-heart shapes (default 250)")
    parser.add_argument("--copies", type=int, default=2, help="codes per training map (default 2)")
    parser.add_argument("--draws", type=int, default=5, help="motion draws per pattern in protocol a (default 5)")
    parser.add_argument("--acdc-patients", type=int, default=10, help="ACDC patients of protocol b (default 10)")
    parser.add_argument("--section", default="prior-subspace")
    parser.add_argument(
        "--title",
        default="Real anatomy: the shipped prior searched in the whitened principal axes of its training codes",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    prior, meta = load_prior()
    t0 = time.perf_counter()
    codes = training_codes(prior, args.phantoms, args.mesh_shapes, args.copies)
    variance = np.linalg.svd(codes - codes.mean(0), compute_uv=False) ** 2
    held = np.cumsum(variance) / variance.sum()
    print(f"{len(codes)} codes in {time.perf_counter() - t0:.0f} s; variance held:", held[[3, 7, 11, 15, 23, 31]])
    ks = [int(k) for k in args.components.split(",")]
    runs = [
        ("NN", {"method": "nn"}),
        ("SBI", {"method": "sbi"}),
        ("LO (default prior)", {"method": "lo", "prior": prior}),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for k in ks:  # through a file, as a user would load it: the format carries the reduced prior
            reduced_meta = copy.deepcopy(meta)
            reduced_meta["latent_dim"] = reduced_meta["model"]["latent_dim"] = k
            path = Path(folder) / f"k{k}" / PRIOR_FILE
            path.parent.mkdir()
            save_prior(subspace_prior(prior, codes, k), path, reduced_meta)
            runs.append((f"LO (default prior, whitened, {k} axes)", {"method": "lo", "prior": load_prior(path)[0]}))
    first_calls = warm_up(runs)
    rows = protocol_a(runs, args.draws, 1)
    acdc, n_patients = protocol_b(runs, args.acdc_patients)
    rows.update(acdc)
    rows.update(protocol_c(runs))
    intro = (
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" {len(codes)} training codes; the share of their variance the first 4, 8, 12, 16, 24 and 32 components"
        + " hold: "
        + ", ".join(f"{h:.3f}" for h in held[[3, 7, 11, 15, 23, 31]])
        + f". Protocol a with {args.draws} motion draws (seed 1), protocol b on {n_patients} ACDC patients × ED/ES,"
        + " protocol c; columns as in section *real-data*. First calls: "
        + ", ".join(f"{title} {sec:.1f} s" for title, sec in first_calls.items())
        + "."
    )
    report(args.section, args.title, HEADER, summary_table(rows), intro, write=not args.no_write)


if __name__ == "__main__":
    main()
