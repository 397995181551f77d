"""Independent NumPy/SciPy calls on every core: :func:`thread_map` (no torch).

``scipy.ndimage`` releases the GIL inside its C loops (resampling, distance transforms), so the channels of
a label map can be processed by threads at once: on 2 cores the four channels of a canonical resampling
take about half the time. Results are identical to a plain loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_map(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[func(item) for item in items]``, the calls spread over :func:`available_cores` threads.

    Examples
    --------
    >>> thread_map(abs, [-1, 2, -3])
    [1, 2, 3]
    """
    items = list(items)
    workers = min(len(items), available_cores())
    if workers <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))
