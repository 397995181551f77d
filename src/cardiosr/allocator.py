"""Keep freed memory for reuse: :func:`keep_freed_memory` (glibc's ``mallopt``; no torch).

Every iteration of the latent search makes and frees tensors of 5 to 30 MB. By default glibc serves blocks
of that size with ``mmap`` and gives them back to the system when they are freed (or trims the heap), so the
next iteration touches fresh pages again: one page fault, and a page zeroed by the kernel, per 4 kB —
about 100,000 faults and 0.35 s of system time per subject. With the blocks served from the heap and the heap
kept, they are reused instead: 7 % less wall time on a 50-frame cine (70.1 against 75.6 s, two runs in a row),
in exchange for a resident size that stays near its peak (1.49 against 1.33 GB there). ``torch`` has no
setting for its CPU allocator, and its documentation recommends a replacement ``malloc`` (jemalloc, tcmalloc)
for the same reason; these three ``mallopt`` settings get that behaviour without one. Nothing changes where
glibc is absent (macOS, Windows, musl): the function then returns ``False``.

Training a prior frees larger blocks still (a batch's logits and their gradients, 67 MB at batch 4), which
glibc always serves with ``mmap`` however high the threshold (its cap is 32 MiB): about 160,000 page faults per
training step of batch 4 and half a second of system time. ``keep_freed_memory(large_blocks=True)`` (called by
the prior trainers) also turns ``mmap`` off (``M_MMAP_MAX`` 0), so every block comes from the heap and is
reused: 6,000 faults and 0.66–0.75 s per step against 0.96–1.02 s as glibc comes (0.79–0.88 s with the three
settings alone), for a peak resident memory of 1.22 against 1.05 GB (``python benchmarks/prior_step_cost.py
--allocator --batch-size 4 --steps 10``, section *prior-step-allocator* of ``docs/benchmarks.md``). ``enhance``
gains nothing from it (its blocks are below the cap; 3.6–4.0 s per real stack either way, a script not in the
repository), so it leaves ``mmap`` on.
"""

from __future__ import annotations

import ctypes
import sys

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
#: Blocks below this size come from the heap (glibc's largest allowed value on 64-bit systems, 32 MiB).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: Free memory at the top of the heap kept before any is given back (1 GiB).
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
#: Extra memory taken each time the heap grows (128 MiB): fewer, larger growths.
TOP_PAD_BYTES = 128 * 1024 * 1024

_done: dict[bool, bool] = {}


def keep_freed_memory(*, large_blocks: bool = False) -> bool:
    """Make glibc keep freed memory for reuse in this process (once per setting; later calls return the first
    result).

    Called by :class:`cardiosr.pipeline.Enhancer`, so the command line, ``batch`` workers and the API get it,
    and with ``large_blocks`` by the prior trainers.

    Parameters
    ----------
    large_blocks:
        Also serve blocks above glibc's 32 MiB cap from the heap (``mmap`` off), as prior training frees
        many of them every step.

    Returns
    -------
    bool
        True when all settings were accepted (Linux with glibc).

    Examples
    --------
    >>> keep_freed_memory() in (True, False)
    True
    """
    if False not in _done:
        _done[False] = _apply(_KEEP)
    if large_blocks and True not in _done:
        _done[True] = _done[False] and _apply(((M_MMAP_MAX, 0),))
    return _done[large_blocks]


#: The three settings of :func:`keep_freed_memory`.
_KEEP = (
    (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
    (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
    (M_TOP_PAD, TOP_PAD_BYTES),
)


def _apply(settings: tuple[tuple[int, int], ...]) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)
