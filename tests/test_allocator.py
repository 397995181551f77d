"""Freed memory kept for reuse (glibc): the latent search's large tensors stop page-faulting."""

import resource
import subprocess
import sys

import numpy as np
import pytest

from cardiosr.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_large_blocks_are_reused_instead_of_faulted_in_again():
    if not keep_freed_memory():
        pytest.skip("not glibc")
    block = 20 * 1024 * 1024  # a decoded batch of the latent search is 6-25 MB

    def iteration() -> None:  # several blocks alive at once, all freed at the end, as in one search step
        alive = [np.ones(block, np.uint8) for _ in range(8)]
        del alive

    iteration()  # the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        iteration()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # without the settings glibc gives the freed blocks back and faults them in again: about 23,000 faults here
    assert faults < 1000
    assert keep_freed_memory()  # once per process: the same answer again


#: A training step of a small prior on the canonical grid (its logits, 67 MB, are above glibc's 32 MiB mmap cap),
#: in a fresh interpreter (the settings last for the process; the rest of the suite should not inherit them):
#: prints the settings' result and the fewest page faults of four steps after the first (the heap may still grow
#: once or twice after the first step, 16,000-25,000 faults in that step; the fewest is what a step costs).
TRAINING_STEPS = """
import resource, sys, torch
from cardiosr.allocator import keep_freed_memory
from cardiosr.prior import VAE3D
from cardiosr.prior.train import one_hot_tensor, vae_loss
ok = keep_freed_memory(large_blocks=True) if sys.argv[1] == "large" else True
torch.manual_seed(0)
model = VAE3D(latent_dim=4, width=2, levels=5, max_channels=8).train()
labels = torch.randint(0, 4, (4, 64, 128, 128))
def step():
    logits, mu, logvar = model(one_hot_tensor(labels), noise=torch.randn(4, 4))
    vae_loss(logits, labels, mu, logvar, 1e-3)[0].backward()
step()
counts = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(ok, min(counts))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_training_steps_reuse_blocks_above_the_mmap_cap_with_large_blocks():
    def faults(mode: str) -> tuple[str, int]:
        run = subprocess.run([sys.executable, "-c", TRAINING_STEPS, mode], capture_output=True, text=True, check=True)
        ok, count = run.stdout.split()
        return ok, int(count)

    large_ok, large = faults("large")
    if large_ok != "True":
        pytest.skip("not glibc")
    _, plain = faults("plain")
    # measured: about 150,000 faults per step as glibc comes, 0 with the blocks kept on the heap once it has grown
    assert plain > 50_000
    assert large < plain / 10
