"""The vertex score of ``all`` mode: is a 3D match of view candidates a vertex at all?

Point proposals put tens of candidates on every view, and any two of them at the same drift
time fit a 3D point: most such matches are ghosts, places where no particle starts or ends. A
:class:`VertexScorer` gives each match the probability that a true vertex lies within
``radius_cm`` of its point, from the numbers in :data:`SECONDARY_FEATURES` (what the refiner, the
proposer, the walks and the 3D fit say of it, and whether the views it was not found on have
charge where it projects: a ghost's point falls on empty wires, :func:`match_features`). It is a
logistic regression fitted on the finder's own matches of simulated events with truth
(:func:`vertexfinder.training.score.fit_vertex_scorer`), stored beside the walker as
``vertex_scorer.json``; :func:`vertexfinder.finder.match.match_all` takes the matches best first
and keeps those with probability at least ``FinderConfig.secondary_min_score``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from .score import CandidateScorer
from .types import Candidate3D, PreparedView

__all__ = ["SECONDARY_FEATURES", "VertexScorer", "match_features", "missing_charge"]

SECONDARY_FEATURES = (
    "views",  # planes in the match (2 or 3)
    "missing_charge",  # share of charged pixels within 2 px of the point's projection on the views not in the match
    "none_mean",  # mean refiner probability of "no vertex"
    "none_max",
    "class_top",  # largest mean class probability (interaction, decay, conversion; "no vertex" left out)
    "class_agree",  # smallest probability of that class on one view
    "decay_mean",  # mean class probability of "decay" (the class's own rate of ghosts)
    "conversion_mean",  # mean class probability of "conversion"
    "residual_cm",  # RMS disagreement of the 3D fit
    "drift_spread_px",  # largest drift difference between the candidates
    "point_mean",  # mean proposer probability of the candidates (0 for walk clusters)
    "proposed_share",  # share of the candidates found without walks
    "log_walks",  # sum of log(1 + walks ending in the candidates)
    "primary_max",  # the refiner's largest primary probability among them
    "primary_distance",  # log(1 + distance to the primary vertex in cm); log(1001) without one
)

#: pixels (model pixels) around a projection looked at for charge
MISSING_RADIUS_PX = 2


class VertexScorer(CandidateScorer):
    """A logistic score over :data:`SECONDARY_FEATURES`: :meth:`probability` that a 3D match is a
    vertex (a true vertex within ``radius_cm``)."""

    FEATURE_NAMES: ClassVar[tuple] = SECONDARY_FEATURES
    WHAT: ClassVar[str] = "a vertex scorer"

    def probability(self, x) -> np.ndarray:
        """Probabilities of feature rows (M, F)."""
        return 1.0 / (1.0 + np.exp(-np.clip(self(x), -60.0, 60.0)))


def missing_charge(fits: list[Candidate3D], mapper, views: list[PreparedView]) -> np.ndarray:
    """For each match, the share of charged pixels within ``MISSING_RADIUS_PX`` of its 3D point's
    projection on the views it was not found on (their mean; 1 for a match with every view, 0
    where the point projects outside a view)."""
    out = np.ones(len(fits))
    todo = [i for i, f in enumerate(fits) if any(c is None for c in f.views)]
    if not todo:
        return out
    proj = mapper.project_points(np.array([fits[i].position_cm for i in todo]))  # (N, views, 2)
    r = MISSING_RADIUS_PX
    dw, dd = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    for n, i in enumerate(todo):
        shares = []
        for p, c in enumerate(fits[i].views):
            if c is not None:
                continue
            xy = proj[n, p]
            if not np.all(np.isfinite(xy)):
                shares.append(0.0)
                continue
            image = views[p].image
            w, d = np.rint(views[p].to_model(xy[None])[0]).astype(np.int64)
            ww, wd = w + dw, d + dd
            inside = (ww >= 0) & (ww < image.shape[0]) & (wd >= 0) & (wd < image.shape[1])
            shares.append(float(np.count_nonzero(image[ww[inside], wd[inside]])) / dw.size)
        out[i] = np.mean(shares)
    return out


def match_features(fits: list[Candidate3D], mapper, views: list[PreparedView], primary_cm=None) -> np.ndarray:
    """The numbers the vertex score sees of 3D matches (:data:`SECONDARY_FEATURES`), (M, F)."""
    x = np.zeros((len(fits), len(SECONDARY_FEATURES)))
    if not fits:
        return x
    x[:, 1] = missing_charge(fits, mapper, views)
    for i, f in enumerate(fits):
        present = f.present
        probs = np.array([c.probs for c in present], dtype=np.float64)
        classes = probs[:, :3] / np.maximum(probs[:, :3].sum(axis=1, keepdims=True), 1e-9)
        top = int(np.argmax(classes.mean(axis=0)))
        prim = [0.0 if math.isnan(c.primary) else c.primary for c in present]
        drifts = [c.position[1] for c in present]
        dist = 1000.0 if primary_cm is None else float(np.linalg.norm(f.position_cm - primary_cm))
        x[i, 0] = len(present)
        x[i, 2:] = (probs[:, 3].mean(), probs[:, 3].max(), classes[:, top].mean(), classes[:, top].min(),
                    classes[:, 1].mean(), classes[:, 2].mean(), f.fit.residual_cm, max(drifts) - min(drifts), np.mean([c.point for c in present]),
                    np.mean([c.proposed for c in present]), sum(math.log1p(c.size) for c in present), max(prim),
                    math.log1p(dist))
    return x
