"""Detector descriptions: built-in detectors and user files.

``get_detector("dune-fd-1x2x6")`` returns a built-in detector;
``get_detector("path/to/sbnd.toml")`` reads a description from a TOML or
JSON file (schema in :mod:`vertexfinder.detectors._schema`, example in
``docs/detectors/sbnd.toml``). Every Detector's geometry is checked once built
(:mod:`vertexfinder.detectors.checks`): overlapping drift volumes and coincident
wire planes are refused.

May import: ``vertexfinder.errors``, ``vertexfinder.text``.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UnknownDetectorError
from ._geometry import TPC, Detector, TPCPlane
from ._schema import MAX_VIEW_PIXELS, DetectorSpec, load_detector_file, parse_detector

__all__ = ["Detector", "DetectorSpec", "TPC", "TPCPlane", "get_detector", "list_detectors", "detector_from_dict",
           "DEFAULT_DETECTOR", "MAX_VIEW_PIXELS"]

#: The detector commands and functions assume when none is given (what the historical dumps were made with).
DEFAULT_DETECTOR = "dune-fd-1x2x6"


def list_detectors() -> list[str]:
    """Names of the built-in detectors."""
    folder = resources.files(__package__) / "builtin"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


@functools.lru_cache(maxsize=32)
def _builtin(name: str) -> Detector:
    path = resources.files(__package__) / "builtin" / f"{name}.toml"
    with resources.as_file(path) as p:
        return Detector(load_detector_file(p))


@functools.lru_cache(maxsize=32)
def _from_file(path: str, mtime: float) -> Detector:
    return Detector(load_detector_file(path))


def get_detector(name_or_path: str | Path | Detector) -> Detector:
    """A built-in detector by name, or a detector described in a TOML/JSON file."""
    if isinstance(name_or_path, Detector):
        return name_or_path
    key = str(name_or_path)
    if key in list_detectors():
        return _builtin(key)
    path = Path(key)
    if path.suffix.lower() in (".toml", ".json") and path.is_file():
        return _from_file(str(path.resolve()), path.stat().st_mtime)
    raise UnknownDetectorError(key, list_detectors())


def detector_from_dict(data: dict[str, Any]) -> Detector:
    """A detector from a plain-data description (as written in an event store's metadata)."""
    return Detector(parse_detector(data))
