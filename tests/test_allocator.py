"""Freed memory kept for reuse (glibc): the latent search's large tensors stop page-faulting."""

import resource
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
