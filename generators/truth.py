"""The truth walks are trained on: vertex classes, truth flags, and an event's vertices per plane.

This is the one definition of the class names and the truth flags; the event records of
``vertexfinder`` use these same values (``vertexfinder.records`` takes them from here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLASS_NAMES", "NONE_CLASS", "KIND_IDS",
    "FLAG_HADRONIC", "FLAG_PI0", "FLAG_DECAY", "FLAG_CONVERSION", "FLAG_NU_PRIMARY", "FLAG_COSMIC",
    "EventTruth", "event_truth",
]

#: Class ids of the model's class head and of every target: the three vertex classes, then none.
CLASS_NAMES = ("interaction", "decay", "conversion", "none")
NONE_CLASS = 3
KIND_IDS = {name: i for i, name in enumerate(CLASS_NAMES)}

# Truth vertex flags, as in the historical dumps' truth maps.
FLAG_HADRONIC = 0x1
FLAG_PI0 = 0x2
FLAG_DECAY = 0x4
FLAG_CONVERSION = 0x8
FLAG_NU_PRIMARY = 0x10
FLAG_COSMIC = 0x20  # a vertex of a cosmic muon or its descendants (a stopping muon's Michel decay)


@dataclass(frozen=True)
class EventTruth:
    """An event's truth in the pixel coordinates of its plane crops.

    Attributes:
        vertices: per plane, float (V, 2) vertex positions relative to the crop's origin (NaN:
            not on that plane).
        truth: per plane, the int16 map of the vertex each pixel's charge comes from (or None).
        kinds: int (V,) class id of each vertex.
        primary: index of the neutrino vertex, -1 if none.
    """

    vertices: tuple
    truth: tuple
    kinds: np.ndarray
    primary: int


def event_truth(event) -> EventTruth:
    """The truth of an event (``.planes`` with ``.origin``/``.truth``, ``.vertices`` with ``.kind``,
    ``.planes`` (P, 2) global coordinates and ``.flags``) in each plane crop's pixel coordinates."""
    verts, maps = [], []
    for p, plane in enumerate(event.planes):
        origin = np.asarray(plane.origin, dtype=np.float64)
        verts.append(np.array([v.planes[p] for v in event.vertices], dtype=np.float64).reshape(-1, 2) - origin)
        maps.append(plane.truth)
    kinds = np.array([KIND_IDS[v.kind] for v in event.vertices], dtype=np.int64)
    primary = next((j for j, v in enumerate(event.vertices) if v.flags & FLAG_NU_PRIMARY), -1)
    return EventTruth(tuple(verts), tuple(maps), kinds, primary)
