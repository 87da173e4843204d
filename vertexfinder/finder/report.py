"""What the finder reports: a :class:`Vertex` with its :class:`PlaneVertex` on every view.

A fitted 3D point gives every view one drift time (the point's); a view where a candidate was
found keeps its wire, the others show the point's projection (``found=False``). Wire, channel and
tick come from the event's :class:`vertexfinder.mapper.ImageMapper`.
"""

from __future__ import annotations

import math

import numpy as np

from ..records import VERTEX_KINDS
from .types import Candidate3D, PlaneVertex, Vertex

__all__ = ["vertex", "plane_vertex", "project"]


def vertex(found: Candidate3D, mapper, n_planes: int, kind: str | None = None, primary: bool = False) -> Vertex:
    """The Vertex of a 3D candidate (or of a single-view answer without a fit): its class the
    candidates' most probable one unless ``kind`` is given, its score their mean walk share."""
    present = found.present
    bp = found.fit
    probs = np.mean([c.probs for c in present], axis=0)
    kind = kind or VERTEX_KINDS[int(np.argmax(probs[:3]))]
    planes = []
    for p in range(n_planes):
        c = next((c for c in present if c.plane == p), None)
        if bp is None:
            planes.append(None if c is None else plane_vertex(mapper, p, c.position, None))
            continue
        proj = project(mapper, bp, p)  # one drift time for every view: the 3D point's
        if not np.isfinite(proj.global_drift):
            planes.append(None if c is None else plane_vertex(mapper, p, c.position, bp.tpc))
        elif c is None:
            planes.append(plane_vertex(mapper, p, (proj.global_wire, proj.global_drift), bp.tpc, found=False))
        else:
            planes.append(plane_vertex(mapper, p, (c.position[0], proj.global_drift), bp.tpc))
    return Vertex(kind=kind, score=float(np.clip(np.mean([c.score for c in present]), 0, 1)), planes=tuple(planes),
                  position_cm=None if bp is None else np.asarray(bp.position_cm),
                  residual_cm=float("nan") if bp is None else float(bp.residual_cm),
                  tpc=-1 if bp is None else int(bp.tpc), primary=primary,
                  class_probabilities=tuple(float(x) for x in probs))


def project(mapper, bp, p: int):
    """The projection of a fitted 3D point on view ``p``; a point the fit let lie just outside
    its TPC (within its tolerance) is projected from the nearest point of that TPC's volume."""
    xyz = np.asarray(bp.position_cm, dtype=np.float64)
    proj = mapper.project(xyz, p)
    if proj.tpc < 0 and bp.tpc >= 0:
        x0, x1, y0, y1, z0, z1 = mapper.detector.tpcs[bp.tpc].box
        eps = 1e-6
        inside = np.clip(xyz, [x0 + eps, y0 + eps, z0 + eps], [x1 - eps, y1 - eps, z1 - eps])
        proj = mapper.project(inside, p)
    return proj


def plane_vertex(mapper, p: int, position, tpc: int | None, found: bool = True) -> PlaneVertex:
    """The PlaneVertex at global ``position`` of view ``p`` in ``tpc`` (None: the first TPC whose
    plane holds that pixel)."""
    gw, gd = float(position[0]), float(position[1])
    view = mapper.views[p]
    if tpc is None:
        tpcs = mapper.tpcs_at(view, int(math.floor(gw)), int(math.floor(gd)))
        tpc = tpcs[0] if tpcs else -1
    if tpc < 0:
        return PlaneVertex(view, gw, gd, found=found)
    tp = mapper.tpc_plane(view, tpc)
    wire = float(mapper.global_to_wire(view, tpc, gw))
    wi = int(math.floor(wire))
    channel = int(tp.channels[wi]) if 0 <= wi < tp.n_wires else -1
    tick = float(mapper.global_drift_to_tick(tpc, gd, view))
    return PlaneVertex(view, gw, gd, int(tpc), float(wire), channel, tick, found)
