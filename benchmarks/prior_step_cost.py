"""Cost of one β-VAE training step per label map on the canonical grid, for a few network widths.

Usage::

    python benchmarks/prior_step_cost.py [--batch-size 16] [--steps 3]

Times forward + backward + Adam step on random one-hot maps (the first step is a warm-up and not
counted). Prints a table and writes it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

import torch
from _report import markdown_table, write_section

from cardiosr.prior import VAE3D
from cardiosr.prior.train import one_hot_tensor, vae_loss

LAYOUTS = [
    ("published layout", {"width": 4, "levels": 4, "max_channels": None}),
    ("default", {"width": 8, "levels": 5, "max_channels": 64}),
    ("wider", {"width": 16, "levels": 5, "max_channels": 64}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per layout (default 3)")
    args = parser.parse_args()
    rows = []
    for name, layout in LAYOUTS:
        torch.manual_seed(0)
        model = VAE3D(latent_dim=64, **layout).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        labels = torch.randint(0, 4, (args.batch_size, 64, 128, 128))
        times = []
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            logits, mu, logvar = model(one_hot_tensor(labels), noise=torch.randn(args.batch_size, 64))
            loss = vae_loss(logits, labels, mu, logvar, 1e-3)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step:
                times.append(time.perf_counter() - t0)
        per_map = sum(times) / len(times) / args.batch_size
        n_params = sum(p.numel() for p in model.parameters())
        rows.append([name, f"{layout['width']}", f"{layout['levels']}", f"{n_params:,}", f"{per_map:.3f}"])
        print(rows[-1])
    table = markdown_table(["layout", "width", "levels", "parameters", "s per map and step"], rows)
    print(table)
    body = f"One training step (batch {args.batch_size}, mean of {args.steps} steps after a warm-up).\n\n{table}"
    write_section("prior-step-cost", "Prior training step cost", body)


if __name__ == "__main__":
    main()
