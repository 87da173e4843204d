"""Parents: which found vertex each vertex of ``all`` mode descends from, and a conversion's gap.

Run after :func:`vertexfinder.finder.match.match_all`, on an event's list of vertices (the primary
first). The relation is a tree rooted at the primary vertex: a vertex's parent is the primary or
another vertex of kind ``interaction`` or ``decay`` that lies closer to the primary in 3D (so no
loop can form; conversions end a photon and are nobody's parent). What the physics says picks
among those candidates:

* **decay, secondary interaction**: a charged particle left the parent and stopped or interacted
  at the child, so a track joins them. The parent is the nearest candidate (in 3D) whose straight
  segment to the child has charge within ``join_radius_px`` pixels along at least
  ``join_coverage`` of its length on every view where both are seen (:func:`segment_coverage`);
  without one, the nearest candidate.
* **conversion**: a photon flies a gap without charge, then its shower goes on in the photon's
  direction, away from the parent. Each candidate is scored by the charge within
  ``axis_radius_cm`` of the conversion lying in the cone (cosine above ``axis_cos``) pointing
  away from the candidate, less the charge in the opposite cone, as a share of that charge
  (:func:`forward_share`, the views' mean), less ``gap_penalty_per_cm`` times the distance (a
  photon's flight is short: tens of cm in argon) plus ``primary_bonus`` for the primary vertex
  (most photons come from the neutrino vertex's pi0s); the highest score is the parent. The gap is
  the 3D distance between the two points.

Measured on 200 simulated DUNE FD nu-mix events (``vertexfinder simulate --detector dune-fd-1x2x6
--sample nu-mix --events 200 --seed 11``; ``parent_accuracy`` of :mod:`vertexfinder.evaluation`):
with the bundled model's vertices 0.88 of the 51 found vertices whose true parent is found get it
right (0.82 with the primary always the parent, 0.80 with the nearest interaction vertex); with
every visible true vertex given as found (true point and kind; one within 2 cm of another kept
once), 0.79 of 734 (0.49 and 0.71): decays 0.81, secondary interactions 0.79, conversions 0.76.
A second sample (seed 12) gives 0.88 of 25 and 0.76 of 763. Of the misses with the bundled
model's vertices (6 of 51), half name a found vertex that is no true vertex (on the track, nearer
than the true parent).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .types import Vertex

__all__ = ["relate", "flag_cosmic", "segment_coverage", "forward_share", "PARENT_KINDS"]

#: The kinds a vertex can descend from (a conversion's electrons make no vertex).
PARENT_KINDS = ("interaction", "decay")


def relate(vertices: list[Vertex], event, mapper, *, join_coverage: float = 0.9, join_radius_px: int = 1,
           axis_radius_cm: float = 3.0, axis_cos: float = 0.8, gap_penalty_per_cm: float = 0.01,
           primary_bonus: float = 0.1) -> list[Vertex]:
    """The vertices, in the same order, with ``parent`` (an index into the list, -1 for the primary)
    and, for a conversion with a parent, ``gap_cm`` set.

    Args:
        vertices: one event's found vertices (:class:`Vertex`), the primary flagged ``primary``.
        event: the event's :class:`vertexfinder.records.EventRecord` (its plane images are read).
        mapper: the event's :class:`vertexfinder.mapper.ImageMapper` (pixel sizes in cm).

    Vertices without a 3D point, and every vertex of an event without a primary vertex that has
    one, keep parent -1.
    """
    vertices = [v if v.parent == -1 and math.isnan(v.gap_cm) else dataclasses.replace(v, parent=-1, gap_cm=math.nan)
                for v in vertices]  # what an earlier relation said does not count
    root = next((i for i, v in enumerate(vertices) if v.primary and v.position_cm is not None), -1)
    if root < 0:
        return vertices
    pixel_cm = [np.asarray(mapper.pixel_cm(p), dtype=np.float64) for p in range(len(event.planes))]
    to_root = [np.inf if v.position_cm is None else float(np.linalg.norm(v.position_cm - vertices[root].position_cm))
               for v in vertices]
    out = list(vertices)
    for i, v in enumerate(vertices):
        if i == root or v.position_cm is None:
            continue
        cands = [k for k, u in enumerate(vertices) if k != i and u.position_cm is not None
                 and u.kind in PARENT_KINDS and (k == root or to_root[k] < to_root[i])]
        if not cands:
            continue
        dist = {k: float(np.linalg.norm(vertices[k].position_cm - v.position_cm)) for k in cands}
        if v.kind == "conversion":
            score = {k: forward_share(event, v, vertices[k], pixel_cm, radius_cm=axis_radius_cm, cos_min=axis_cos)
                     - gap_penalty_per_cm * dist[k] + primary_bonus * (k == root) for k in cands}
            parent = max(cands, key=lambda k: score[k])
            out[i] = dataclasses.replace(v, parent=parent, gap_cm=dist[parent])
        else:
            nearest = sorted(cands, key=lambda k: dist[k])
            parent = next((k for k in nearest if _joined(event, v, vertices[k], join_coverage, join_radius_px)),
                          nearest[0])
            out[i] = dataclasses.replace(v, parent=parent)
    return out


def _joined(event, child: Vertex, parent: Vertex, coverage: float, radius_px: int) -> bool:
    """Whether charge follows the straight segment between two vertices on every view seeing both."""
    seen = False
    for p in range(len(event.planes)):
        a, b = _view_point(child, p), _view_point(parent, p)
        if a is None or b is None:
            continue
        seen = True
        if segment_coverage(event.planes[p], a, b, radius_px=radius_px) < coverage:
            return False
    return seen


def segment_coverage(plane, a, b, *, radius_px: int = 1, step_px: float = 0.5, skip_px: float = 1.5) -> float:
    """Share of the segment from ``a`` to ``b`` (global (wire, drift) pixels of one view) with charge
    within ``radius_px`` pixels (a square), sampled every ``step_px`` and leaving ``skip_px`` at
    either end out; 1 for a segment shorter than ``2 * skip_px``.

    Args:
        plane: the view's :class:`vertexfinder.records.PlaneImage` (pixels outside its crop hold
            no charge).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    length = float(np.linalg.norm(b - a))
    if length <= 2 * skip_px:
        return 1.0
    t = np.arange(skip_px, length - skip_px, step_px) / length
    cells = np.floor(a + t[:, None] * (b - a) - np.asarray(plane.origin)).astype(np.int64)
    off = np.arange(-radius_px, radius_px + 1)
    w, d = np.broadcast_arrays(cells[:, 0, None, None] + off[None, :, None],
                               cells[:, 1, None, None] + off[None, None, :])
    inside = (w >= 0) & (w < plane.pixels.shape[0]) & (d >= 0) & (d < plane.pixels.shape[1])
    charged = np.zeros(w.shape, dtype=bool)
    charged[inside] = plane.pixels[w[inside], d[inside]] > 0
    return float(charged.reshape(len(t), -1).any(axis=1).mean())


