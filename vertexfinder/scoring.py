"""The learned candidate score: which 3D candidate is the primary vertex.

The finder's 3D match (:meth:`vertexfinder.finder.VertexFinder._primary_combo`) tries every
combination of the views' best candidates that fits one 3D point. Each try is described by the
numbers in :data:`FEATURES` (what the walks, the refiner, the 3D fit and the beam prior say about
it); without a scorer the finder ranks them by a hand-set sum (walk share + refiner primary
probability - residual / ``residual_cm`` - ``beam_weight`` x upstream charge share).

A :class:`CandidateScorer` replaces that sum by a linear score learned from the finder's own
candidates on simulated events with truth, right and wrong (:func:`collect`, :func:`fit`): a
conditional-logit (softmax over each event's candidates) fit, so the score is trained for the
decision it makes, the one best candidate of an event. It is stored beside the walker as
``scorer.json`` (feature names, standardisation, weights: plain numbers a C++ framework reads as
easily as the finder).

    rows = collect(finder, events)                # per event: (features (M, F), distances (M,) cm)
    scorer = fit(rows, radius_cm=2.0)
    scorer.write("models/default/scorer.json")
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .finder.score import FEATURES, CandidateScorer, hand_set_score

__all__ = ["FEATURES", "CandidateScorer", "collect", "fit", "hand_set_score", "top_choice"]

def collect(finder, events, *, progress: bool = False, on_skip=None):
    """Per event with a true primary vertex: (features (M, F), distance of each candidate's 3D
    point to the true vertex (M,) cm) of every 3D candidate the finder's primary match tried.

    Events the finder cannot work on are passed to ``on_skip(event, error)`` (default: left out
    silently), as by :meth:`vertexfinder.finder.VertexFinder.find_iter`."""
    from .finder import VertexFinder

    if not isinstance(finder, VertexFinder):
        raise TypeError(f"expected a VertexFinder; Received: {type(finder).__name__}")
    events = (ev for ev in events if ev.primary is not None and np.all(np.isfinite(ev.primary.position_cm)))
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="candidates", unit="event")
    finder.require_second_look()
    out = []
    for ev, res in finder.find_iter(events, mode="primary", on_skip=on_skip or (lambda ev, exc: None)):
        if not res.candidates:
            continue
        x = np.array([c.features for c in res.candidates], dtype=np.float64)
        d = np.array([np.linalg.norm(c.position_cm - ev.primary.position_cm) for c in res.candidates])
        out.append((x, d))
    return out


def fit(rows, *, radius_cm: float = 2.0, l2: float = 1e-2) -> CandidateScorer:
    """The scorer whose softmax over each event's candidates gives most probability to the
    candidates within ``radius_cm`` of the truth (events with none are left out), with an L2
    penalty ``l2`` on the standardised weights (:func:`scipy.optimize.minimize`, L-BFGS)."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    groups = [(x, d <= radius_cm) for x, d in rows if (d <= radius_cm).any()]
    if not groups:
        raise ValueError(f"no event has a candidate within {radius_cm} cm of its true vertex")
    allx = np.concatenate([x for x, _ in groups])
    mean, scale = allx.mean(axis=0), allx.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = [((x - mean) / scale, pos) for x, pos in groups]

    def loss(w):
        total, grad = 0.0, l2 * w * len(z)
        total += 0.5 * l2 * (w @ w) * len(z)
        for x, pos in z:
            s = x @ w
            lse_all, lse_pos = logsumexp(s), logsumexp(s[pos])
            total += lse_all - lse_pos
            p_all = np.exp(s - lse_all)
            p_pos = np.where(pos, np.exp(s - lse_pos), 0.0)
            grad += x.T @ (p_all - p_pos)
        return total, grad

    res = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B")
    return CandidateScorer(FEATURES, tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                           tuple(float(v) for v in res.x), float(radius_cm), len(groups))


def top_choice(rows, score) -> np.ndarray:
    """Distance (cm) to the truth of each event's best candidate under ``score`` (features -> scores)."""
    return np.array([d[int(np.argmax(score(x)))] for x, d in rows])
