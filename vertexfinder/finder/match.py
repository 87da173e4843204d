"""Plane matching and the 3D fit: view candidates that are one point in 3D.

Views share the drift coordinate; a combination of view candidates whose drift times agree is
fitted to one 3D point (:meth:`vertexfinder.mapper.ImageMapper.backproject`), which also rejects
the ghosts of wrapped induction wires. :func:`fit` scores one combination (the hand-set sum:
candidate ranks, less the residual and beam terms); :func:`primary_candidates` keeps the best
distinct 3D points for the primary vertex; :func:`match_all` builds the other vertices around
the collection view's candidates.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from ..errors import GeometryError
from .config import FinderConfig
from .propose import collection_plane
from .report import project, vertex
from .types import BeamPrior, Candidate, Candidate3D, Vertex

__all__ = ["fit", "upstream_share", "primary_candidates", "match_all"]


def fit(views, mapper, config: FinderConfig, prior: BeamPrior | None = None) -> Candidate3D | None:
    """The Candidate3D of a combination of view candidates (one Candidate or None per view), or
    None when their drift times disagree by more than ``drift_tolerance_px``, the fit fails or its
    point is outside the active volume. Its score is the sum of the candidates' ranks less
    residual / ``residual_scale_cm``, and with a beam ``prior`` less ``beam_weight`` x the beam
    view's charge share upstream of the point."""
    present = [c for c in views if c is not None]
    drifts = [c.position[1] for c in present]
    if max(drifts) - min(drifts) > config.drift_tolerance_px:
        return None
    points = {mapper.views[c.plane]: (c.position[0], c.position[1]) for c in present}
    try:
        bp = mapper.backproject(points)
    except GeometryError:
        return None
    if not bp.inside:  # a vertex is in the active volume
        return None
    score = sum(c.rank for c in present) - bp.residual_cm / config.residual_scale_cm
    if prior is not None and config.beam_weight:
        score -= config.beam_weight * upstream_share(present, bp, mapper, prior)
    return Candidate3D(score, tuple(views), bp)


def upstream_share(present, bp, mapper, prior: BeamPrior | None) -> float:
    """Share of the beam view's charge upstream of a fitted point (0 without a beam prior): at
    the beam view's candidate's wire, or at the point's projection on that view."""
    if prior is None:
        return 0.0
    on_view = next((c for c in present if c.plane == prior.view), None)
    wire = on_view.position[0] if on_view is not None else project(mapper, bp, prior.view).global_wire
    return prior.upstream(wire) if np.isfinite(wire) else 0.0


def primary_candidates(candidates: list[Candidate], mapper, n_planes: int, config: FinderConfig,
                       prior: BeamPrior | None = None) -> list[Candidate3D]:
    """The best primary candidates, best first: up to ``choice_candidates`` 3D points at least
    ``merge_radius_cm`` apart, from the ``candidates_per_plane`` best-ranked candidates of every
    view (a proposal within ``cluster_radius_px`` of a walk candidate of its view is that
    candidate); when no two views agree, the best single-view answer without a 3D point
    (score -inf); [] without candidates."""
    if not candidates:
        return []
    k = config.candidates_per_plane
    r = config.cluster_radius_px
    walked = [c for c in candidates if not c.proposed]
    candidates = walked + [c for c in candidates if c.proposed and not any(
        o.plane == c.plane and np.linalg.norm(o.position - c.position) <= r for o in walked)]
    ranked = sorted(candidates, key=lambda c: -c.rank)
    per_plane = [[c for c in ranked if c.plane == p][:k] for p in range(n_planes)]
    anchor = collection_plane(mapper)
    fits = []
    # with the collection plane if any match has it (collection_required), else every match
    for required in ([anchor, -1] if anchor >= 0 and config.collection_required else [-1]):
        for combo in itertools.product(*[opts + ([] if p == required else [None])
                                         for p, opts in enumerate(per_plane)]):
            if sum(c is not None for c in combo) < 2:
                continue
            found = fit(combo, mapper, config, prior)
            if found is not None:
                fits.append(found)
        if fits:
            break
    if not fits:  # no two planes agree: the best single-plane answer, without a 3D point
        top = max(candidates, key=lambda c: c.rank)
        return [Candidate3D(-math.inf, tuple(top if p == top.plane else None for p in range(n_planes)))]
    out: list[Candidate3D] = []
    for found in sorted(fits, key=lambda f: -f.score):
        xyz = found.position_cm
        if all(np.linalg.norm(xyz - o.position_cm) > config.merge_radius_cm for o in out):
            out.append(found)
            if len(out) >= max(1, config.choice_candidates):
                break
    return out


