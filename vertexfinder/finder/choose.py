"""The second look and the choice of the primary vertex.

Each of an event's best 3D candidates (:func:`vertexfinder.finder.match.primary_candidates`) is
looked at once more on every view, at the projections of its 3D point (one drift time for all
views), and fitted again from the refined positions (:func:`second_look`); candidates seen on two
views and on three then compare on equal terms. :func:`choose` ranks them by the learned candidate
score when the model has one (:mod:`vertexfinder.finder.score`), else by the hand-set sum of
:func:`vertexfinder.finder.match.fit`, and takes the best.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..records import VERTEX_KINDS
from .config import FinderConfig
from .match import fit
from .report import project
from .score import candidate_features
from .types import BeamPrior, Candidate, Candidate3D, Vertex, WalkedEvent

__all__ = ["second_look", "choose", "class_look"]


def second_look(look, walked: list[WalkedEvent], candidates: list[list[Candidate3D]], n_planes: int,
                config: FinderConfig, priors: list[BeamPrior | None]) -> list[list[Candidate3D]]:
    """Every event's 3D candidates after the second look, in the same order.

    ``look(todo, steps)`` refines (event index, Candidate) pairs in place
    (:func:`vertexfinder.finder.refine.refine`); it is called once, with ``refine_3d_steps``. A
    refit replaces its candidate when its residual is at most ``refine_3d_residual_cm`` or no
    worse than before; candidates without a 3D point, or whose point does not project on every
    view, stay as they are."""
    todo, where = [], []
    for e, (ev, cands) in enumerate(zip(walked, candidates)):
        for i, cand in enumerate(cands):
            if cand.fit is None:
                continue
            views = []
            for p in range(n_planes):
                proj = project(ev.mapper, cand.fit, p)
                if not (np.isfinite(proj.global_wire) and np.isfinite(proj.global_drift)):
                    break
                old = cand.views[p]
                views.append(Candidate(p, np.array([proj.global_wire, proj.global_drift]), old.score if old else 0.0,
                                       old.probs if old else np.zeros(4), old.size if old else 0,
                                       proposed=old.proposed if old else False))
            else:
                todo += [(e, c) for c in views]
                where.append((e, i, views))
    if todo:
        look(todo, config.refine_3d_steps)
    final = [list(cands) for cands in candidates]
    for e, i, views in where:
        refit = fit(views, walked[e].mapper, config, priors[e])  # the refined views' ranks: share + primary
        if refit is not None and refit.fit.residual_cm <= max(config.refine_3d_residual_cm,
                                                               candidates[e][i].fit.residual_cm):
            final[e][i] = refit
    return final


def choose(final: list[Candidate3D], mapper, prior: BeamPrior | None, scorer=None, neutrino=None) -> tuple:
    """(the chosen Candidate3D or None, the fitted candidates chosen among with their features
    and scores). ``scorer``: a CandidateScorer that replaces the hand-set scores of the fitted
    candidates (those without a 3D point are then left out), or None. ``neutrino``: the neutrino
    tagger's probability of each of ``final`` (NaN or None: unknown)."""
    if not final:
        return None, []
    neutrino = [math.nan] * len(final) if neutrino is None else neutrino
    fitted = [(f, q) for f, q in zip(final, neutrino) if f.fit is not None]
    for f, q in fitted:
        f.features = candidate_features(f, mapper, prior, q)
    fitted = [f for f, _ in fitted]
    if scorer is not None and fitted:
        fitted = [Candidate3D(float(scorer(f.features)), f.views, f.fit, f.features) for f in fitted]
        final = fitted
    return max(final, key=lambda f: f.score), fitted


def class_look(look, vertices: list[list[Vertex]], steps: int = 1, primary_kind_min: float = float("inf")
               ) -> list[list[Vertex]]:
    """``all`` mode: each vertex looked at once more on every view, at its PlaneVertex there (the
    3D point's drift time; the projection on views it was not found on), its class the most
    probable of the mean class probabilities over the views (a third view's opinion where the
    match had two) and ``class_probabilities`` that mean. The primary vertex keeps "interaction"
    unless its mean probability of "decay" or "conversion" is at least ``primary_kind_min`` (an
    event whose most vertex-like place is a decay or a conversion: a stopping muon's Michel
    electron, a single photon). ``look(todo, steps)`` refines (event index, Candidate) pairs in
    place; it is called once. Vertices without a 3D point are left as they are."""
    todo, where = [], []
    for e, vs in enumerate(vertices):
        for i, v in enumerate(vs):
            if v.position_cm is None:
                continue
            views = [Candidate(p, np.array([pv.global_wire, pv.global_drift]), 0.0, np.zeros(4), 0)
                     for p, pv in enumerate(v.planes)
                     if pv is not None and np.isfinite(pv.global_wire) and np.isfinite(pv.global_drift)]
            todo += [(e, c) for c in views]
            where.append((e, i, views))
    if not todo:
        return vertices
    look(todo, steps)
    out = [list(vs) for vs in vertices]
    for e, i, views in where:
        probs = np.mean([c.probs for c in views], axis=0)
        kind = VERTEX_KINDS[int(np.argmax(probs[:3]))]
        if out[e][i].primary:
            kind = kind if kind != "interaction" and probs[VERTEX_KINDS.index(kind)] >= primary_kind_min else "interaction"
        out[e][i] = dataclasses.replace(out[e][i], kind=kind, class_probabilities=tuple(float(x) for x in probs))
    return out
