"""Hand-made events of the ``test-detector``: charge painted where the test says, truth and found
vertices placed by hand, so the parents, gaps and figures they make are known in advance."""

from __future__ import annotations

import numpy as np

from vertexfinder.finder import PlaneVertex, Vertex
from vertexfinder.mapper import ImageMapper
from vertexfinder.records import FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex

DETECTOR = "test-detector"
MAPPER = ImageMapper(DETECTOR)


def blank_images() -> list[np.ndarray]:
    """One all-zero global image per view."""
    return [np.zeros(MAPPER.shape(v), dtype=np.uint8) for v in MAPPER.views]


def paint_segment(images, a, b, *, charge: int = 100, step_cm: float = 0.05) -> None:
    """Charge along the 3D segment a -> b (cm) on every view, in place."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = max(int(np.linalg.norm(b - a) / step_cm), 1) + 1
    points = MAPPER.project_points(a + np.linspace(0, 1, n)[:, None] * (b - a))
    for p, image in enumerate(images):
        ok = np.all(np.isfinite(points[:, p]), axis=1)
        w, d = np.floor(points[ok, p]).astype(int).T
        image[w, d] = charge


def paint_blob(images, xyz, *, charge: int = 100) -> None:
    """A 3x3-pixel blob of charge at a 3D point's projection on every view, in place."""
    point = MAPPER.project_points(xyz)[0]
    for p, image in enumerate(images):
        w, d = np.floor(point[p]).astype(int)
        image[w - 1 : w + 2, d - 1 : d + 2] = charge


def event(images, truth=(), *, number: int = 1) -> EventRecord:
    """An EventRecord of the painted images (whole global images, origin 0) and truth vertices."""
    planes = [PlaneImage(v, im, (0, 0)) for v, im in zip(MAPPER.views, images)]
    return EventRecord(1, 0, number, DETECTOR, 6, "max", planes, tuple(truth), nu_pdg=14, interaction="CC",
                       energy_gev=2.0)


def truth_vertex(kind: str, xyz, *, parent: int = -1, primary: bool = False) -> TruthVertex:
    xyz = np.asarray(xyz, dtype=np.float64)
    return TruthVertex(kind, xyz, flags=FLAG_NU_PRIMARY if primary else 0, parent=parent,
                       planes=MAPPER.project_points(xyz)[0])


def found_vertex(kind: str, xyz, *, primary: bool = False, parent: int = -1, gap_cm: float = float("nan"),
                 wire_offsets_px=(0.0, 0.0, 0.0), on_views=None) -> Vertex:
    """A found vertex at a 3D point: on each view its projection moved by ``wire_offsets_px``
    along the wire axis (global pixels); ``on_views``: the 3D point is kept only when None, else
    just these view indices get a PlaneVertex (and the vertex has no 3D point)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    planes = []
    for p, view in enumerate(MAPPER.views):
        proj = MAPPER.project(xyz, view)
        if on_views is not None and p not in on_views:
            planes.append(None)
            continue
        planes.append(PlaneVertex(view, proj.global_wire + wire_offsets_px[p], proj.global_drift, proj.tpc,
                                  proj.wire, proj.channel, proj.tick))
    return Vertex(kind, 0.5, tuple(planes), xyz if on_views is None else None, 0.1,
                  MAPPER.project(xyz, "Z").tpc, primary, parent=parent, gap_cm=gap_cm)
