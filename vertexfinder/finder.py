"""VertexFinder: the trained walker turned into vertices with detector coordinates.

    finder = VertexFinder.load()                 # the bundled default model
    for v in finder.find(event, mode="all"):      # an EventRecord (store, ROOT dump, frames, hits)
        print(v.kind, v.score, v.position_cm, [(p.view, p.tpc, p.wire, p.channel, p.tick) for p in v.planes])

How (one event, or many events batched together):

1. Every plane crop is resampled to the model's working pixel size (``cm_per_pixel`` of its
   training configuration; sizes within ``pixel_tolerance`` of it are used as they are), so one
   model serves any pitch, tick period and drift velocity, and its resolution pyramid is built once.
2. Seeds per plane: charge-weighted draws over coarse pyramid cells (reproducible: the draw is
   seeded from the event ids), optionally plus a coarse grid over the activity (``grid_seeds``);
   in ``all`` mode also seeds on the charge itself, asked for the vertex their charge comes from.
3. All seeds of all planes (and of all events of a batch) are walked together: one compiled
   model call per step (:func:`models.step_function`, :func:`generators.rollout.rollout`).
4. End points are clustered per plane (SciPy single linkage); a cluster's score is the share of
   the plane's walks that end in it, each weighted by how sure the walk is that it arrived
   (``1 / (1 + predicted distance)``) and that there is a vertex (``1 - p(none)``); its class
   is the class head's average over its walks.
5. Planes are matched by their shared drift coordinate and fitted to one 3D point
   (:meth:`ImageMapper.backproject`); the combination of plane candidates with the best
   score and smallest residual wins (this also rejects ghosts of wrapped induction wires).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generators.charge import REFERENCE_SCALE

from .errors import BadEventError, GeometryError
from .modelconfig import ModelConfig, default_model_path
from .records import VERTEX_KINDS, EventRecord

__all__ = ["FinderConfig", "PlaneVertex", "Vertex", "FindResult", "VertexFinder", "default_model_path", "load_model",
           "MODES"]

MODES = ("primary", "all")


@dataclass(frozen=True)
class FinderConfig:
    """How the finder seeds, walks and combines (pixels are the model's working pixels).

    Args:
        seeds_per_plane: charge-weighted seeds per plane asked for the primary vertex.
        grid_seeds: a ``grid_seeds x grid_seeds`` grid over each plane's activity, added to them
            (0: none; on the tuning samples the grid's corner walks gave nothing, F34).
        all_seeds_per_plane: seeds on charge asked for the vertex of their charge (``all`` mode).
        seed_level: pyramid level whose cells the charge-weighted seeds are drawn from.
        num_steps: steps per walk (None: the model's training ``num_steps``).
        cluster_radius_px: end points closer than this are one cluster (single linkage).
        candidates_per_plane: best clusters per plane tried in the 3D match.
        drift_tolerance_px: largest drift disagreement (global drift pixels) between matched planes.
        residual_scale_cm: 3D residual that costs as much as a whole plane's score.
        max_residual_cm: matches with a larger residual are rejected in ``all`` mode.
        min_walks: smallest cluster reported in ``all`` mode.
        merge_radius_cm: ``all``-mode vertices this close to the primary vertex are the primary;
            primary candidates this close are one candidate.
        choice_candidates: best 3D primary candidates looked at again on every view (``refine_3d``)
            and chosen among.
        batch_events: events walked together by :meth:`VertexFinder.find_many`.
        pixel_tolerance: pixel sizes within this fraction of the model's working size are used as
            they are (the training images themselves span 0.467-0.482 cm on DUNE); others are resampled.
        refine: use the model's refiner (when it has one): candidates are moved onto the vertex
            at full resolution, and the refiner's primary and class heads join their scores.
        refine_steps: refiner looks per candidate (each starts where the last one put it).
        proposal_refine_steps: refiner looks per candidate proposed without walks (crossings,
            upstream ends, wire tiles, secondary cluster ends).
        proposal_merge_px: proposals closer than this (global pixels, in wire and in drift) to an
            earlier one are left out before the refiner looks (several proposals of one place).
        refine_candidates: best primary candidates per plane that are refined and matched.
        refine_weight: weight of the refiner's primary probability in a candidate's score (the
            walks' share counts 1).
        all_refine_candidates: ``all``-mode candidates refined per plane (best first).
        refine_3d: look at the primary vertex once more at its 3D point's projection on every
            view (``refine_3d_steps`` refiner calls) and fit the 3D point again from all views;
            kept when its residual is at most ``refine_3d_residual_cm`` or no worse than before.
        normalise: rescale every event's charge so its charge scale (:func:`generators.charge.charge_scale`,
            the median wire-pulse peak of its track-like wires) is ``charge_reference``, the simulation's:
            the answer does not depend on the unit or the gain of the input.
        charge_reference: the charge scale (bytes) events are rescaled to.
        noise_threshold: after rescaling, pixels below this many bytes are set to zero (0: none).
        noise_sigmas: before rescaling, pixels below this many times the plane's low-level noise
            RMS (:func:`generators.charge.noise_rms`; 0 for zero-suppressed images) are set to zero.
        beam_direction: direction of the neutrino beam in detector coordinates (DUNE FD, SBND and
            MicroBooNE: +z, the default); None for no beam prior (cosmic-ray or test-beam data
            whose beam is not a neutrino beam). See :mod:`vertexfinder.beam`.
        beam_seeds: the upstream ends of the biggest charge clusters of the view closest to the
            beam, and where the other views' charge crosses their drift rows, are primary candidates
            too (without walks; refined and matched like the walks' clusters).
        beam_weight: a primary candidate's score loses this times the share of that view's charge
            upstream of it (0: seeds only, no score term).
        drift_candidates: the best walk clusters of the collection view whose drift rows also
            propose candidates on the other views (where their charge crosses it).
        crossings: most candidates proposed per view along one drift row.
        proposal_threshold: pixels of at most this many bytes (after ``normalise``) are left out
            when candidates are proposed without walks (cluster ends and crossings).
        secondary_clusters: ``all`` mode: both ends of this many of the collection view's biggest
            charge clusters, and the other views' crossings of their drift rows, are candidates for
            secondary vertices too, without walks (0: none). On the tune2 sample (F28 in
            docs/experiments.md) 8 clusters find 4-5 times as many conversions within 2 cm (0.18
            against 0.04, purity 0.40 against 0.30) and more interactions (0.40 against 0.36), at
            the price of more vertices that match no true one (interaction purity 0.33 against
            0.55), a lower class accuracy (0.83 against 0.88) and 40 ms more per event.
        secondary_none_max: such a candidate is kept when the refiner's probability of "no vertex"
            there is below this.
        tile_anchors: the best walk clusters of every view (and the beam view's upstream ends)
            whose wire, at their drift time, proposes candidates on the other views where all of
            them have charge (3D-consistent points; 0: none).
        tiles: most such points per anchor.
        collection_required: primary 3D candidates include the collection view whenever any
            match with it exists; False (the default) lets matches of the induction views alone
            compete too: the second look projects them on the collection view, and the score
            judges them with the rest (a vertex the walks found on U and V only is a candidate).
        use_scorer: rank 3D candidates with the model's learned candidate score
            (:mod:`vertexfinder.scoring`, ``scorer.json`` beside the walker) when it has one, instead
            of the hand-set sum (walk share + refiner primary probability - residual term - beam term).
    """

    seeds_per_plane: int = 16
    grid_seeds: int = 0
    all_seeds_per_plane: int = 48
    seed_level: int = 2
    num_steps: int | None = None
    cluster_radius_px: float = 3.0
    candidates_per_plane: int = 3
    drift_tolerance_px: float = 4.0
    residual_scale_cm: float = 0.5
    max_residual_cm: float = 1.5
    min_walks: int = 2
    merge_radius_cm: float = 2.0
    choice_candidates: int = 4
    batch_events: int = 16
    pixel_tolerance: float = 0.05
    refine: bool = True
    refine_steps: int = 2
    proposal_refine_steps: int = 2
    proposal_merge_px: float = 3.0
    refine_candidates: int = 4
    refine_weight: float = 1.0
    all_refine_candidates: int = 24
    refine_3d: bool = True
    refine_3d_steps: int = 1
    refine_3d_residual_cm: float = 0.5
    normalise: bool = True
    charge_reference: float = REFERENCE_SCALE
    noise_threshold: float = 0.0
    noise_sigmas: float = 3.0
    drift_candidates: int = 0
    crossings: int = 3
    proposal_threshold: float = 6.0
    secondary_clusters: int = 0
    secondary_none_max: float = 0.05
    beam_direction: tuple | None = (0.0, 0.0, 1.0)
    use_scorer: bool = True
    collection_required: bool = False
    tile_anchors: int = 1
    tiles: int = 3
    beam_seeds: bool = True
    beam_weight: float = 1.0

    def __post_init__(self):
        for name in ("seeds_per_plane", "all_seeds_per_plane", "candidates_per_plane", "min_walks", "batch_events",
                     "refine_steps", "proposal_refine_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; Received: {name}={getattr(self, name)}")
        if self.grid_seeds < 0 or self.seed_level < 0:
            raise ValueError("grid_seeds and seed_level must be >= 0")
        for name in ("tile_anchors", "tiles", "crossings", "drift_candidates"):
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
    """

    kind: str
    score: float
    planes: tuple
    position_cm: np.ndarray | None = None
    residual_cm: float = float("nan")
    tpc: int = -1
    primary: bool = False
    class_probabilities: tuple = ()


@dataclass
class FindResult:
    """Vertices and, for pictures, the walks that found them.

    Attributes:
        vertices: list of Vertex, the primary first.
        walks: {plane index: list of (steps + 1, 2) arrays of global coordinates}.
        tasks: {plane index: list of 1 (asked for the primary) / 0 (for the vertex of the charge)}.
        seconds: wall time the finder spent on the event (its share of a batch's time).
    """

    vertices: list
    walks: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    seconds: float = float("nan")


@dataclass
class _Cluster:
    plane: int
    position: np.ndarray  # global coordinates
    score: float
    probs: np.ndarray  # (4,)
    size: int
    primary: float = float("nan")  # the refiner's probability that this is the primary vertex
    rank: float = float("nan")  # what candidates are ordered and matched by (default: score)
    proposed: bool = False  # a candidate without walks (:meth:`VertexFinder._proposals`), refined and matched

    def __post_init__(self):
        if math.isnan(self.rank):
            self.rank = self.score


class VertexFinder:
    """Finds vertices with a trained walker.

    Args:
        model: a models.Walker.
        model_config: its ModelConfig (glimpse geometry, working pixel size, steps; a training
            run's TrainConfig works too).
        config: FinderConfig.
        refiner: optional models.Refiner, the last full-resolution look at each candidate, with
            refiner_config its vertexfinder.refining.RefineConfig (glimpse geometry).
        scorer: optional vertexfinder.scoring.CandidateScorer, the learned score of 3D candidates.
    """

    def __init__(self, model, model_config: ModelConfig, config: FinderConfig = FinderConfig(), *, refiner=None,
                 refiner_config=None, scorer=None):
        from models import refine_function, step_function

        self.model = model
        self.model_config = model_config.model_config()
        self.config = config
        self.spec = self.model_config.glimpse_spec()
        self.cm_per_pixel = float(self.model_config.cm_per_pixel)
        self.num_steps = int(config.num_steps or self.model_config.num_steps)
        self._step = step_function(model)
        self._align = np.array(self.spec.scale, dtype=np.int64) ** (self.spec.num_levels - 1)
        self._mappers: dict = {}
        self.refiner = refiner
        self.refiner_config = refiner_config
        self.scorer = scorer
        self._record = None  # per event: (features, 3D point, score) of the 3D primary candidates chosen among
        if refiner is not None:
            from .refining import refine_spec

            if refiner_config is None:
                raise ValueError("a refiner needs its refiner_config (glimpse geometry)")
            self.refine_spec = refine_spec(refiner_config).glimpse
            self._refine_fn = refine_function(refiner)

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, config: FinderConfig | None = None, **options) -> "VertexFinder":
        """Load a model: None for the bundled default, a run or model folder, or a ``.keras`` file.

        The model's configuration is read from ``config.json`` beside the model (a training run's
        configuration; its model fields). The files are checked before Keras reads them and the model
        is loaded with Keras' safe mode (:func:`vertexfinder.modelfiles.load_model_folder`); a refiner
        beside the model (``refiner.keras`` and ``refiner.json``) is loaded too. ``options`` are
        FinderConfig fields.

        Raises:
            FileNotFoundError: no model file, or no config.json beside it.
            vertexfinder.errors.ModelFileError, vertexfinder.errors.ConfigError: a damaged or foreign
                model file, or a configuration that does not describe it (the message names the file).
        """
        from .modelfiles import load_model_folder

        if config is None:
            config = FinderConfig(**options)
        elif options:
            raise ValueError("pass either config or FinderConfig options, not both")
        from .modelconfig import resolve_model
        from .scoring import CandidateScorer

        model, model_config, refiner, refiner_config = load_model_folder(path)
        scorer_file = resolve_model(path)[0].parent / "scorer.json"
        scorer = CandidateScorer.read(scorer_file) if refiner is not None and scorer_file.is_file() else None
        return cls(model, model_config, config, refiner=refiner, refiner_config=refiner_config, scorer=scorer)

    # -- public API ------------------------------------------------------------------------------
    def find(self, event: EventRecord, mode: str = "primary") -> list[Vertex]:
        """Vertices of one event: in ``primary`` mode the neutrino vertex, in ``all`` mode every
        interaction, decay and conversion vertex (the primary first)."""
        return self.find_many([event], mode=mode)[0].vertices

    def find_detailed(self, event: EventRecord, mode: str = "primary") -> FindResult:
        """Like :meth:`find`, with the walks (for pictures)."""
        return self.find_many([event], mode=mode)[0]

    def primary_candidates(self, event: EventRecord) -> list[dict]:
        """The 3D candidates the finder chose the primary vertex among, best first: dicts with
        ``position_cm`` (x, y, z), ``score`` (what they were ranked by: the learned candidate score,
        or the hand-set sum without one) and ``features`` ({name: value} of
        :data:`vertexfinder.scoring.FEATURES`). The first is the primary vertex :meth:`find` reports.
        Needs a refiner, with ``refine`` and ``refine_3d`` set (the choice is made at the second look)."""
        from .scoring import FEATURES

        with self._recording() as recorded:
            self.find_many([event], mode="primary")
        tried = recorded[0] if recorded else []
        out = [{"position_cm": xyz, "score": score, "features": dict(zip(FEATURES, (float(v) for v in x)))}
               for x, xyz, score in tried]
        return sorted(out, key=lambda c: -c["score"])

    @contextlib.contextmanager
    def _recording(self):
        """Within the block, every event found appends to the yielded list the (features, 3D point,
        score) of the 3D primary candidates it was chosen among (:meth:`_refine_3d`)."""
        if self.refiner is None or not (self.config.refine and self.config.refine_3d):
            raise ValueError("the 3D primary candidates are chosen at the second look: a refiner, refine and "
                             "refine_3d are needed")
        self._record = []
        try:
            yield self._record
        finally:
            self._record = None

    def find_many(self, events, mode: str = "primary") -> list[FindResult]:
        """FindResults of many events, walked ``batch_events`` at a time (one model call per step).

        Raises on the first event the finder cannot work on (see :meth:`check`); :meth:`find_iter`
        skips such events instead.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; Received: mode={mode!r}")
        events = list(events)
        out = []
        n = self.config.batch_events
        for i in range(0, len(events), n):
            out.extend(self._timed_batch(events[i : i + n], mode))
        return out

    def find_iter(self, events, mode: str = "primary", *, on_skip=None):
        """(event, FindResult) for every event of an iterable the finder can work on, in order.

        Events are read lazily and walked ``batch_events`` at a time. An event the finder cannot
        work on (:meth:`check` raises BadEventError, UnknownDetectorError or TypeError) is passed
        to ``on_skip(event, error)`` and left out; without ``on_skip`` the error is raised.
        """
        from .errors import UnknownDetectorError

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; Received: mode={mode!r}")
        batch = []
        for ev in itertools.chain(events, [None]):
            if ev is not None:
                try:
                    self.check(ev)
                except (BadEventError, UnknownDetectorError, TypeError) as exc:
                    if on_skip is None:
                        raise
                    on_skip(ev, exc)
                    continue
                batch.append(ev)
            if batch and (ev is None or len(batch) >= self.config.batch_events):
                yield from zip(batch, self._timed_batch(batch, mode))
                batch = []

    # -- internals -------------------------------------------------------------------------------
    def mapper(self, event: EventRecord):
        from .mapper import ImageMapper

        det = event.get_detector()  # the record's own Detector (a description file's), else the built-in one
        key = (det, event.drift_window, event.pooling)
        if key not in self._mappers:
            self._mappers[key] = ImageMapper(det, drift_window=event.drift_window, pooling=event.pooling)
        return self._mappers[key]

    def check(self, event: EventRecord):
        """Raise a clear error if the finder cannot work on ``event``; returns its ImageMapper.

        Raises:
            TypeError: not an EventRecord. UnknownDetectorError: its detector is not known.
            BadEventError: no charge on any plane, or planes that do not match the detector's views.
        """
        if not isinstance(event, EventRecord):
            raise TypeError(f"expected an EventRecord; Received: {type(event).__name__}")
        if not any(p.pixels.size and p.pixels.any() for p in event.planes):
            raise BadEventError(f"event {event.ids}: no charge on any plane")
        mapper = self.mapper(event)
        if len(event.planes) != len(mapper.views):
            raise BadEventError(
                f"event {event.ids}: {len(event.planes)} planes, but {event.detector} has views {mapper.views}"
            )
        return mapper

    def _prepare(self, event: EventRecord):
        """Per plane: (pyramid, factor (model px per event px, 2), origin) in the model's pixels."""
        from generators.glimpses import Pyramid

        from .imaging import resample_image

        mapper = self.check(event)
        images = [plane.pixels for plane in event.planes]
        if self.config.normalise:
            from generators.charge import normalise

            images = normalise(images, reference=self.config.charge_reference, threshold=self.config.noise_threshold,
                               noise_sigmas=self.config.noise_sigmas)
        prepared = []
        for v, plane in enumerate(event.planes):
            px = mapper.pixel_cm(v)
            factor = np.array([px[0] / self.cm_per_pixel, px[1] / self.cm_per_pixel])
            img = images[v]
            origin = np.asarray(plane.origin, dtype=np.int64)
            if not np.allclose(factor, 1.0, atol=self.config.pixel_tolerance) and img.size:
                img = np.clip(np.rint(resample_image(img, from_cm=px, to_cm=(self.cm_per_pixel,) * 2)), 0, 255)
                img = img.astype(np.uint8)
            else:
                # pad the crop so its pyramid cells are those of the global image: the glimpses, and
                # so the vertices, do not depend on where the crop starts
                factor = np.ones(2)
                pad = origin % self._align
                img = np.pad(img, ((pad[0], 0), (pad[1], 0))) if pad.any() else img
                origin = origin - pad
            prepared.append((Pyramid(img, self.spec), factor, origin.astype(np.float64)))
        return prepared

    def _seeds(self, pyramid, rng, n_charge, grid, on_charge=False):
        """Seed positions (M, 2) in model pixels."""
        level0 = pyramid.levels[0]
        if level0.size == 0:
            return np.zeros((0, 2))
        if on_charge:  # brightest pixel of charge-weighted 2x2 cells: a start on real charge
            L = min(1, len(pyramid.levels) - 1)
        else:
            L = min(self.config.seed_level, len(pyramid.levels) - 1)
        lv = pyramid.levels[L]
        cells = np.argwhere(lv > 0)
        if len(cells) == 0:
            return np.zeros((0, 2))
        w = lv[cells[:, 0], cells[:, 1]].astype(np.float64)
        k = min(n_charge, len(cells))
        pick = cells[rng.choice(len(cells), size=k, replace=False, p=w / w.sum())]
        s = np.array([self.spec.scale[0] ** L, self.spec.scale[1] ** L])
        if on_charge:
            seeds = []
            for c in pick:
                lo = c * s
                block = level0[lo[0] : lo[0] + s[0], lo[1] : lo[1] + s[1]]
                i, j = np.unravel_index(np.argmax(block), block.shape)
                seeds.append(lo + (i, j) + 0.5)
            seeds = np.array(seeds).reshape(-1, 2)
        else:
            seeds = (pick + 0.5) * s
        if grid:  # over the activity's bounding box, at the resolution of the cells drawn from
            lo, hi = cells.min(axis=0) * s, np.minimum((cells.max(axis=0) + 1) * s, level0.shape)
            g = (np.arange(grid) + 0.5) / grid
            gw, gd = np.meshgrid(lo[0] + g * (hi[0] - lo[0]), lo[1] + g * (hi[1] - lo[1]), indexing="ij")
            seeds = np.concatenate([seeds, np.stack([gw.ravel(), gd.ravel()], axis=1)])
        return seeds

    def _beam_prior(self, event, prepared):
        """(beam view, its UpstreamProfile over global wires) of an event, or None (no beam prior)."""
        from .beam import UpstreamProfile, beam_view

        found = beam_view(self.mapper(event).detector, self.config.beam_direction)
        if found is None:
            return None
        v, sign = found
        pyr, factor, origin = prepared[v]
        profile = UpstreamProfile(pyr.levels[0], 0.0, sign, margin=2.0)  # model pixels of the prepared image
        return v, sign, lambda global_wire: profile((global_wire - origin[0]) * factor[0])

    def _proposals(self, mapper, prepared, prior, walked):
        """Candidates without walks, in global coordinates: {plane: (M, 2)}.

        * the upstream ends of the beam view's biggest charge clusters (with a beam prior);
        * on every other view, where its charge crosses the drift row of those ends and of the
          ``drift_candidates`` best walk clusters of the anchor view (the collection view): one
          drift time is shared by all views, so the vertex is among those crossings when the anchor
          view's candidate is right (see :mod:`vertexfinder.beam`);
        * on the other views, the 3D-consistent points of the wires of each view's ``tile_anchors``
          best walk clusters and of those ends (:meth:`_tiles`).
        """
        from .beam import upstream_ends

        cfg = self.config
        out: dict = {}
        anchors = []  # (view, global drift) whose drift rows propose crossings on the other views
        if prior is not None and cfg.beam_seeds:
            v, sign, _ = prior
            pyr, factor, origin = prepared[v]
            ends = origin + upstream_ends(pyr.levels[0], sign, min_charge=cfg.proposal_threshold) / factor
            out[v] = list(ends)
            anchors += [(v, e[1]) for e in ends]
        anchor_view = self._collection_plane(mapper)
        if anchor_view < 0 and prior is not None:
            anchor_view = prior[0]
        if anchor_view >= 0 and cfg.drift_candidates:
            best = [c for c in walked if c.plane == anchor_view][: cfg.drift_candidates]
            anchors += [(anchor_view, c.position[1]) for c in best]
        tiled = []  # (view, global point) whose wires propose 3D-consistent points on the other views
        if cfg.tile_anchors:
            for p in range(len(prepared)):
                ranked = sorted((c for c in walked if c.plane == p), key=lambda c: -c.score)
                tiled += [(p, c.position) for c in ranked[: cfg.tile_anchors]]
            tiled += [(v, e) for v, ends in out.items() for e in ends]
        stacked = self._stacked(out, self._crossings(prepared, anchors), self._tiles(mapper, prepared, tiled))
        return {p: self._merged(pts, cfg.proposal_merge_px) for p, pts in stacked.items()}

    def _secondary_proposals(self, mapper, prepared):
        """``all`` mode: candidates without walks for the secondary vertices, in global coordinates
        {plane: (M, 2)}: both ends of the biggest charge clusters of the collection view
        (:func:`vertexfinder.beam.cluster_ends`) and where the other views' charge crosses their
        drift rows."""
        from .beam import cluster_ends

        cfg = self.config
        anchor = self._collection_plane(mapper)
        if anchor < 0:
            return {}
        pyr, factor, origin = prepared[anchor]
        ends = origin + cluster_ends(pyr.levels[0], max_clusters=cfg.secondary_clusters,
                                     min_charge=cfg.proposal_threshold) / factor
        return self._stacked({anchor: list(ends)}, self._crossings(prepared, [(anchor, e[1]) for e in ends]))

    def _crossings(self, prepared, anchors) -> dict:
        """{plane: [global points]}: on every view but an anchor's own, where its charge crosses the
        anchor's drift row (:func:`vertexfinder.beam.crossings`); ``anchors``: (view, global drift)."""
        from .beam import crossings

        cfg = self.config
        out: dict = {}
        for p, (pyr, factor, origin) in enumerate(prepared):
            for v, drift in anchors:
                if p == v:
                    continue
                row = (drift - origin[1]) * factor[1]
                out.setdefault(p, []).extend(origin + np.array([w, row]) / factor for w in crossings(
                    pyr.levels[0], row, max_points=cfg.crossings, min_charge=cfg.proposal_threshold))
        return out

    def _tiles(self, mapper, prepared, anchors) -> dict:
        """{plane: [global points]}: for each anchor (view, global point), the points of its wire at
        its drift time where every other view has charge (:func:`vertexfinder.beam.wire_tiles`)."""
        from .beam import wire_tiles

        out: dict = {}
        images = [(pyr.levels[0], factor, origin) for pyr, factor, origin in prepared]
        for a, point in anchors:
            for b, pts in wire_tiles(mapper, images, a, point, max_points=self.config.tiles,
                                     min_charge=self.config.proposal_threshold).items():
                out.setdefault(b, []).extend(pts)
        return out

    @staticmethod
    def _merged(points, radius: float) -> np.ndarray:
        """``points`` (M, 2) without those within ``radius`` of an earlier one (several proposals of
        one place are refined once)."""
        keep: list = []
        for x in points:
            if all(abs(x[0] - k[0]) > radius or abs(x[1] - k[1]) > radius for k in keep):
                keep.append(x)
        return np.array(keep, dtype=np.float64).reshape(-1, 2)

    @staticmethod
    def _stacked(*parts) -> dict:
        """{plane: (M, 2)} of several {plane: [points]}, planes without points left out."""
        out: dict = {}
        for part in parts:
            for p, pts in part.items():
                out.setdefault(p, []).extend(pts)
        return {p: np.array(pts, dtype=np.float64).reshape(-1, 2) for p, pts in out.items() if pts}

    def _timed_batch(self, events, mode):
        t0 = time.perf_counter()
        results = self._find_batch(events, mode)
        share = (time.perf_counter() - t0) / max(len(events), 1)
        for r in results:
            r.seconds = share
        return results

    def _find_batch(self, events, mode):
        from generators.rollout import WalkBatch

        cfg = self.config
        prepared = [self._prepare(ev) for ev in events]
        n_planes = len(events[0].planes)
        batch = WalkBatch(n_planes)
        priors = [self._beam_prior(ev, prep) for ev, prep in zip(events, prepared)]
        for e, (ev, prep) in enumerate(zip(events, prepared)):
            for p, (pyr, _, _) in enumerate(prep):
                rng = np.random.default_rng([ev.run, ev.subrun, ev.event, p])
                k = batch.add_pyramid(pyr)
                batch.add(k, self._seeds(pyr, rng, cfg.seeds_per_plane, cfg.grid_seeds), plane=p, task=1.0, owner=e)
                if mode == "all":
                    batch.add(k, self._seeds(pyr, rng, cfg.all_seeds_per_plane, 0, on_charge=True), plane=p, task=0.0,
                              owner=e)
        planes, tasks, owner = batch.tag("planes"), batch.tag("task"), batch.tag("owner")
        res = batch.rollout(self._step, self.spec, self.num_steps)
        last = res["outputs"][-1]
        ends = res["positions"][:, -1]
        dist = np.maximum(np.expm1(last["distance"]), 0.0)
        logits = last["kind"] - last["kind"].max(axis=1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        per_event = []
        for e, ev in enumerate(events):
            walks, walk_tasks = {}, {}
            clusters = {1.0: [], 0.0: []}
            for p, (_, factor, origin) in enumerate(prepared[e]):
                sel = (owner == e) & (planes == p)
                walks[p] = list(origin + res["positions"][sel] / factor)
                walk_tasks[p] = list(tasks[sel].astype(int))
                for task in clusters:
                    m = sel & (tasks == task)
                    clusters[task] += self._cluster(p, ends[m] / factor + origin, dist[m], probs[m], m.sum())
            if self.refiner is not None and cfg.refine:
                for p, points in self._proposals(self.mapper(ev), prepared[e], priors[e], clusters[1.0]).items():
                    clusters[1.0] += [_Cluster(p, x, 0.0, np.zeros(4), 0, proposed=True) for x in points]
                if mode == "all" and cfg.secondary_clusters:
                    for p, points in self._secondary_proposals(self.mapper(ev), prepared[e]).items():
                        clusters[0.0] += [_Cluster(p, x, 0.0, np.zeros(4), 0, proposed=True) for x in points]
            per_event.append((self.mapper(ev), clusters, walks, walk_tasks))
        refine = self.refiner is not None and cfg.refine
        ref_pyramids: dict = {}  # the refiner's pyramids of this batch, built once
        if refine:
            self._refine(prepared, list(self._to_refine(per_event, mode)), n_planes, pyramids=ref_pyramids)
        candidates = [self._primary_candidates(clusters[1.0], mapper, n_planes, prior)
                      for (mapper, clusters, _, _), prior in zip(per_event, priors)]
        if refine and cfg.refine_3d:
            bests = self._refine_3d(prepared, per_event, candidates, n_planes, ref_pyramids, priors)
        else:
            bests = [(c[0][1], c[0][2]) if c else None for c in candidates]
        out = []
        for (mapper, clusters, walks, walk_tasks), best in zip(per_event, bests):
            primary = None
            if best is not None:
                combo, bp = best
                primary = self._vertex(combo, bp, mapper, n_planes, kind="interaction", primary=True)
            vertices = [primary] if primary is not None else []
            if mode == "all":
                vertices += self._match_all(clusters[0.0], mapper, n_planes, primary)
            out.append(FindResult(vertices, walks, walk_tasks))
        return out

    def _refine_3d(self, prepared, per_event, candidates, n_planes, pyramids=None, priors=None):
        """Look once more at each event's best 3D candidates on every view, at the projections of
        their 3D points, fit each again from the refined positions (all views, one drift time) and
        choose among them.

        A refit replaces its candidate's fit when its residual is at most ``refine_3d_residual_cm``
        or no worse than before; the candidate's score is then the walks' share of its views plus
        ``refine_weight`` x the refiner's primary probability on every view, less the residual and
        beam terms (:meth:`_fit`), so candidates seen on two views and on three compare on equal
        terms. A learned scorer (:mod:`vertexfinder.scoring`) replaces that sum when the model has
        one and ``use_scorer`` is set. Returns (clusters per plane, BackProjection or None) or None
        per event."""
        cfg = self.config
        priors = priors or [None] * len(per_event)
        todo, where = [], []
        for e, ((mapper, _, _, _), cands) in enumerate(zip(per_event, candidates)):
            for i, (_, combo, bp) in enumerate(cands):
                if bp is None:
                    continue
                views = []
                for p in range(n_planes):
                    proj = self._project(mapper, bp, p)
                    if not (np.isfinite(proj.global_wire) and np.isfinite(proj.global_drift)):
                        break
                    old = combo[p]
                    views.append(_Cluster(p, np.array([proj.global_wire, proj.global_drift]), old.score if old else 0.0,
                                          old.probs if old else np.zeros(4), old.size if old else 0,
                                          proposed=old.proposed if old else False))
                else:
                    todo += [(e, c) for c in views]
                    where.append((e, i, views))
        if todo:
            self._refine(prepared, todo, n_planes, steps=cfg.refine_3d_steps, pyramids=pyramids)
        refits = {}
        for e, i, views in where:
            fit = self._fit(views, per_event[e][0], priors[e])  # the refined views' ranks: share + primary
            if fit is not None and fit[1].residual_cm <= max(cfg.refine_3d_residual_cm, candidates[e][i][2].residual_cm):
                refits[(e, i)] = (fit[0], tuple(views), fit[1])
        learned = self.scorer is not None and cfg.use_scorer
        out = []
        for e, cands in enumerate(candidates):
            if not cands:
                out.append(None)
                if self._record is not None:
                    self._record.append([])
                continue
            final = [refits.get((e, i), cand) for i, cand in enumerate(cands)]
            if learned or self._record is not None:
                mapper, prior = per_event[e][0], priors[e]
                scored = [(f, self._features(f[1], f[2], mapper, prior)) for f in final if f[2] is not None]
                if learned and scored:
                    final = [(float(self.scorer(x)), f[1], f[2]) for f, x in scored]
                    scored = list(zip(final, (x for _, x in scored)))
                if self._record is not None:
                    self._record.append([(x, np.asarray(f[2].position_cm, dtype=np.float64), float(f[0]))
                                         for f, x in scored])
            best = max(final, key=lambda f: f[0])
            out.append((best[1], best[2]))
        return out

    def _to_refine(self, per_event, mode):
        """(event, cluster) pairs the refiner looks at: the best primary candidates of each plane,
        and in ``all`` mode the best candidates of the walks asked for the vertex of their charge."""
        cfg = self.config
        for e, (mapper, clusters, _, _) in enumerate(per_event):
            walked = [c for c in clusters[1.0] if not c.proposed]
            groups = [(walked, cfg.refine_candidates), ([c for c in clusters[1.0] if c.proposed], None)]
            if mode == "all":
                groups.append(([c for c in clusters[0.0] if c.size >= cfg.min_walks and not c.proposed],
                               cfg.all_refine_candidates))
                groups.append(([c for c in clusters[0.0] if c.proposed], None))
            for group, k in groups:
                for p in range(len(mapper.views)):
                    for c in [c for c in group if c.plane == p][:k]:
                        yield e, c

    def _refine(self, prepared, todo, n_planes, steps=None, pyramids=None):
        """Move candidates onto their vertex with the refiner (``steps`` batched calls, default
        ``refine_steps``) and give them the refiner's class and primary probabilities.

        ``pyramids``: the batch's refiner pyramids by (event, plane), filled here as needed, so a
        second call on the same batch builds none again."""
        from generators.features import walk_features
        from generators.glimpses import Pyramid

        if not todo:
            return
        cfg = self.config
        owners = np.array([e for e, _ in todo])
        clusters = [c for _, c in todo]
        plane = np.array([c.plane for c in clusters])
        factor = np.array([prepared[e][c.plane][1] for e, c in todo])
        origin = np.array([prepared[e][c.plane][2] for e, c in todo])
        pos = (np.array([c.position for c in clusters]) - origin) * factor  # model pixels
        pyramids = {} if pyramids is None else pyramids
        for e, c in todo:
            if (e, c.plane) not in pyramids:
                pyramids[(e, c.plane)] = Pyramid(prepared[e][c.plane][0].levels[0], self.refine_spec)
        g = self.refine_spec
        if steps is None:  # proposals without walks may take fewer looks than the walks' clusters
            looks = np.array([cfg.proposal_refine_steps if c.proposed else cfg.refine_steps for c in clusters])
        else:
            looks = np.full(len(todo), steps)
        looks = np.maximum(looks, 1)
        kind = np.empty((len(todo), 4), dtype=np.float64)
        prim = np.empty(len(todo), dtype=np.float64)
        for step in range(int(looks.max())):
            act = np.flatnonzero(looks > step)  # the candidates still looking
            at, own, pl = pos[act], owners[act], plane[act]
            centres = np.floor(at).astype(np.int64)
            glimpses = np.empty((len(act), g.num_levels) + tuple(g.glimpse_size), dtype=np.uint8)
            features = np.empty((len(act), self.refiner.num_features), dtype=np.float32)
            for e, p in set(zip(own.tolist(), pl.tolist())):
                sel = (own == e) & (pl == p)
                glimpses[sel] = pyramids[(e, p)].extract(centres[sel])
            for p in np.unique(pl):
                sel = pl == p
                features[sel] = walk_features(at[sel], int(p), n_planes, g, 1.0)
            out = self._refine_fn(glimpses, features)
            pos[act] = pos[act] + out["offset"]
            logits = out["kind"] - out["kind"].max(axis=1, keepdims=True)
            kind[act] = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            prim[act] = 1.0 / (1.0 + np.exp(-out["primary"].reshape(-1)))
        for i, c in enumerate(clusters):
            c.position = pos[i] / factor[i] + origin[i]
            c.probs = kind[i]
            c.primary = float(prim[i])
            c.rank = c.score + cfg.refine_weight * c.primary

    def _cluster(self, plane, ends, dist, probs, n_walks):
        from scipy.cluster.hierarchy import fcluster, linkage

        if len(ends) == 0:
            return []
        labels = np.ones(len(ends), dtype=int) if len(ends) == 1 else fcluster(
            linkage(ends, method="single"), t=self.config.cluster_radius_px, criterion="distance")
        w = (1.0 - probs[:, 3]) / (1.0 + dist)
        out = []
        for c in np.unique(labels):
            m = labels == c
            wm = w[m] + 1e-9
            out.append(_Cluster(plane, (ends[m] * wm[:, None]).sum(0) / wm.sum(), float(w[m].sum() / n_walks),
                                (probs[m] * wm[:, None]).sum(0) / wm.sum(), int(m.sum())))
        return sorted(out, key=lambda c: -c.score)

    def _fit(self, combo, mapper, prior=None):
        """(score, BackProjection) of a combination of plane clusters, or None; with a beam
        ``prior`` (:meth:`_beam_prior`) the score loses ``beam_weight`` x the beam view's charge
        share upstream of the point."""
        present = [c for c in combo if c is not None]
        drifts = [c.position[1] for c in present]
        if max(drifts) - min(drifts) > self.config.drift_tolerance_px:
            return None
        points = {mapper.views[c.plane]: (c.position[0], c.position[1]) for c in present}
        try:
            bp = mapper.backproject(points)
        except GeometryError:
            return None
        if not bp.inside:  # a vertex is in the active volume
            return None
        score = sum(c.rank for c in present) - bp.residual_cm / self.config.residual_scale_cm
        if prior is not None and self.config.beam_weight:
            score -= self.config.beam_weight * self._upstream(present, bp, mapper, prior)
        return score, bp

    def _upstream(self, present, bp, mapper, prior) -> float:
        """Share of the beam view's charge upstream of a candidate (0 without a beam prior)."""
        if prior is None:
            return 0.0
        v, _, profile = prior
        on_view = next((c for c in present if c.plane == v), None)
        wire = on_view.position[0] if on_view is not None else self._project(mapper, bp, v).global_wire
        return profile(wire) if np.isfinite(wire) else 0.0

    def _features(self, combo, bp, mapper, prior):
        """The numbers a learned score sees of a 3D candidate (:data:`vertexfinder.scoring.FEATURES`)."""
        present = [c for c in combo if c is not None]
        share = [c.score for c in present]
        prim = [0.0 if math.isnan(c.primary) else c.primary for c in present]
        probs = np.mean([c.probs for c in present], axis=0)
        upstream = self._upstream(present, bp, mapper, prior)
        drifts = [c.position[1] for c in present]
        return np.array([len(present), sum(share), min(share), sum(prim), min(prim), probs[3], probs[0],
                         bp.residual_cm, upstream, sum(c.proposed for c in present),
                         sum(math.log1p(c.size) for c in present), max(drifts) - min(drifts)], dtype=np.float64)

    def _vertex(self, combo, bp, mapper, n_planes, kind=None, primary=False):
        present = [c for c in combo if c is not None]
        probs = np.mean([c.probs for c in present], axis=0)
        kind = kind or VERTEX_KINDS[int(np.argmax(probs[:3]))]
        planes = []
        for p in range(n_planes):
            c = next((c for c in present if c.plane == p), None)
            if bp is None:
                planes.append(None if c is None else self._plane_vertex(mapper, p, c.position, None))
                continue
            proj = self._project(mapper, bp, p)  # one drift time for every view: the 3D point's
            if not np.isfinite(proj.global_drift):
                planes.append(None if c is None else self._plane_vertex(mapper, p, c.position, bp.tpc))
            elif c is None:
                planes.append(self._plane_vertex(mapper, p, (proj.global_wire, proj.global_drift), bp.tpc,
                                                 found=False))
            else:
                planes.append(self._plane_vertex(mapper, p, (c.position[0], proj.global_drift), bp.tpc))
        return Vertex(kind=kind, score=float(np.clip(np.mean([c.score for c in present]), 0, 1)), planes=tuple(planes),
                      position_cm=None if bp is None else np.asarray(bp.position_cm),
                      residual_cm=float("nan") if bp is None else float(bp.residual_cm),
                      tpc=-1 if bp is None else int(bp.tpc), primary=primary,
                      class_probabilities=tuple(float(x) for x in probs))

    @staticmethod
    def _project(mapper, bp, p):
        """The projection of a fitted 3D point on view ``p``; a point the fit let lie just outside
        its TPC (within its tolerance) is projected from the nearest point of that TPC's volume."""
        xyz = np.asarray(bp.position_cm, dtype=np.float64)
        proj = mapper.project(xyz, p)
        if proj.tpc < 0 and bp.tpc >= 0:
            x0, x1, y0, y1, z0, z1 = mapper.detector.tpcs[bp.tpc].box
            eps = 1e-6
            inside = np.clip(xyz, [x0 + eps, y0 + eps, z0 + eps], [x1 - eps, y1 - eps, z1 - eps])
            proj = mapper.project(inside, p)
        return proj

    @staticmethod
    def _plane_vertex(mapper, p, position, tpc, found=True):
        gw, gd = float(position[0]), float(position[1])
        view = mapper.views[p]
        if tpc is None:
            tpcs = mapper.tpcs_at(view, int(math.floor(gw)), int(math.floor(gd)))
            tpc = tpcs[0] if tpcs else -1
        if tpc < 0:
            return PlaneVertex(view, gw, gd, found=found)
        tp = mapper.tpc_plane(view, tpc)
        wire = float(mapper.global_to_wire(view, tpc, gw))
        wi = int(math.floor(wire))
        channel = int(tp.channels[wi]) if 0 <= wi < tp.n_wires else -1
        tick = float(mapper.global_drift_to_tick(tpc, gd, view))
        return PlaneVertex(view, gw, gd, int(tpc), float(wire), channel, tick, found)

    @staticmethod
    def _collection_plane(mapper) -> int:
        """View index of the collection plane, which every ``all``-mode match includes, and every
        primary match when ``collection_required`` (it has no wrapped wires, so it resolves the
        ghosts of wrapped induction planes); -1 without one."""
        view = getattr(mapper.detector, "collection_view", None)
        return mapper.view_index(view) if view is not None else -1

    def _primary_candidates(self, clusters, mapper, n_planes, prior=None):
        """The best primary candidates, [(score, clusters per plane, BackProjection or None)], best
        first: up to ``choice_candidates`` 3D points at least ``merge_radius_cm`` apart, or, when no
        two planes agree, the best single-plane answer without a 3D point; [] without clusters.
        ``prior``: the event's beam prior (:meth:`_beam_prior`)."""
        if not clusters:
            return []
        k = self.config.candidates_per_plane
        r = self.config.cluster_radius_px
        walked = [c for c in clusters if not c.proposed]
        clusters = walked + [c for c in clusters if c.proposed and not any(
            o.plane == c.plane and np.linalg.norm(o.position - c.position) <= r for o in walked)]
        ranked = sorted(clusters, key=lambda c: -c.rank)
        per_plane = [[c for c in ranked if c.plane == p][:k] for p in range(n_planes)]
        anchor = self._collection_plane(mapper)
        fits = []
        # with the collection plane if any match has it (collection_required), else every match
        for required in ([anchor, -1] if anchor >= 0 and self.config.collection_required else [-1]):
            for combo in itertools.product(*[opts + ([] if p == required else [None])
                                             for p, opts in enumerate(per_plane)]):
                if sum(c is not None for c in combo) < 2:
                    continue
                fit = self._fit(combo, mapper, prior)
                if fit is not None:
                    fits.append((fit[0], combo, fit[1]))
            if fits:
                break
        if not fits:  # no two planes agree: the best single-plane answer, without a 3D point
            top = max(clusters, key=lambda c: c.rank)
            return [(-math.inf, tuple(top if p == top.plane else None for p in range(n_planes)), None)]
        out = []
        for fit in sorted(fits, key=lambda f: -f[0]):
            xyz = np.asarray(fit[2].position_cm)
            if all(np.linalg.norm(xyz - np.asarray(o[2].position_cm)) > self.config.merge_radius_cm for o in out):
                out.append(fit)
                if len(out) >= max(1, self.config.choice_candidates):
                    break
        return out

    def _match_all(self, clusters, mapper, n_planes, primary):
        cfg = self.config
        good = [c for c in clusters if (c.size >= cfg.min_walks and c.probs[3] < 0.5)
                or (c.proposed and c.probs[3] < cfg.secondary_none_max)]
        anchor_plane = mapper.view_index(mapper.detector.collection_view)
        anchors = [c for c in good if c.plane == anchor_plane]
        others = [p for p in range(n_planes) if p != anchor_plane]
        used: set[int] = set()
        found = []
        for a in sorted(anchors, key=lambda c: -c.score):
            opts = []
            for p in others:
                near = [c for c in good if c.plane == p and id(c) not in used
                        and abs(c.position[1] - a.position[1]) <= cfg.drift_tolerance_px]
                opts.append(sorted(near, key=lambda c: -c.score)[: cfg.candidates_per_plane] + [None])
            best = None
            for rest in itertools.product(*opts):
                combo = [None] * n_planes
                combo[anchor_plane] = a
                for p, c in zip(others, rest):
                    combo[p] = c
                if sum(c is not None for c in combo) < 2:
                    continue
                fit = self._fit(combo, mapper)
                if fit is not None and fit[1].residual_cm <= cfg.max_residual_cm and (best is None or fit[0] > best[0]):
                    best = (fit[0], combo, fit[1])
            if best is None:
                continue
            used.update(id(c) for c in best[1] if c is not None)
            v = self._vertex(best[1], best[2], mapper, n_planes)
            if primary is not None and primary.position_cm is not None and \
                    np.linalg.norm(v.position_cm - primary.position_cm) <= cfg.merge_radius_cm:
                continue
            if any(np.linalg.norm(v.position_cm - f.position_cm) <= cfg.merge_radius_cm for f in found):
                continue
            found.append(v)
        return sorted(found, key=lambda v: -v.score)


def load_model(path: str | Path | None = None):
    """The walker (a Keras model) of a model file or folder, the bundled default for None (safe mode)."""
    return VertexFinder.load(path).model
