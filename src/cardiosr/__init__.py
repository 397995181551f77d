"""cardiosr: joint motion correction and super-resolution of cardiac MR segmentations.

``cardiosr.enhance(sa, la=None, **settings) -> Result`` is the one-call API and ``cardiosr.Enhancer(settings)``
loads the models once for many subjects (see :mod:`cardiosr.pipeline`); they are imported on first use so
that ``import cardiosr`` stays light.
"""

from __future__ import annotations

from typing import Any

from cardiosr.version import __version__

__all__ = ["EnhanceSettings", "Enhancer", "Result", "__version__", "enhance", "enhance_batch"]


def __getattr__(name: str) -> Any:
    if name in ("enhance", "enhance_batch", "Result", "Enhancer", "EnhanceSettings"):
        from cardiosr import pipeline as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'cardiosr' has no attribute {name!r}")
