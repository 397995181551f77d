"""cardiosr: joint motion correction and super-resolution of cardiac MR segmentations.

``cardiosr.enhance(sa, la=None, prior=None, **options) -> Result`` is the one-call API (see
:mod:`cardiosr.pipeline`); it is imported on first use so that ``import cardiosr`` stays light.
"""

from __future__ import annotations

from typing import Any

from cardiosr.version import __version__

__all__ = ["Result", "__version__", "enhance", "enhance_batch"]


def __getattr__(name: str) -> Any:
    if name in ("enhance", "enhance_batch", "Result"):
        from cardiosr import pipeline as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'cardiosr' has no attribute {name!r}")
