"""The candidate score: which 3D candidate is the primary vertex.

The finder's second look (:mod:`vertexfinder.finder.choose`) chooses the primary vertex among
the best 3D candidates of the plane match. Each is described by the numbers in :data:`FEATURES`
(what the walks, the refiner, the 3D fit and the beam prior say about it, :func:`candidate_features`);
without a scorer the finder ranks them by a hand-set sum (walk share + refiner primary probability
- residual / ``residual_scale_cm`` - ``beam_weight`` x upstream charge share, :func:`hand_set_score`).

A :class:`CandidateScorer` replaces that sum by a linear score learned from the finder's own
candidates on simulated events with truth, right and wrong (:mod:`vertexfinder.training.score`):
a conditional-logit (softmax over each event's candidates) fit, so the score is trained for the
decision it makes, the one best candidate of an event. It is stored beside the walker as
``scorer.json`` (feature names, standardisation, weights: plain numbers a C++ framework reads as
easily as the finder).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from .config import FinderConfig
from .match import upstream_share
from .types import BeamPrior, Candidate3D

__all__ = ["FEATURES", "FACE_CAP_CM", "CATHODE_CAP_CM", "NEUTRINO_UNKNOWN", "cathode_distance", "CandidateScorer", "candidate_features", "face_distance", "hand_set_score"]

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
    "face_cm",  # distance of the 3D point to the nearest top, bottom, upstream or downstream face of the
    #             active volume, at most FACE_CAP_CM (cosmic muons enter and leave through them; their
    #             drift coordinate, shifted by their arrival time, is not used)
    "neutrino",  # the neutrino tagger's probability (models.tagger; NEUTRINO_UNKNOWN without a tagger)
    "cathode_cm",  # distance of the point to the nearest cathode, at most CATHODE_CAP_CM: where a track
    #                crossing a cathode leaves one drift volume for the next there is no vertex
)

#: The largest ``cathode_cm``.
CATHODE_CAP_CM = 10.0

#: ``neutrino`` of a candidate the tagger did not see (no tagger, or no projection on some view).
NEUTRINO_UNKNOWN = 0.5

#: The largest ``face_cm``: further in, a point is as good as any other.
FACE_CAP_CM = 30.0


@dataclass(frozen=True)
class CandidateScorer:
    """A linear score over :data:`FEATURES`: ``bias + sum(weights * (x - mean) / scale)``.

    ``features`` may be the first names of ``FEATURE_NAMES`` only (a scorer fitted before later
    features existed): it scores the first ``len(features)`` columns of the feature rows.

    ``radius_cm``, ``events`` and ``finder_options`` (the FinderConfig fields, other than the
    defaults, of the finder whose candidates it was fitted on) say how it was made. Subclasses
    score other things with other ``FEATURE_NAMES``.
    """

    FEATURE_NAMES: ClassVar[tuple] = FEATURES
    WHAT: ClassVar[str] = "a candidate scorer"

    features: tuple
    mean: tuple
    scale: tuple
    weights: tuple
    radius_cm: float = 2.0
    events: int = 0
    finder_options: dict = field(default_factory=dict)
    bias: float = 0.0

    def __post_init__(self):
        n = len(self.features)
        if n == 0 or tuple(self.features) != self.FEATURE_NAMES[:n]:
            raise ValueError(f"features must be {list(self.FEATURE_NAMES)} or its first names; "
                             f"Received: {list(self.features)}")
        if not (isinstance(self.bias, (int, float)) and math.isfinite(self.bias)):
            raise ValueError(f"bias must be a finite number; Received: {self.bias!r}")
        for name in ("mean", "scale", "weights"):
            values = getattr(self, name)
            if len(values) != n or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be {n} finite numbers")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scale must be > 0")
        known = {f.name for f in fields(FinderConfig)}
        if not isinstance(self.finder_options, dict) or not set(self.finder_options) <= known:
            raise ValueError(f"finder_options must be FinderConfig fields; Received: {self.finder_options!r:.200}")

    def __call__(self, x) -> np.ndarray:
        """Scores of feature rows (M, F) (or one row (F,))."""
        x = np.asarray(x, dtype=np.float64)[..., : len(self.features)]
        return self.bias + ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)

    def write(self, path) -> None:
        from ..io.atomic import atomic_output

        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, path) -> "CandidateScorer":
        """A scorer file (``scorer.json``); ConfigError naming the file when it is not one."""
        from ..model import read_json_object

        data = read_json_object(path, cls.WHAT)
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: not {cls.WHAT} ({exc})") from None


def hand_set_score(config):
    """The finder's score without a scorer (:func:`vertexfinder.finder.match.fit` with the
    refiner's look: walk share + ``refine_weight`` x primary probability, less the residual and beam
    terms) as a function of feature rows, for comparison with a learned one."""

    def score(x):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        f = {name: x[:, i] for i, name in enumerate(FEATURES)}
        return (f["share_sum"] + config.refine_weight * f["primary_sum"] - f["residual_cm"] / config.residual_scale_cm
                - config.beam_weight * f["upstream"])

    return score


def candidate_features(found: Candidate3D, mapper, prior: BeamPrior | None, neutrino: float = math.nan) -> np.ndarray:
    """The numbers the candidate score sees of a fitted 3D candidate (:data:`FEATURES`);
    ``neutrino``: the tagger's probability (NaN: unknown)."""
    present = found.present
    share = [c.score for c in present]
    prim = [0.0 if math.isnan(c.primary) else c.primary for c in present]
    probs = np.mean([c.probs for c in present], axis=0)
    upstream = upstream_share(present, found.fit, mapper, prior)
    drifts = [c.position[1] for c in present]
    return np.array([len(present), sum(share), min(share), sum(prim), min(prim), probs[3], probs[0],
                     found.fit.residual_cm, upstream, sum(c.proposed for c in present),
                     sum(math.log1p(c.size) for c in present), max(drifts) - min(drifts),
                     face_distance(found.position_cm, mapper.detector),
                     NEUTRINO_UNKNOWN if math.isnan(neutrino) else neutrino,
                     cathode_distance(found.position_cm, mapper.detector)], dtype=np.float64)


def cathode_distance(xyz, detector) -> float:
    """Distance (cm) in x of a point to the nearest cathode (the far end of a TPC's drift volume),
    at most :data:`CATHODE_CAP_CM`."""
    x = float(xyz[0])
    d = min((abs(x - (t.anode_x_cm + t.side * t.drift_cm)) for t in detector.tpcs), default=CATHODE_CAP_CM)
    return float(min(d, CATHODE_CAP_CM))


def face_distance(xyz, detector) -> float:
    """Distance (cm) of a point to the nearest y or z face of the detector's active volume (its
    top, bottom, upstream and downstream faces), at most :data:`FACE_CAP_CM`; 0 outside."""
    b = detector.bounds_cm
    y, z = float(xyz[1]), float(xyz[2])
    d = min(y - b[1, 0], b[1, 1] - y, z - b[2, 0], b[2, 1] - z)
    return float(min(max(d, 0.0), FACE_CAP_CM))
