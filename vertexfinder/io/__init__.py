"""Reading and writing events and outputs.

``vertexfinder.io.events`` reads events from any input (store, ROOT dump, frame, hit or
Wire-Cell frame ``.npz``), writes them, and converts dumps into stores; ``vertexfinder.io.root`` reads and writes the
historical ROOT dump layout (TH2C plane images and the ``nu vertex`` trees) with uproot;
``vertexfinder.io.atomic`` makes every output appear only when complete. Names are loaded
lazily so ``import vertexfinder.io`` does not import uproot.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DumpEntry": ".root",
    "read_dump": ".root",
    "write_dump": ".root",
    "read_events": ".events",
    "write_events": ".events",
    "convert": ".events",
    "read_npz": ".events",
    "npz_events": ".events",
    "dump_mapper": ".events",
    "dump_metadata": ".root",
    "atomic_output": ".atomic",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vertexfinder.io' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
