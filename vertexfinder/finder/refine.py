"""The refiner's looks: the last full-resolution look at each candidate.

The refiner (:class:`models.Refiner`) sees a candidate's glimpses at its own resolution pyramid,
moves it onto the vertex and gives it class probabilities and the probability that it is the
primary vertex. All candidates of a batch look together, one model call per look; a candidate's
next look starts where the last one put it.
"""

from __future__ import annotations

import numpy as np

from .config import FinderConfig
from .types import Candidate, PreparedView, WalkedEvent

__all__ = ["to_refine", "refine"]


def to_refine(walked: list[WalkedEvent], mode: str, config: FinderConfig):
    """(event index, Candidate) pairs the refiner looks at: the ``refine_candidates`` best primary
    walk candidates of each plane and every primary proposal, and in ``all`` mode the
    ``all_refine_candidates`` best walk candidates for the vertex of their charge (of at least
    ``min_walks`` walks) and every secondary proposal."""
    for e, ev in enumerate(walked):
        walks = [c for c in ev.primary if not c.proposed]
        groups = [(walks, config.refine_candidates), ([c for c in ev.primary if c.proposed], None)]
        if mode == "all":
            groups.append(([c for c in ev.secondary if c.size >= config.min_walks and not c.proposed],
                           config.all_refine_candidates))
            groups.append(([c for c in ev.secondary if c.proposed], None))
        for group, k in groups:
            for p in range(len(ev.mapper.views)):
                for c in [c for c in group if c.plane == p][:k]:
                    yield e, c


def refine(refine_fn, spec, num_features: int, prepared: list[list[PreparedView]], todo, n_planes: int,
           config: FinderConfig, *, steps: int | None = None, pyramids: dict | None = None) -> None:
    """Move candidates onto their vertex and give them the refiner's class and primary
    probabilities (in place: position, probs, primary, and rank = score + ``refine_weight`` x primary).

    Args:
        refine_fn: the refiner's compiled call (:func:`models.refine_function`); spec: its
            GlimpseSpec; num_features: its walk-feature count.
        prepared: PreparedViews per event; todo: (event index, Candidate) pairs.
        steps: looks per candidate (default: ``refine_steps``, ``proposal_refine_steps`` for proposals).
        pyramids: the batch's refiner pyramids by (event, plane), filled here as needed, so a
            second call on the same batch builds none again.
    """
    from generators.features import walk_features
    from generators.glimpses import Pyramid

    if not todo:
        return
    owners = np.array([e for e, _ in todo])
    clusters = [c for _, c in todo]
    plane = np.array([c.plane for c in clusters])
    factor = np.array([prepared[e][c.plane].factor for e, c in todo])
    origin = np.array([prepared[e][c.plane].origin for e, c in todo])
    pos = (np.array([c.position for c in clusters]) - origin) * factor  # model pixels
    pyramids = {} if pyramids is None else pyramids
    for e, c in todo:
        if (e, c.plane) not in pyramids:
            pyramids[(e, c.plane)] = Pyramid(prepared[e][c.plane].image, spec)
    if steps is None:  # proposals without walks may take fewer looks than the walks' clusters
        looks = np.array([config.proposal_refine_steps if c.proposed else config.refine_steps for c in clusters])
    else:
        looks = np.full(len(todo), steps)
    looks = np.maximum(looks, 1)
    kind = np.empty((len(todo), 4), dtype=np.float64)
    prim = np.empty(len(todo), dtype=np.float64)
    for step in range(int(looks.max())):
        act = np.flatnonzero(looks > step)  # the candidates still looking
        at, own, pl = pos[act], owners[act], plane[act]
        centres = np.floor(at).astype(np.int64)
        glimpses = np.empty((len(act), spec.num_levels) + tuple(spec.glimpse_size), dtype=np.uint8)
        features = np.empty((len(act), num_features), dtype=np.float32)
        for e, p in set(zip(own.tolist(), pl.tolist())):
            sel = (own == e) & (pl == p)
            glimpses[sel] = pyramids[(e, p)].extract(centres[sel])
        for p in np.unique(pl):
            sel = pl == p
            features[sel] = walk_features(at[sel], int(p), n_planes, spec, 1.0)
        out = refine_fn(glimpses, features)
        pos[act] = pos[act] + out["offset"]
        logits = out["kind"] - out["kind"].max(axis=1, keepdims=True)
        kind[act] = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        prim[act] = 1.0 / (1.0 + np.exp(-out["primary"].reshape(-1)))
    w = config.point_class_weight
    for i, c in enumerate(clusters):
        c.position = pos[i] / factor[i] + origin[i]
        if c.hint is not None and w > 0:  # the proposer's class joins the refiner's (p(none) stays the refiner's)
            vertex = kind[i][:3].sum()
            kind[i][:3] = vertex * ((1.0 - w) * kind[i][:3] / max(vertex, 1e-12) + w * c.hint)
        c.probs = kind[i]
        c.primary = float(prim[i])
        c.rank = c.score + config.refine_weight * c.primary
