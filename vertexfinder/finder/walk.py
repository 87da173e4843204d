"""Walks and their end clusters.

All seeds of all planes of all events of a batch are walked together, one compiled model call per
step (:func:`generators.rollout.rollout`). The walks' end points are clustered per plane (SciPy
single linkage) into :class:`Candidate` points: a candidate's score is the share of the plane's
walks that end in it, each weighted by how sure the walk is that it arrived
(``1 / (1 + predicted distance)``) and that there is a vertex (``1 - p(none)``); its class
probabilities are the class head's average over its walks.
"""

from __future__ import annotations

import numpy as np

from .config import FinderConfig
from .prepare import seeds
from .types import Candidate, WalkedEvent

__all__ = ["walk", "end_clusters"]


def walk(step, spec, num_steps: int, events, prepared, mappers, mode: str, config: FinderConfig) -> list[WalkedEvent]:
    """Walk a batch of events: one WalkedEvent per event with its walks and their end clusters.

    Args:
        step: the walker's compiled step (:func:`models.step_function`); spec: its GlimpseSpec.
        events: the batch's EventRecords; prepared: their PreparedViews; mappers: their ImageMappers.
        mode: ``primary`` (walks asked for the primary vertex) or ``all`` (also walks started on
            charge, asked for the vertex their charge comes from).

    The seeds of a plane are drawn with a generator seeded from the event ids and the plane, so an
    event gives the same walks in any batch.
    """
    from generators.rollout import WalkBatch

    n_planes = len(events[0].planes)
    batch = WalkBatch(n_planes)
    for e, (ev, views) in enumerate(zip(events, prepared)):
        for p, view in enumerate(views):
            rng = np.random.default_rng([ev.run, ev.subrun, ev.event, p])
            k = batch.add_pyramid(view.pyramid)
            batch.add(k, seeds(view.pyramid, rng, config.seeds_per_plane, grid=config.grid_seeds,
                               level=config.seed_level), plane=p, task=1.0, owner=e)
            if mode == "all":
                batch.add(k, seeds(view.pyramid, rng, config.all_seeds_per_plane, level=config.seed_level,
                                   on_charge=True), plane=p, task=0.0, owner=e)
    planes, tasks, owner = batch.tag("planes"), batch.tag("task"), batch.tag("owner")
    res = batch.rollout(step, spec, num_steps)
    last = res["outputs"][-1]
    ends = res["positions"][:, -1]
    dist = np.maximum(np.expm1(last["distance"]), 0.0)
    logits = last["kind"] - last["kind"].max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    out = []
    for e in range(len(events)):
        walked = WalkedEvent(mappers[e])
        for p, view in enumerate(prepared[e]):
            sel = (owner == e) & (planes == p)
            walked.walks[p] = list(view.origin + res["positions"][sel] / view.factor)
            walked.tasks[p] = list(tasks[sel].astype(int))
            for task, found in ((1.0, walked.primary), (0.0, walked.secondary)):
                m = sel & (tasks == task)
                found += end_clusters(p, ends[m] / view.factor + view.origin, dist[m], probs[m], m.sum(),
                                      radius=config.cluster_radius_px)
        out.append(walked)
    return out


def end_clusters(plane: int, ends, dist, probs, n_walks: int, *, radius: float) -> list[Candidate]:
    """The candidates of a plane's walk end points (M, 2) (global coordinates), best first: end
    points closer than ``radius`` are one candidate (single linkage); ``dist``: each walk's
    predicted distance to the vertex (px), ``probs``: its class probabilities (M, 4);
    ``n_walks``: the plane's walks (a candidate's score is its weighted share of them)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(ends) == 0:
        return []
    labels = np.ones(len(ends), dtype=int) if len(ends) == 1 else fcluster(
        linkage(ends, method="single"), t=radius, criterion="distance")
    w = (1.0 - probs[:, 3]) / (1.0 + dist)
    out = []
    for c in np.unique(labels):
        m = labels == c
        wm = w[m] + 1e-9
        out.append(Candidate(plane, (ends[m] * wm[:, None]).sum(0) / wm.sum(), float(w[m].sum() / n_walks),
                             (probs[m] * wm[:, None]).sum(0) / wm.sum(), int(m.sum())))
    return sorted(out, key=lambda c: -c.score)
