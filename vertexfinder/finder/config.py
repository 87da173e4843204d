"""How the finder works: :class:`FinderConfig`, its fields grouped by the stage that reads them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from generators.charge import REFERENCE_SCALE

__all__ = ["FinderConfig", "MODES"]

#: The budgets of the primary search that ``surface_search`` widens on a surface detector.
SURFACE_WIDENED = ("seeds_per_plane", "refine_candidates", "candidates_per_plane", "choice_candidates")

#: ``primary``: the neutrino vertex only; ``all``: every interaction, decay and conversion vertex.
MODES = ("primary", "all")


@dataclass(frozen=True)
class FinderConfig:
    """How the finder prepares, walks, proposes, refines, matches and scores (pixels are the
    model's working pixels unless said otherwise).

    Preparation (:mod:`vertexfinder.finder.prepare`):
        pixel_tolerance: pixel sizes within this fraction of the model's working size are used as
            they are (the training images themselves span 0.467-0.482 cm on DUNE); others are resampled.
        normalise: rescale every event's charge so its charge scale (:func:`generators.charge.charge_scale`,
            the median wire-pulse peak of its track-like wires) is ``charge_reference``, the simulation's:
            the answer does not depend on the unit or the gain of the input.
        charge_reference: the charge scale (bytes) events are rescaled to.
        noise_threshold: after rescaling, pixels below this many bytes are set to zero (0: none).
        noise_sigmas: before rescaling, pixels below this many times the plane's low-level noise
            RMS (:func:`generators.charge.noise_rms`; 0 for zero-suppressed images) are set to zero.
        seeds_per_plane: charge-weighted seeds per plane asked for the primary vertex.
        grid_seeds: a ``grid_seeds x grid_seeds`` grid over each plane's activity, added to them
            (0: none; on the tuning samples the grid's corner walks gave nothing, F34).
        all_seeds_per_plane: seeds on charge asked for the vertex of their charge (``all`` mode).
        seed_level: pyramid level whose cells the charge-weighted seeds are drawn from.
        surface_search: on a detector at the surface (``Detector.surface``: cosmic muons in every
            readout) the primary search is this many times as wide: ``seeds_per_plane``,
            ``refine_candidates``, ``candidates_per_plane`` and ``choice_candidates`` are multiplied
            by it (rounded), so the neutrino vertex is still among the candidates when the cosmics'
            track ends compete with it (1: the same search everywhere).
        surface_points: on a surface detector the proposer's point proposals are primary
            candidates too (``points_for_primary``): where charge-weighted seeds land on the
            cosmics' tracks, the proposer still marks the neutrino vertex.

    Walks (:mod:`vertexfinder.finder.walk`):
        num_steps: steps per walk (None: the model's training ``num_steps``).
        batch_events: events walked together by :meth:`VertexFinder.find_many`.
        cluster_radius_px: end points closer than this are one candidate (single linkage).

    Proposals without walks (:mod:`vertexfinder.finder.propose`):
        beam_direction: direction of the neutrino beam in detector coordinates (DUNE FD, SBND and
            MicroBooNE: +z, the default); None for no beam prior (cosmic-ray or test-beam data
            whose beam is not a neutrino beam). See :mod:`vertexfinder.finder.beam`.
        beam_proposals: the upstream ends of the biggest charge clusters of the view closest to the
            beam, and where the other views' charge crosses their drift rows, are primary candidates
            too (without walks; refined and matched like the walks' candidates).
        drift_candidates: the best walk candidates of the collection view whose drift rows also
            propose candidates on the other views (where their charge crosses it).
        crossings: most candidates proposed per view along one drift row.
        tile_anchors: the best walk candidates of every view (and the beam view's upstream ends)
            whose wire, at their drift time, proposes candidates on the other views where all of
            them have charge (3D-consistent points; 0: none).
        tiles: most such points per anchor.
        proposal_threshold: pixels of at most this many bytes (after ``normalise``) are left out
            when candidates are proposed without walks (cluster ends and crossings).
        proposal_merge_px: proposals closer than this (global pixels, in wire and in drift) to an
            earlier one are left out before the refiner looks (several proposals of one place).
        point_proposals: use the model's proposer when it has one (``proposer.keras`` beside the
            walker; :mod:`vertexfinder.finder.points`): the peaks of its score on every view are
            candidates without walks for the vertices of ``all`` mode.
        points_per_view: most point proposals per view (best first).
        point_threshold: smallest proposer probability of a point proposal.
        points_for_primary: point proposals are primary candidates too.
        point_class_weight: weight of the proposer's class probabilities in a point proposal's
            class, against the refiner's (0: the refiner's alone; its "no vertex" stays the refiner's).
        secondary_clusters: ``all`` mode: both ends of this many of the collection view's biggest
            charge clusters, and the other views' crossings of their drift rows, are candidates for
            secondary vertices too, without walks (0: none). On the tune2 sample (F28 in
            docs/experiments.md) 8 clusters find 4-5 times as many conversions within 2 cm (0.18
            against 0.04, purity 0.40 against 0.30) and more interactions (0.40 against 0.36), at
            the price of more vertices that match no true one (interaction purity 0.33 against
            0.55), a lower class accuracy (0.83 against 0.88) and 40 ms more per event.

    The refiner's looks (:mod:`vertexfinder.finder.refine`):
        refine: use the model's refiner (when it has one): candidates are moved onto the vertex
            at full resolution, and the refiner's primary and class heads join their scores.
        refine_steps: refiner looks per walk candidate (each starts where the last one put it).
        proposal_refine_steps: refiner looks per candidate proposed without walks.
        refine_candidates: best primary walk candidates per plane that are refined and matched.
        all_refine_candidates: ``all``-mode candidates refined per plane (best first).
        refine_weight: weight of the refiner's primary probability in a candidate's score (the
            walks' share counts 1).

    Plane matching and the 3D fit (:mod:`vertexfinder.finder.match`):
        candidates_per_plane: best candidates per plane tried in the 3D match.
        drift_tolerance_px: largest drift disagreement (global drift pixels) between matched planes.
        residual_scale_cm: 3D residual that costs as much as a whole plane's score.
        max_residual_cm: matches with a larger residual are rejected in ``all`` mode.
        min_walks: smallest walk candidate reported in ``all`` mode.
        secondary_none_max: a proposed ``all``-mode candidate is kept when the refiner's
            probability of "no vertex" there is below this.
        secondary_candidates_per_plane: ``all`` mode: candidates of each other view (best first)
            tried with each collection-view candidate.
        use_vertex_scorer: rate ``all``-mode matches with the model's vertex score when it has one
            (``vertex_scorer.json`` beside the walker, :mod:`vertexfinder.finder.secondary`).
        secondary_min_score: with the vertex score, the smallest probability of a vertex other
            than the primary.
        class_look: ``all`` mode: each vertex other than the primary is looked at again on every
            view at its 3D point's projections (``class_look_steps`` refiner calls), and its class
            is the most probable of the views' mean (:func:`vertexfinder.finder.choose.class_look`).
            The primary vertex is looked at too.
        primary_kind_min: ``all`` mode, with the class look: the primary vertex is reported as a
            decay or a conversion (not an interaction) when the look's mean probability of that
            class is at least this (inf: always an interaction).
        merge_radius_cm: ``all``-mode vertices this close to the primary vertex are the primary;
            primary candidates this close are one candidate.
        collection_required: primary 3D candidates include the collection view whenever any
            match with it exists; False (the default) lets matches of the induction views alone
            compete too: the second look projects them on the collection view, and the score
            judges them with the rest (a vertex the walks found on U and V only is a candidate).
        beam_weight: a primary candidate's score loses this times the share of the beam view's
            charge upstream of it (0: proposals only, no score term).

    The second look and the choice (:mod:`vertexfinder.finder.choose`):
        choice_candidates: best 3D primary candidates looked at again on every view (``refine_3d``)
            and chosen among.
        refine_3d: look at the primary vertex once more at its 3D point's projection on every
            view (``refine_3d_steps`` refiner calls) and fit the 3D point again from all views;
            kept when its residual is at most ``refine_3d_residual_cm`` or no worse than before.
        refine_3d_steps, refine_3d_residual_cm: see ``refine_3d``.
        use_scorer: rank 3D candidates with the model's learned candidate score
            (:mod:`vertexfinder.finder.score`, ``scorer.json`` beside the walker) when it has one,
            instead of the hand-set sum (walk share + refiner primary probability - residual term
            - beam term).
    """

    # preparation
    pixel_tolerance: float = 0.05
    normalise: bool = True
    charge_reference: float = REFERENCE_SCALE
    noise_threshold: float = 0.0
    noise_sigmas: float = 3.0
    seeds_per_plane: int = 16
    grid_seeds: int = 0
    all_seeds_per_plane: int = 48
    seed_level: int = 2
    surface_search: float = 12.0
    surface_points: bool = True
    # walks
    num_steps: int | None = None
    batch_events: int = 16
    cluster_radius_px: float = 3.0
    # proposals without walks
    beam_direction: tuple | None = (0.0, 0.0, 1.0)
    beam_proposals: bool = True
    drift_candidates: int = 0
    crossings: int = 3
    tile_anchors: int = 1
    tiles: int = 3
    proposal_threshold: float = 6.0
    proposal_merge_px: float = 3.0
    secondary_clusters: int = 0
    point_proposals: bool = True
    points_per_view: int = 40
    point_threshold: float = 0.2
    points_for_primary: bool = False
    point_class_weight: float = 0.0
    # the refiner's looks
    refine: bool = True
    refine_steps: int = 2
    proposal_refine_steps: int = 2
    refine_candidates: int = 4
    all_refine_candidates: int = 24
    refine_weight: float = 1.0
    # plane matching and the 3D fit
    candidates_per_plane: int = 3
    drift_tolerance_px: float = 4.0
    residual_scale_cm: float = 0.5
    max_residual_cm: float = 1.5
    min_walks: int = 2
    secondary_none_max: float = 0.05
    secondary_candidates_per_plane: int = 3
    use_vertex_scorer: bool = True
    secondary_min_score: float = 0.5
    class_look: bool = True
    class_look_steps: int = 1
    primary_kind_min: float = 0.5
    merge_radius_cm: float = 2.0
    collection_required: bool = False
    beam_weight: float = 1.0
    # the second look and the choice
    choice_candidates: int = 4
    refine_3d: bool = True
    refine_3d_steps: int = 1
    refine_3d_residual_cm: float = 0.5
    use_scorer: bool = True

    def for_detector(self, detector) -> "FinderConfig":
        """The configuration used on ``detector``: with ``surface_search`` and ``surface_points``
        applied at the surface."""
        if not detector.surface:
            return self
        k = self.surface_search
        wide = {name: max(1, round(getattr(self, name) * k)) for name in SURFACE_WIDENED}
        if self.surface_points:
            wide["points_for_primary"] = True
        return dataclasses.replace(self, **wide)

    def __post_init__(self):
        for name in ("seeds_per_plane", "all_seeds_per_plane", "candidates_per_plane", "secondary_candidates_per_plane",
                     "min_walks", "batch_events",
                     "refine_steps", "proposal_refine_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; Received: {name}={getattr(self, name)}")
        if not (self.surface_search >= 1 and math.isfinite(self.surface_search)):
            raise ValueError(f"surface_search must be a finite number >= 1; Received: surface_search={self.surface_search}")
        if self.grid_seeds < 0 or self.seed_level < 0:
            raise ValueError("grid_seeds and seed_level must be >= 0")
        for name in ("tile_anchors", "tiles", "crossings", "drift_candidates", "points_per_view"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0; Received: {name}={getattr(self, name)}")
        if self.num_steps is not None and self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1; Received: num_steps={self.num_steps}")
        if self.beam_direction is not None:
            d = tuple(float(x) for x in self.beam_direction)
            if len(d) != 3 or not all(math.isfinite(x) for x in d) or not any(d):
                raise ValueError(f"beam_direction must be three finite numbers, not all zero, or None; "
                                 f"Received: beam_direction={self.beam_direction!r}")
            object.__setattr__(self, "beam_direction", d)
        if not (self.beam_weight >= 0):
            raise ValueError(f"beam_weight must be >= 0; Received: beam_weight={self.beam_weight}")