def forward_share(event, child: Vertex, parent: Vertex, pixel_cm, *, radius_cm: float = 3.0,
                  cos_min: float = 0.8) -> float:
    """How much of the charge around ``child`` goes on away from ``parent``, in [-1, 1].

    On each view seeing both, the charge within ``radius_cm`` of the child in the cone (cosine
    above ``cos_min``) around the direction from the parent to the child, less the charge in the
    opposite cone, as a share of all the charge within ``radius_cm``; the mean over those views
    (0 where none has charge). ``pixel_cm``: (wire, drift) pixel size in cm of each view.
    """
    shares = []
    for p, plane in enumerate(event.planes):
        a, b = _view_point(child, p), _view_point(parent, p)
        if a is None or b is None:
            continue
        px = np.asarray(pixel_cm[p], dtype=np.float64)
        away = (a - b) * px
        norm = float(np.linalg.norm(away))
        if norm == 0:
            continue
        disp, q = _charge_around(plane, a, px, radius_cm)
        if not len(q):
            continue
        cos = disp @ away / norm / np.maximum(np.linalg.norm(disp, axis=1), 1e-9)
        shares.append(float((q[cos > cos_min].sum() - q[cos < -cos_min].sum()) / q.sum()))
    return float(np.mean(shares)) if shares else 0.0


def _charge_around(plane, center, pixel_cm, radius_cm: float):
    """(displacements in cm (M, 2), charges (M,)) of the charged pixels within ``radius_cm`` of
    ``center`` (global pixels), displacements measured from the pixels' centres."""
    reach = np.ceil(radius_cm / pixel_cm).astype(np.int64)
    c = np.floor(np.asarray(center) - np.asarray(plane.origin)).astype(np.int64)
    w0, w1 = max(c[0] - reach[0], 0), min(c[0] + reach[0] + 1, plane.pixels.shape[0])
    d0, d1 = max(c[1] - reach[1], 0), min(c[1] + reach[1] + 1, plane.pixels.shape[1])
    if w0 >= w1 or d0 >= d1:
        return np.zeros((0, 2)), np.zeros(0)
    sub = plane.pixels[w0:w1, d0:d1]
    w, d = np.nonzero(sub)
    disp = (np.stack([w + w0, d + d0], axis=1) + 0.5 + np.asarray(plane.origin) - center) * pixel_cm
    keep = np.linalg.norm(disp, axis=1) <= radius_cm
    return disp[keep], sub[w, d][keep].astype(np.float64)


def _view_point(v: Vertex, p: int):
    pv = v.planes[p] if p < len(v.planes) else None
    return None if pv is None else np.array([pv.global_wire, pv.global_drift], dtype=np.float64)


def flag_cosmic(vertices: list[Vertex]) -> list[Vertex]:
    """The vertices with ``cosmic`` set on those whose chain of parents does not reach the primary
    vertex (the first, when it is the primary): at the surface, what is not the neutrino's is a
    cosmic muon's. Without a primary vertex every vertex is a cosmic's."""
    root = 0 if vertices and vertices[0].primary else -1
    out = []
    for i, v in enumerate(vertices):
        j, seen = i, set()
        while j != root and j >= 0 and j not in seen:
            seen.add(j)
            j = vertices[j].parent
        out.append(dataclasses.replace(v, cosmic=bool(j != root or root < 0)))
    return out
