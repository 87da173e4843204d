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

from .errors import ConfigError

__all__ = ["FEATURES", "CandidateScorer", "collect", "fit", "hand_set_score", "top_choice"]

FEATURES = (
    "views",  # planes in the combination (2 or 3)
    "share_sum",  # sum of the candidates' walk shares
    "share_min",
    "primary_sum",  # sum of the refiner's primary probabilities (0 where not refined)
    "primary_min",
    "none_mean",  # mean class probability of "no vertex"
    "interaction_mean",  # mean class probability of "interaction"
    "residual_cm",  # RMS disagreement of the 3D fit
    "upstream",  # share of the beam view's charge upstream of the point (0 without a beam prior)
    "proposed",  # candidates found without walks (beam ends, drift-row crossings)
    "log_walks",  # sum of log(1 + walks ending in the candidates)
    "drift_spread_px",  # largest drift difference between the candidates
)


@dataclass(frozen=True)
class CandidateScorer:
    """A linear score over :data:`FEATURES`: ``sum(weights * (x - mean) / scale)``.

    ``radius_cm``, ``events`` and ``finder_options`` (the FinderConfig fields, other than the
    defaults, of the finder whose candidates it was fitted on) say how it was made.
    """

    features: tuple
    mean: tuple
    scale: tuple
    weights: tuple
    radius_cm: float = 2.0
    events: int = 0
    finder_options: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.features)
        if tuple(self.features) != FEATURES:
            raise ValueError(f"features must be {list(FEATURES)}; Received: {list(self.features)}")
        for name in ("mean", "scale", "weights"):
            values = getattr(self, name)
            if len(values) != n or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be {n} finite numbers")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scale must be > 0")
        from .finder import FinderConfig

        known = {f.name for f in fields(FinderConfig)}
        if not isinstance(self.finder_options, dict) or not set(self.finder_options) <= known:
            raise ValueError(f"finder_options must be FinderConfig fields; Received: {self.finder_options!r:.200}")

    def __call__(self, x) -> np.ndarray:
        """Scores of feature rows (M, F) (or one row (F,))."""
        x = np.asarray(x, dtype=np.float64)
        return ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)

    def write(self, path) -> None:
        from .io.atomic import atomic_output

        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, path) -> "CandidateScorer":
        """A scorer.json; ConfigError naming the file when it is not one."""
        from .modelconfig import read_json_object

        data = read_json_object(path, "a candidate scorer")
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: not a candidate scorer ({exc})") from None


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
    with finder._recording() as recorded:
        done = [ev for ev, _ in finder.find_iter(events, mode="primary", on_skip=on_skip or (lambda ev, exc: None))]
    out = []
    for ev, tried in zip(done, recorded):
        if not tried:
            continue
        x = np.array([f for f, _, _ in tried], dtype=np.float64)
        d = np.array([np.linalg.norm(np.asarray(p) - ev.primary.position_cm) for _, p, _ in tried])
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


def hand_set_score(config):
    """The finder's score without a scorer (:meth:`vertexfinder.finder.VertexFinder._fit` with the
    refiner's look: walk share + ``refine_weight`` x primary probability, less the residual and beam
    terms) as a function of feature rows, for comparison with a learned one."""

    def score(x):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        f = {name: x[:, i] for i, name in enumerate(FEATURES)}
        return (f["share_sum"] + config.refine_weight * f["primary_sum"] - f["residual_cm"] / config.residual_scale_cm
                - config.beam_weight * f["upstream"])

    return score
