"""On-the-fly multi-resolution glimpse and batch generation (NumPy + Numba).

Never imports ``vertexfinder``; the glimpse kernels and walks need only NumPy
and Numba, the dataset and its callback import Keras (loaded lazily).
"""

import importlib

from .glimpses import GlimpseSpec, Pyramid, build_pyramid, extract_glimpses, glimpse_coordinates
from .walks import CLASS_NAMES, NONE_CLASS, WalkSpec, Walks, sample_walks

_LAZY = {
    "WalkDataset": ".dataset",
    "walk_features": ".dataset",
    "flip_batch": ".dataset",
    "CompositionControl": ".composition",
    "CompositionCallback": ".composition",
}

__all__ = [
    "GlimpseSpec", "Pyramid", "build_pyramid", "extract_glimpses", "glimpse_coordinates",
    "CLASS_NAMES", "NONE_CLASS", "WalkSpec", "Walks", "sample_walks", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'generators' has no attribute {name!r}")
