"""Cost of one β-VAE training step per label map on the canonical grid, for a few network widths.

Usage::

    python benchmarks/prior_step_cost.py [--batch-size 16] [--steps 3]
    python benchmarks/prior_step_cost.py --allocator --batch-size 4 --steps 10 --repeats 3

Times forward + backward + Adam step on random one-hot maps (the first step is a warm-up and not
counted). Prints a table and writes it to docs/benchmarks.md. With ``--allocator`` the default layout is
timed instead under glibc's three memory settings (:func:`cardiosr.allocator.keep_freed_memory`): as glibc
comes, with freed memory kept, and with large blocks from the heap too (what the trainers set), each in a
fresh process, ``--repeats`` times in turn: seconds per step, page faults per step, system CPU time per step
and the process's peak resident memory (section ``prior-step-allocator``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
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


#: ``--allocator`` settings: name and the keywords of :func:`cardiosr.allocator.keep_freed_memory` (None: off).
ALLOCATORS = [
    ("as glibc comes", None),
    ("freed memory kept", {}),
    ("large blocks from the heap too", {"large_blocks": True}),
]


def _allocator_run(setting: dict | None, batch_size: int, steps: int) -> tuple[float, float, float, float]:
    """In a fresh process: seconds, page faults and system seconds per step, and peak resident MB."""
    from cardiosr.allocator import keep_freed_memory

    if setting is not None:
        keep_freed_memory(**setting)
    torch.manual_seed(0)
    model = VAE3D(latent_dim=64, **dict(LAYOUTS)["default"]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    labels = torch.randint(0, 4, (batch_size, 64, 128, 128))

    def step() -> None:
        logits, mu, logvar = model(one_hot_tensor(labels), noise=torch.randn(batch_size, 64))
        loss = vae_loss(logits, labels, mu, logvar, 1e-3)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    seconds, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    faults = (after.ru_minflt - before.ru_minflt) / steps
    return seconds / steps, faults, (after.ru_stime - before.ru_stime) / steps, after.ru_maxrss / 1024


def allocator_table(batch_size: int, steps: int, repeats: int) -> None:
    runs: dict[str, list] = {name: [] for name, _ in ALLOCATORS}
    context = multiprocessing.get_context("spawn")
    for _ in range(repeats):
        for name, setting in ALLOCATORS:
            with context.Pool(1) as pool:
                runs[name].append(pool.apply(_allocator_run, (setting, batch_size, steps)))
            print(name, runs[name][-1], flush=True)
    rows = []
    for name, values in runs.items():
        seconds, faults, system, peak = zip(*values, strict=True)
        times = " / ".join(f"{t:.2f}" for t in seconds)
        rows.append(
            [name, times, f"{sum(faults) / len(faults):,.0f}", f"{sum(system) / len(system):.2f}", f"{max(peak):.0f}"]
        )
    header = ["glibc memory settings", "s per step (each run)", "page faults per step", "system s per step", "peak MB"]
    table = markdown_table(header, rows)
    print(table)
    body = (
        f"One training step of the default layout (batch {batch_size}, {steps} steps after a warm-up), each setting "
        f"in a fresh process, {repeats} rounds in turn.\n\n{table}"
    )
    write_section("prior-step-allocator", "Prior training step cost and glibc's memory settings", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per layout (default 3)")
    parser.add_argument("--allocator", action="store_true", help="time glibc's memory settings instead of layouts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of --allocator (default 3)")
    args = parser.parse_args()
    if args.allocator:
        allocator_table(args.batch_size, args.steps, args.repeats)
        return
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
