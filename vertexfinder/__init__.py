"""vertexfinder: an on-the-fly, recurrent, multi-resolution vertex finder for LArTPCs.

Public names are loaded lazily, so ``import vertexfinder`` is cheap and never
loads TensorFlow.

May import: ``generators``, ``models`` (and its own subpackages, each with its own rule in its
``__init__``; ``tests/test_layering.py`` checks every rule and that no import circle exists).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "get_detector": ".detectors",
    "list_detectors": ".detectors",
    "Detector": ".detectors",
    "ImageMapper": ".mapper",
    "EventStore": ".io.store",
    "EventRecord": ".records",
    "PlaneImage": ".records",
    "TruthVertex": ".records",
    "VERTEX_KINDS": ".records",
    "read_dump": ".io.root",
    "write_dump": ".io.root",
    "convert": ".io.events",
    "simulate": ".simulation",
    "write_events": ".io.events",
    "VertexFinder": ".finder",
    "FinderConfig": ".finder",
    "Vertex": ".finder",
    "PlaneVertex": ".finder",
    "load_model": ".finder",
    "evaluate": ".evaluation",
    "event_from_frame": ".inputs",
    "event_from_hits": ".inputs",
    "read_events": ".io.events",
    "demo": ".demo",
    "show_event": ".demo",
    "ModelConfig": ".model",
    "FIND_COLUMNS": ".io.results",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vertexfinder' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
