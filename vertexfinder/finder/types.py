"""What flows between the finder's stages, and what it reports.

Stages pass named objects, never positional tuples: a :class:`PreparedView` per plane of an event,
:class:`Candidate` points on one view (a walk cluster or a proposal), :class:`Candidate3D`
combinations of them fitted to one 3D point, and a :class:`BeamPrior` per event. Users receive
:class:`Vertex` objects (one :class:`PlaneVertex` per view) in a :class:`FindResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["PreparedView", "Candidate", "Candidate3D", "BeamPrior", "WalkedEvent", "PlaneVertex", "Vertex",
           "FindResult"]


@dataclass(frozen=True)
class PreparedView:
    """One plane of an event in the model's working pixels.

    Attributes:
        pyramid: the walker's resolution pyramid (:class:`generators.glimpses.Pyramid`) of the
            (normalised, resampled or padded) crop.
        factor: model pixels per event pixel, (wire, drift).
        origin: the global-image coordinates (event pixels) of the prepared image's pixel (0, 0).
    """

    pyramid: object
    factor: np.ndarray
    origin: np.ndarray

    @property
    def image(self) -> np.ndarray:
        """The prepared image (the pyramid's full-resolution level)."""
        return self.pyramid.levels[0]

    def to_model(self, points) -> np.ndarray:
        """Global-image points (M, 2) as model pixels of this view."""
        return (np.asarray(points, dtype=np.float64) - self.origin) * self.factor

    def to_global(self, points) -> np.ndarray:
        """Model pixels (M, 2) of this view as global-image points."""
        return self.origin + np.asarray(points, dtype=np.float64) / self.factor


@dataclass
class Candidate:
    """A place on one view where a vertex may be.

    Attributes:
        plane: view index.
        position: (global wire, global drift); the refiner moves it.
        score: share of the plane's walks that end here, each weighted by how sure it is (0 for
            a proposal).
        probs: class probabilities (interaction, decay, conversion, none): the walks' average,
            then the refiner's.
        size: walks that end here (0 for a proposal).
        primary: the refiner's probability that this is the primary vertex (NaN: not refined).
        rank: what candidates are ordered and matched by (``score``, plus ``refine_weight`` x
            ``primary`` once refined).
        proposed: found without walks (:mod:`vertexfinder.finder.propose`).
        hint: class probabilities (interaction, decay, conversion) the proposer gave a point
            proposal (:mod:`vertexfinder.finder.points`), or None.
        point: the proposer's vertex probability of a point proposal (0 for other candidates).
    """

    plane: int
    position: np.ndarray
    score: float
    probs: np.ndarray
    size: int
    primary: float = float("nan")
    rank: float = float("nan")
    proposed: bool = False
    hint: np.ndarray | None = None
    point: float = 0.0

    def __post_init__(self):
        if math.isnan(self.rank):
            self.rank = self.score

    @classmethod
    def proposal(cls, plane: int, position, hint=None, point: float = 0.0) -> "Candidate":
        """A candidate found without walks, at ``position`` (global coordinates)."""
        return cls(plane, np.asarray(position, dtype=np.float64), 0.0, np.zeros(4), 0, proposed=True, hint=hint,
                   point=float(point))


@dataclass
class Candidate3D:
    """A combination of view candidates fitted to one 3D point.

    Attributes:
        score: what it is ranked by (the learned candidate score, or the hand-set sum).
        views: one Candidate or None per view.
        fit: the :class:`vertexfinder.mapper.BackProjection`, or None (no two views agree: the
            best single-view answer).
        features: the numbers the candidate score sees (:data:`vertexfinder.finder.score.FEATURES`),
            once computed.
    """

    score: float
    views: tuple
    fit: object = None
    features: np.ndarray | None = None

    @property
    def position_cm(self) -> np.ndarray | None:
        return None if self.fit is None else np.asarray(self.fit.position_cm)

    @property
    def present(self) -> list:
        """The views' candidates, without the empty views."""
        return [c for c in self.views if c is not None]


@dataclass(frozen=True)
class BeamPrior:
    """The beam-direction prior of one event (:mod:`vertexfinder.finder.beam`).

    Attributes:
        view: the view whose wire axis follows the beam; sign: +1 when its wire number grows
            downstream, else -1; upstream: global wire -> share of that view's charge upstream.
    """

    view: int
    sign: int
    upstream: Callable[[float], float]


@dataclass
class WalkedEvent:
    """One event after the walks: its mapper, candidates and walks.

    Attributes:
        mapper: the event's :class:`vertexfinder.mapper.ImageMapper`.
        primary: candidates for the primary vertex (walks asked for it, then proposals).
        secondary: ``all`` mode: candidates for the vertex of the charge a walk started on.
        walks: {plane: list of (steps + 1, 2) global coordinates}; tasks: {plane: list of 1
            (asked for the primary) / 0 (for the vertex of the charge)}.
    """

    mapper: object
    primary: list = field(default_factory=list)
    secondary: list = field(default_factory=list)
    walks: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlaneVertex:
    """A vertex seen on one view.

    Attributes:
        view: view name; global_wire, global_drift: continuous global-image coordinates.
        tpc: TPC of the vertex (-1 unknown); wire: continuous local wire coordinate in that TPC's
        plane (-1 if unknown); channel: readout channel of that wire (-1 if unknown);
        tick: time tick at full tick resolution (NaN if unknown).
        found: True where the network found the vertex on this view; False where the view shows
            the projection of the vertex's 3D point (the network found it on the other views).
    """

    view: str
    global_wire: float
    global_drift: float
    tpc: int = -1
    wire: float = -1.0
    channel: int = -1
    tick: float = float("nan")
    found: bool = True


@dataclass(frozen=True)
class Vertex:
    """A found vertex.

    Attributes:
        kind: "interaction", "decay" or "conversion".
        score: confidence in [0, 1].
        planes: one PlaneVertex per view of the event: with a 3D point, every view (the found
            views at the network's wire and the 3D point's drift time, the others at the 3D point's
            projection, flagged ``found=False``); without one, None where it was not found.
        position_cm: (x, y, z) in cm, or None when fewer than two planes agree.
        residual_cm: RMS disagreement of the planes in the 3D fit (NaN without a 3D point).
        tpc: TPC of the 3D point (-1 without one).
        primary: whether this is the event's primary (neutrino) vertex.
        class_probabilities: class head average (interaction, decay, conversion, none).
        parent: index, in the same event's list of vertices, of the vertex this one descends
            from (:mod:`vertexfinder.finder.relate`); -1 for the primary and where none is known.
        cosmic: ``all`` mode on a surface detector: a vertex whose chain of parents does not reach
            the primary vertex (a cosmic muon's decay, a photon of its shower, ...).
        gap_cm: a conversion's 3D distance from its parent in cm (the photon's flight); NaN for
            other kinds, without a parent or without both 3D points.
    """

    kind: str
    score: float
    planes: tuple
    position_cm: np.ndarray | None = None
    residual_cm: float = float("nan")
    tpc: int = -1
    primary: bool = False
    class_probabilities: tuple = ()
    parent: int = -1
    gap_cm: float = float("nan")
    cosmic: bool = False


@dataclass
class FindResult:
    """Vertices and how they were found.

    Attributes:
        vertices: list of Vertex, the primary first.
        walks: {plane index: list of (steps + 1, 2) arrays of global coordinates}.
        tasks: {plane index: list of 1 (asked for the primary) / 0 (for the vertex of the charge)}.
        seconds: wall time the finder spent on the event (its share of a batch's time).
        stage_seconds: {stage: seconds} of that time, in the order the stages ran (each the
            event's share of its batch's time in that stage).
        plane_candidates: the per-view candidates for the primary vertex the 3D match saw
            (walk clusters and proposals, refined).
        candidates: the 3D primary candidates the primary vertex was chosen among, in the order
            they were made, each with its ``features`` (the highest ``score`` is the primary).
        matches: ``all`` mode with a vertex score: every 3D match the other vertices were chosen
            among, each with its ``features`` (:data:`vertexfinder.finder.secondary.SECONDARY_FEATURES`)
            and its ``score``, the probability that it is a vertex.
    """

    vertices: list
    walks: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    seconds: float = float("nan")
    stage_seconds: dict = field(default_factory=dict)
    plane_candidates: list = field(default_factory=list)
    candidates: list = field(default_factory=list)
    matches: list = field(default_factory=list)
