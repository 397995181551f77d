"""Independent NumPy/SciPy calls on every core: :func:`thread_map` and :func:`background_map` (no torch).

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


def background_map(func: Callable[[T], R], items: Iterable[T], *, ahead: int = 2) -> list[R]:
    """``[func(item) for item in items]`` with the calls in one background thread, overlapping the production
    of the next items (``items`` may be a generator whose every item costs time to make).

    At most ``ahead`` items wait for ``func`` at any time, so a generator is not drained faster than ``func``
    keeps up (what each item holds is freed as it is done). An exception in ``func`` is raised here.

    Examples
    --------
    >>> background_map(abs, (x - 2 for x in range(4)))
    [2, 1, 0, 1]
    """
    futures = []
    with ThreadPoolExecutor(1) as pool:
        for item in items:
            futures.append(pool.submit(func, item))
            if len(futures) > ahead:
                futures[-1 - ahead].result()
        return [f.result() for f in futures]
