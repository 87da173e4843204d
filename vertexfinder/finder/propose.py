"""Proposals without walks: places the walks may have missed, refined and matched like their clusters.

* the beam prior (:func:`beam_prior`): the upstream ends of the biggest charge clusters of the view
  whose wire axis follows the beam;
* crossings (:func:`crossings_of`): on every other view, where its charge crosses the drift row
  of those ends and of the collection view's best walk candidates (one drift time is shared by
  all views, so the vertex is among those crossings when the anchor's candidate is right);
* wire tiles (:func:`tiles_of`): the 3D-consistent points along one view's wire at its drift time
  where every other view has charge;
* ``all`` mode (:func:`secondary_proposals`): both ends of the collection view's biggest charge
  clusters and their crossings, for the secondary vertices.

The image kernels are in :mod:`vertexfinder.finder.beam`. Every function returns
{plane: (M, 2) global coordinates}.
"""

from __future__ import annotations

import numpy as np

from .config import FinderConfig
from .types import BeamPrior, Candidate, PreparedView

__all__ = ["beam_prior", "collection_plane", "proposals", "secondary_proposals", "crossings_of", "tiles_of",
           "merged", "stacked"]


def collection_plane(mapper) -> int:
    """View index of the collection plane (no wrapped wires: it resolves the ghosts of wrapped
    induction planes; every ``all``-mode match includes it); -1 without one."""
    view = getattr(mapper.detector, "collection_view", None)
    return mapper.view_index(view) if view is not None else -1


def beam_prior(mapper, prepared: list[PreparedView], direction) -> BeamPrior | None:
    """The event's beam prior (its upstream profile read from the prepared beam view), or None
    (no beam ``direction``, or no view whose wire axis follows it)."""
    from .beam import UpstreamProfile, beam_view

    found = beam_view(mapper.detector, direction)
    if found is None:
        return None
    v, sign = found
    view = prepared[v]
    profile = UpstreamProfile(view.image, 0.0, sign, margin=2.0)  # model pixels of the prepared image
    return BeamPrior(v, sign, lambda global_wire: profile((global_wire - view.origin[0]) * view.factor[0]))


def proposals(mapper, prepared: list[PreparedView], prior: BeamPrior | None, walked: list[Candidate],
              config: FinderConfig) -> dict:
    """Primary candidates without walks, {plane: (M, 2)}: the beam view's upstream ends (with a
    prior and ``beam_proposals``), the crossings of their drift rows and of the ``drift_candidates``
    best walk candidates of the collection view, and the wire tiles of every view's
    ``tile_anchors`` best walk candidates and of the upstream ends; proposals within
    ``proposal_merge_px`` of an earlier one left out."""
    from .beam import upstream_ends

    out: dict = {}
    anchors = []  # (view, global drift) whose drift rows propose crossings on the other views
    if prior is not None and config.beam_proposals:
        view = prepared[prior.view]
        ends = view.origin + upstream_ends(view.image, prior.sign, min_charge=config.proposal_threshold) / view.factor
        out[prior.view] = list(ends)
        anchors += [(prior.view, e[1]) for e in ends]
    anchor_view = collection_plane(mapper)
    if anchor_view < 0 and prior is not None:
        anchor_view = prior.view
    if anchor_view >= 0 and config.drift_candidates:
        best = [c for c in walked if c.plane == anchor_view][: config.drift_candidates]
        anchors += [(anchor_view, c.position[1]) for c in best]
    tiled = []  # (view, global point) whose wires propose 3D-consistent points on the other views
    if config.tile_anchors:
        for p in range(len(prepared)):
            ranked = sorted((c for c in walked if c.plane == p), key=lambda c: -c.score)
            tiled += [(p, c.position) for c in ranked[: config.tile_anchors]]
        tiled += [(v, e) for v, ends in out.items() for e in ends]
    found = stacked(out, crossings_of(prepared, anchors, config), tiles_of(mapper, prepared, tiled, config))
    return {p: merged(pts, config.proposal_merge_px) for p, pts in found.items()}


def secondary_proposals(mapper, prepared: list[PreparedView], config: FinderConfig) -> dict:
    """``all`` mode: candidates without walks for the secondary vertices, {plane: (M, 2)}: both
    ends of the ``secondary_clusters`` biggest charge clusters of the collection view
    (:func:`vertexfinder.finder.beam.cluster_ends`) and where the other views' charge crosses
    their drift rows."""
    from .beam import cluster_ends

    anchor = collection_plane(mapper)
    if anchor < 0:
        return {}
    view = prepared[anchor]
    ends = view.origin + cluster_ends(view.image, max_clusters=config.secondary_clusters,
                                      min_charge=config.proposal_threshold) / view.factor
    return stacked({anchor: list(ends)}, crossings_of(prepared, [(anchor, e[1]) for e in ends], config))


def crossings_of(prepared: list[PreparedView], anchors, config: FinderConfig) -> dict:
    """{plane: [global points]}: on every view but an anchor's own, where its charge crosses the
    anchor's drift row (:func:`vertexfinder.finder.beam.crossings`); ``anchors``: (view, global drift)."""
    from .beam import crossings

    out: dict = {}
    for p, view in enumerate(prepared):
        for v, drift in anchors:
            if p == v:
                continue
            row = (drift - view.origin[1]) * view.factor[1]
            out.setdefault(p, []).extend(view.origin + np.array([w, row]) / view.factor for w in crossings(
                view.image, row, max_points=config.crossings, min_charge=config.proposal_threshold))
    return out


def tiles_of(mapper, prepared: list[PreparedView], anchors, config: FinderConfig) -> dict:
    """{plane: [global points]}: for each anchor (view, global point), the points of its wire at
    its drift time where every other view has charge (:func:`vertexfinder.finder.beam.wire_tiles`)."""
    from .beam import wire_tiles

    out: dict = {}
    images = [(view.image, view.factor, view.origin) for view in prepared]
    for a, point in anchors:
        for b, pts in wire_tiles(mapper, images, a, point, max_points=config.tiles,
                                 min_charge=config.proposal_threshold).items():
            out.setdefault(b, []).extend(pts)
    return out


def merged(points, radius: float) -> np.ndarray:
    """``points`` (M, 2) without those within ``radius`` (in wire and in drift) of an earlier one
    (several proposals of one place are refined once)."""
    keep: list = []
    for x in points:
        if all(abs(x[0] - k[0]) > radius or abs(x[1] - k[1]) > radius for k in keep):
            keep.append(x)
    return np.array(keep, dtype=np.float64).reshape(-1, 2)


def stacked(*parts) -> dict:
    """{plane: (M, 2)} of several {plane: [points]}, planes without points left out."""
    out: dict = {}
    for part in parts:
        for p, pts in part.items():
            out.setdefault(p, []).extend(pts)
    return {p: np.array(pts, dtype=np.float64).reshape(-1, 2) for p, pts in out.items() if pts}
