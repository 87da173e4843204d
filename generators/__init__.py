"""On-the-fly multi-resolution glimpse and batch generation (NumPy + Numba).

Never imports ``vertexfinder``. Every name is loaded lazily: the glimpse kernels, walks, features
and rollouts need only NumPy and Numba; ``generators.dataset`` (the ``keras.utils.PyDataset``)
and ``generators.callbacks`` import Keras.

May import: nothing outside ``generators`` (never ``vertexfinder`` or ``models``).
"""

import importlib

_LAZY = {
    "GlimpseSpec": ".glimpses",
    "Pyramid": ".glimpses",
    "build_pyramid": ".glimpses",
    "extract_glimpses": ".glimpses",
    "glimpse_coordinates": ".glimpses",
    "CLASS_NAMES": ".truth",
    "NONE_CLASS": ".truth",
    "event_truth": ".truth",
    "WalkSpec": ".walks",
    "Walks": ".walks",
    "sample_walks": ".walks",
    "walk_features": ".features",
    "num_walk_features": ".features",
    "flip_batch": ".features",
    "WalkBatch": ".rollout",
    "rollout": ".rollout",
    "CompositionControl": ".composition",
    "CompositionCallback": ".callbacks",
    "WalkDataset": ".dataset",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'generators' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