def match_all(candidates: list[Candidate], mapper, n_planes: int, config: FinderConfig,
              primary: Vertex | None, rate=None) -> list[Vertex]:
    """``all`` mode: the vertices other than the primary, best first. Every candidate of the
    collection view is matched with the ``secondary_candidates_per_plane`` best candidates of each
    other view within ``drift_tolerance_px`` of its drift time; fits within ``max_residual_cm`` are vertices unless they lie within
    ``merge_radius_cm`` of the primary vertex or of a vertex found before, and each candidate is
    used once. Walk candidates count with at least ``min_walks`` walks and p(none) < 0.5,
    proposals with p(none) < ``secondary_none_max``.

    Without ``rate``, the collection view's candidates are taken best first and each keeps its
    best fit (the hand-set sum). With ``rate`` (fits -> the probability of each that it is a
    vertex, :mod:`vertexfinder.finder.secondary`), every fit of every combination is rated and
    they are taken best first while their probability, the vertex's ``score``, is at least
    ``secondary_min_score``; ``rate`` also sees the fits' ``features``.
    """
    good = [c for c in candidates if (c.size >= config.min_walks and c.probs[3] < 0.5)
            or (c.proposed and c.probs[3] < config.secondary_none_max)]
    anchor_plane = mapper.view_index(mapper.detector.collection_view)
    anchors = [c for c in good if c.plane == anchor_plane]
    others = [p for p in range(n_planes) if p != anchor_plane]
    used: set[int] = set()
    found: list[Vertex] = []

    def keep(f: Candidate3D, score: float | None = None) -> None:
        used.update(id(c) for c in f.views if c is not None)
        v = vertex(f, mapper, n_planes)
        if score is not None:
            v = dataclasses.replace(v, score=float(score))
        if primary is not None and primary.position_cm is not None and \
                np.linalg.norm(v.position_cm - primary.position_cm) <= config.merge_radius_cm:
            return
        if any(np.linalg.norm(v.position_cm - o.position_cm) <= config.merge_radius_cm for o in found):
            return
        found.append(v)

    def fits_of(a: Candidate, free) -> list[Candidate3D]:
        opts = []
        for p in others:
            near = [c for c in good if c.plane == p and free(c) and abs(c.position[1] - a.position[1]) <= config.drift_tolerance_px]
            opts.append(sorted(near, key=lambda c: -c.score)[: config.secondary_candidates_per_plane] + [None])
        out = []
        for rest in itertools.product(*opts):
            combo = [None] * n_planes
            combo[anchor_plane] = a
            for p, c in zip(others, rest):
                combo[p] = c
            if sum(c is not None for c in combo) < 2:
                continue
            f = fit(combo, mapper, config)
            if f is not None and f.fit.residual_cm <= config.max_residual_cm:
                out.append(f)
        return out

    if rate is None:
        for a in sorted(anchors, key=lambda c: -c.score):
            fits = fits_of(a, lambda c: id(c) not in used)
            if fits:
                keep(max(fits, key=lambda f: f.score))
        return sorted(found, key=lambda v: -v.score)
    fits = [f for a in anchors for f in fits_of(a, lambda c: True)]
    probability = np.asarray(rate(fits), dtype=np.float64) if fits else np.zeros(0)
    for i in np.argsort(-probability, kind="stable"):
        if probability[i] < config.secondary_min_score:
            break
        if any(id(c) in used for c in fits[i].views if c is not None):
            continue
        keep(fits[i], probability[i])
    return sorted(found, key=lambda v: -v.score)
