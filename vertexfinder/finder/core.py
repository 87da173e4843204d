"""VertexFinder: the stages run in order over batches of events."""

from __future__ import annotations

import itertools
import math
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import BadEventError
from ..model import ModelConfig, default_model_path
from ..records import EventRecord
from . import choose, match, prepare, propose, refine, relate, report, secondary, walk
from .config import MODES, FinderConfig
from .points import point_proposals as points_of
from .types import Candidate, FindResult, PreparedView, Vertex

__all__ = ["VertexFinder", "load_model", "default_model_path", "default_backend", "BACKENDS"]

#: what can run the networks (:meth:`VertexFinder.load`)
BACKENDS = ("onnxruntime", "keras")


class VertexFinder:
    """Finds vertices with a trained walker (and its refiner and candidate score, when it has them).

    Args:
        model: a models.Walker.
        model_config: its ModelConfig (glimpse geometry, working pixel size, steps; a training
            run's TrainConfig works too).
        config: FinderConfig.
        refiner: optional models.Refiner, the last full-resolution look at each candidate, with
            refiner_config its RefineConfig (glimpse geometry).
        scorer: optional CandidateScorer, the learned score of 3D candidates.
        surface_scorer: optional CandidateScorer used instead on surface detectors (cosmic muons
            in every readout: ``scorer_surface.json``, fitted on their events), or None.
        vertex_scorer: optional VertexScorer, the learned score of ``all``-mode matches
            (:mod:`vertexfinder.finder.secondary`).
        secondary_refiner, secondary_config: optional refiner (and its RefineConfig) for the
            vertices other than the primary (trained where decays and conversions are as common
            as interactions): in ``all`` mode it looks at the candidates for those vertices and
            names them at the class look (:func:`vertexfinder.finder.choose.class_look`), while
            ``refiner`` looks at the primary's; without one ``refiner`` does both.
    """

    def __init__(self, model, model_config: ModelConfig, config: FinderConfig = FinderConfig(), *, refiner=None,
                 refiner_config=None, scorer=None, proposer=None, vertex_scorer=None, secondary_refiner=None,
                 secondary_config=None, tagger=None, surface_scorer=None):
        self.model = model
        self.backend = getattr(model, "backend", "keras")
        self.model_config = model_config.model_config()
        self.config = config
        self.spec = self.model_config.glimpse_spec()
        self.cm_per_pixel = float(self.model_config.cm_per_pixel)
        self.num_steps = int(config.num_steps or self.model_config.num_steps)
        self.step = network_function(model, "walker")
        self._mappers: dict = {}
        self.refiner = refiner
        self.refiner_config = refiner_config
        self.scorer = scorer
        self.surface_scorer = surface_scorer
        self.vertex_scorer = vertex_scorer
        self.proposer = proposer
        if proposer is not None:
            self.proposal_fn = network_function(proposer, "proposer")
        if refiner is not None:
            from ..model import refine_spec

            if refiner_config is None:
                raise ValueError("a refiner needs its refiner_config (glimpse geometry)")
            self.refine_spec = refine_spec(refiner_config).glimpse
            self.refine_fn = network_function(refiner, "refiner")
        self.tagger = tagger
        if tagger is not None:
            if (tagger.num_levels, tagger.glimpse_size) != (self.spec.num_levels, tuple(self.spec.glimpse_size)):
                raise ValueError(f"the neutrino tagger reads {tagger.num_levels} levels of {tagger.glimpse_size}, the "
                                 f"walker's glimpse stacks are {self.spec.num_levels} levels of {self.spec.glimpse_size}")
            self.tagger_fn = network_function(tagger, "tagger")
        self.secondary_refiner = secondary_refiner
        if secondary_refiner is not None:
            from ..model import refine_spec

            if secondary_config is None:
                raise ValueError("a secondary_refiner needs its secondary_config (glimpse geometry)")
            self.secondary_spec = refine_spec(secondary_config).glimpse
            self.secondary_fn = network_function(secondary_refiner, "refiner")

    @classmethod
    def load(cls, path: str | Path | None = None, config: FinderConfig | None = None, *, proposer=None,
             backend: str | None = None, threads: int | None = None, **options) -> "VertexFinder":
        """Load a model: None for the bundled default, a run or model folder, or a ``.keras`` file.

        ``backend``: what runs the networks (:data:`BACKENDS`): ``"onnxruntime"`` the ONNX models of
        an ONNX model folder (``vertexfinder export --format onnx``; the bundled model has them),
        without TensorFlow; ``"keras"`` the ``.keras`` archives; None: onnxruntime when it is
        installed and the folder has ONNX models that are up to date, else Keras
        (:func:`default_backend`).
        ``threads``: onnxruntime's threads per network call (None: one per core the process may
        run on, its CPU affinity).

        The model's configuration is read from ``config.json`` beside the model (a training run's
        configuration; its model fields). The files are checked before Keras reads them and the model
        is loaded with Keras' safe mode (:func:`vertexfinder.model.load_model_folder`); a refiner
        beside the model (``refiner.keras`` and ``refiner.json``), its candidate score
        (``scorer.json``; ``scorer_surface.json`` on surface detectors), its vertex score (``vertex_scorer.json``), its class look network
        (``secondary_refiner.keras`` and ``secondary_refiner.json``), its proposer (``proposer.keras``) and
        its neutrino tagger (``tagger.keras``) are loaded too; ``proposer``: a
        proposer run or model folder (or ``.keras`` file) to use instead. ``options`` are
        FinderConfig fields.

        Raises:
            FileNotFoundError: no model file, or no config.json beside it.
            vertexfinder.errors.ModelFileError, vertexfinder.errors.ConfigError: a damaged or foreign
                model file, or a configuration that does not describe it (the message names the file).
        """
        from ..model import load_secondary_refiner, load_model_folder, resolve_model

        if config is None:
            config = FinderConfig(**options)
        elif options:
            raise ValueError("pass either config or FinderConfig options, not both")
        backend = default_backend(path) if backend is None else backend
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; Received: backend={backend!r}")
        if backend == "onnxruntime":
            if proposer is not None:
                raise ValueError("proposer= replaces the proposer with a .keras one: use backend='keras'")
            return cls._load_onnx(path, config, threads)
        model, model_config, refiner, refiner_config = load_model_folder(path)
        folder = resolve_model(path)[0].parent
        secondary_refiner, secondary_config = load_secondary_refiner(folder) if refiner is not None else (None, None)
        proposer_file = Path(proposer) if proposer is not None else folder / "proposer.keras"
        if proposer_file.is_dir():
            proposer_file = proposer_file / "proposer.keras"
        if proposer is not None or proposer_file.is_file():
            from ..model import load_keras_model

            proposer = load_keras_model(proposer_file, "proposer")
        tagger = None
        if refiner is not None and (folder / "tagger.keras").is_file():
            from ..model import load_keras_model

            tagger = load_keras_model(folder / "tagger.keras", "tagger")
        finder = cls(model, model_config, config, refiner=refiner, refiner_config=refiner_config,
                     proposer=proposer, secondary_refiner=secondary_refiner, secondary_config=secondary_config,
                     tagger=tagger, **_scores(folder, refiner is not None))
        finder.folder = folder
        return finder

    @classmethod
    def _load_onnx(cls, path, config: FinderConfig, threads: int | None) -> "VertexFinder":
        """The finder of an ONNX model folder (:mod:`vertexfinder.model.onnx`), run by onnxruntime."""
        from ..model import ModelConfig, read_refine_config
        from ..model.onnx import load_onnx_networks, onnx_folder

        folder = onnx_folder(path)
        nets = load_onnx_networks(folder, threads=threads)
        cfg_file = folder / "config.json"
        if not cfg_file.is_file():
            raise FileNotFoundError(f"{cfg_file}: missing (the configuration the model needs)")
        model_config = ModelConfig.read(cfg_file)
        walker = nets["walker"]
        if (walker.num_levels, tuple(walker.glimpse_size)) != (model_config.num_levels,
                                                               tuple(model_config.glimpse_size)):
            from ..errors import ConfigError

            raise ConfigError(f"{cfg_file} does not describe the walker in {walker.path.name} (glimpse stacks "
                              f"{model_config.num_levels} x {model_config.glimpse_size} vs {walker.num_levels} x "
                              f"{walker.glimpse_size})")
        configs = {name: read_refine_config(folder / f"{name}.json") if name in nets else None
                   for name in ("refiner", "secondary_refiner")}
        refiner = nets.get("refiner")
        finder = cls(walker, model_config, config, refiner=refiner, refiner_config=configs["refiner"],
                     proposer=nets.get("proposer"), secondary_refiner=nets.get("secondary_refiner"),
                     secondary_config=configs["secondary_refiner"], tagger=nets.get("tagger") if refiner else None,
                     **_scores(folder, refiner is not None))
        finder.folder = folder
        return finder

    # -- finding ---------------------------------------------------------------------------------
    def find(self, event: EventRecord, mode: str = "primary", *, region=None) -> list[Vertex]:
        """Vertices of one event: in ``primary`` mode the neutrino vertex, in ``all`` mode every
        interaction, decay and conversion vertex (the primary first).

        ``region``: look only at the charge of one slice (a slice number of the event's slice
        maps, a box in cm or one mask per plane; :mod:`vertexfinder.slices`): the charge outside
        it is set to zero first, so the answer does not depend on it."""
        return self.find_many([event], mode=mode, regions=None if region is None else [region])[0].vertices

    def find_detailed(self, event: EventRecord, mode: str = "primary", *, region=None) -> FindResult:
        """Like :meth:`find`, with the walks, the candidates and each stage's time."""
        return self.find_many([event], mode=mode, regions=None if region is None else [region])[0]

    def primary_candidates(self, event: EventRecord) -> list[dict]:
        """The 3D candidates the finder chose the primary vertex among, best first: dicts with
        ``position_cm`` (x, y, z), ``score`` (what they were ranked by: the learned candidate score,
        or the hand-set sum without one) and ``features`` ({name: value} of
        :data:`vertexfinder.finder.score.FEATURES`). The first is the primary vertex :meth:`find`
        reports. Needs a refiner, with ``refine`` and ``refine_3d`` set (the choice is made at the
        second look)."""
        from .score import FEATURES

        self.require_second_look()
        out = [{"position_cm": c.position_cm, "score": c.score,
                "features": dict(zip(FEATURES, (float(v) for v in c.features)))}
               for c in self.find_detailed(event).candidates]
        return sorted(out, key=lambda c: -c["score"])

    def require_second_look(self) -> None:
        """ValueError unless the primary vertex is chosen at the second look (a refiner, with
        ``refine`` and ``refine_3d`` set): only then are its 3D candidates scored and reported."""
        if not self.second_look:
            raise ValueError("the 3D primary candidates are chosen at the second look: a refiner, refine and "
                             "refine_3d are needed")

    @property
    def refines(self) -> bool:
        """Whether the refiner looks at the candidates (the model has one and ``refine`` is set)."""
        return self.refiner is not None and self.config.refine

    @property
    def second_look(self) -> bool:
        return self.refines and self.config.refine_3d

    def find_many(self, events, mode: str = "primary", *, regions=None) -> list[FindResult]:
        """FindResults of many events, ``batch_events`` at a time, each batch through the stages:

        1. preparation (:mod:`.prepare`): checks, charge normalisation, pyramids, the beam prior;
        2. walks (:mod:`.walk`): every seed of the batch walked together, end points clustered;
        3. proposals without walks (:mod:`.propose`, :mod:`.points`): upstream ends, crossings, wire tiles,
           the proposer's point proposals;
        4. the refiner's looks (:mod:`.refine`) at the best candidates of every view;
        5. plane matching and the 3D fit (:mod:`.match`): the primary 3D candidates;
        6. the second look and the choice (:mod:`.choose`), with the candidate score;
        7. the report (:mod:`.report`): the primary vertex and, in ``all`` mode, the others.

        ``regions``: one region per event (or None for the whole event; see :meth:`find`).

        Raises on the first event the finder cannot work on (see :meth:`check`); :meth:`find_iter`
        skips such events instead.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; Received: mode={mode!r}")
        events = list(events)
        if regions is not None:
            regions = list(regions)
            if len(regions) != len(events):
                raise ValueError(f"one region per event: {len(regions)} regions for {len(events)} events")
            events = [ev if r is None else self.restrict(ev, r) for ev, r in zip(events, regions)]
        out = []
        n = self.config.batch_events
        for i in range(0, len(events), n):
            out.extend(self.find_batch(events[i : i + n], mode))
        return out

    def find_iter(self, events, mode: str = "primary", *, on_skip=None):
        """(event, FindResult) for every event of an iterable the finder can work on, in order.

        Events are read lazily and found ``batch_events`` at a time. An event the finder cannot
        work on (:meth:`check` raises BadEventError, UnknownDetectorError or TypeError) is passed
        to ``on_skip(event, error)`` and left out; without ``on_skip`` the error is raised.
        """
        from ..errors import UnknownDetectorError

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
                yield from zip(batch, self.find_batch(batch, mode))
                batch = []

    def find_batch(self, events: list, mode: str = "primary") -> list[FindResult]:
        """FindResults of events walked together (the stages of :meth:`find_many`, timed). Events of
        surface detectors are found with the wider search of ``surface_search``
        (:meth:`FinderConfig.for_detector`), apart from the others."""
        surface = [isinstance(ev, EventRecord) and ev.get_detector().surface for ev in events]
        if any(surface) and not all(surface):
            parts = {flag: self.find_batch([ev for ev, s in zip(events, surface) if s == flag], mode)
                     for flag in (False, True)}
            return [parts[s].pop(0) for s in surface]
        base = self.config
        if surface[0]:
            self.config = base.for_detector(events[0].get_detector())
        try:
            return self._find_batch(events, mode)
        finally:
            self.config = base

    def _find_batch(self, events: list, mode: str) -> list[FindResult]:
        cfg = self.config
        times: dict = {}
        start = time.perf_counter()

        @contextmanager
        def stage(name):
            t0 = time.perf_counter()
            yield
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0

        with stage("prepare"):
            prepared = [self.prepare(ev) for ev in events]
            mappers = [self.mapper(ev) for ev in events]
            priors = [propose.beam_prior(m, views, cfg.beam_direction) for m, views in zip(mappers, prepared)]
        n_planes = len(events[0].planes)
        with stage("walk"):
            walked = walk.walk(self.step, self.spec, self.num_steps, events, prepared, mappers, mode, cfg)
        if self.refines:
            with stage("propose"):
                for ev, views, prior in zip(walked, prepared, priors):
                    self.propose(ev, views, prior, mode)
            pyramids: dict = {"refiner": {}, "secondary": {}}  # each network's pyramids of this batch, built once
            with stage("refine"):
                todo = list(refine.to_refine(walked, mode, cfg))
                if mode == "all" and self.secondary_refiner is not None:
                    others = {id(c) for ev in walked for c in ev.secondary}
                    self.refine_secondary(prepared, [t for t in todo if id(t[1]) in others], pyramids=pyramids)
                    todo = [t for t in todo if id(t[1]) not in others]
                self.refine(prepared, todo, pyramids=pyramids["refiner"])
        with stage("match"):
            candidates = [match.primary_candidates(ev.primary, ev.mapper, n_planes, cfg, prior)
                          for ev, prior in zip(walked, priors)]
        chosen, tried = [c[0] if c else None for c in candidates], [[] for _ in events]
        if self.second_look:
            with stage("choose"):
                final = choose.second_look(
                    lambda todo, steps: self.refine(prepared, todo, steps=steps, pyramids=pyramids["refiner"]),
                    walked, candidates, n_planes, cfg, priors)
                scorer = self.scorer_for(events[0]) if cfg.use_scorer else None
                tagged = self.neutrino_probabilities(prepared, walked, final, scorer)
                for e, (ev, prior) in enumerate(zip(walked, priors)):
                    chosen[e], tried[e] = choose.choose(final[e], ev.mapper, prior, scorer, tagged[e])
        found, rated, out = [], [[] for _ in events], []
        with stage("report"):
            for ev, views, best, matches in zip(walked, prepared, chosen, rated):
                primary = None if best is None else report.vertex(best, ev.mapper, n_planes, kind="interaction",
                                                                  primary=True)
                vertices = [primary] if primary is not None else []
                if mode == "all":
                    rate = self.vertex_rate(ev.mapper, views, primary, matches)
                    vertices += match.match_all(ev.secondary, ev.mapper, n_planes, cfg, primary, rate)
                found.append(vertices)
            if mode == "all" and self.refines and cfg.class_look:
                found = choose.class_look(lambda todo, steps: self.refine_secondary(prepared, todo, steps, pyramids),
                                          found, cfg.class_look_steps, cfg.primary_kind_min)
            for event, ev, vertices, cands, matches in zip(events, walked, found, tried, rated):
                if mode == "all":
                    vertices = relate.relate(vertices, event, ev.mapper)  # parents and conversion gaps
                    if ev.mapper.detector.surface:
                        vertices = relate.flag_cosmic(vertices)
                out.append(FindResult(vertices, ev.walks, ev.tasks, plane_candidates=ev.primary, candidates=cands,
                                      matches=matches))
        share = (time.perf_counter() - start) / max(len(events), 1)
        for r in out:
            r.seconds = share
            r.stage_seconds = {name: t / len(events) for name, t in times.items()}
        return out

    # -- the stages, one at a time ---------------------------------------------------------------

    def scorer_for(self, event: EventRecord):
        """The candidate score of an event's detector: ``surface_scorer`` at the surface when there
        is one, else ``scorer``."""
        if self.surface_scorer is not None and event.get_detector().surface:
            return self.surface_scorer
        return self.scorer

    def neutrino_probabilities(self, prepared: list[list[PreparedView]], walked, candidates,
                               scorer=None) -> list[list[float]]:
        """Per event, per 3D candidate: the neutrino tagger's probability that it is the neutrino
        vertex (:class:`models.tagger.NeutrinoTagger`, one call for the batch), NaN for candidates
        without a 3D point or whose point does not project on every view, and everywhere without
        a tagger or when ``scorer`` (a CandidateScorer) does not read it."""
        from .score import FEATURES

        out = [[math.nan] * len(c) for c in candidates]
        if self.tagger is None or (scorer is not None and len(scorer.features) <= FEATURES.index("neutrino")):
            return out
        stacks, where = [], []
        for e, (ev, cands) in enumerate(zip(walked, candidates)):
            for i, cand in enumerate(cands):
                if cand.fit is None:
                    continue
                stack = glimpse_stacks(prepared[e], ev.mapper, cand.fit)
                if stack is not None:
                    stacks.append(stack)
                    where.append((e, i))
        if stacks:
            for (e, i), p in zip(where, self.tagger_fn(np.stack(stacks))):
                out[e][i] = float(p)
        return out

    def refine_secondary(self, prepared: list[list[PreparedView]], todo, steps: int | None = None,
                         pyramids: dict | None = None) -> None:
        """Refine (event index, Candidate) pairs of vertices other than the primary in place: the
        secondary refiner's looks, or without one the refiner's. ``pyramids``: the batch's pyramids
        by network ({"refiner": {...}, "secondary": {...}}), filled as needed."""
        pyramids = {} if pyramids is None else pyramids
        if self.secondary_refiner is None:
            self.refine(prepared, todo, steps=steps, pyramids=pyramids.setdefault("refiner", {}))
            return
        n_planes = len(prepared[0]) if prepared else 0
        refine.refine(self.secondary_fn, self.secondary_spec, self.secondary_refiner.num_features, prepared, todo, n_planes,
                      self.config, steps=steps, pyramids=pyramids.setdefault("secondary", {}))

    def vertex_rate(self, mapper, views: list[PreparedView], primary: Vertex | None, rated: list | None = None):
        """The function :func:`vertexfinder.finder.match.match_all` rates one event's 3D matches with
        (None without a vertex score, or with ``use_vertex_scorer`` off): it sets each match's
        ``features`` and ``score`` (the probability that it is a vertex) and adds it to ``rated``."""
        if self.vertex_scorer is None or not self.config.use_vertex_scorer:
            return None
        primary_cm = None if primary is None or primary.position_cm is None else np.asarray(primary.position_cm)

        def rate(fits):
            x = secondary.match_features(fits, mapper, views, primary_cm)
            p = self.vertex_scorer.probability(x)
            for f, row, q in zip(fits, x, p):
                f.features, f.score = row, float(q)
            if rated is not None:
                rated.extend(fits)
            return p

        return rate
    def restrict(self, event: EventRecord, region) -> EventRecord:
        """The event with the charge outside ``region`` set to zero (:func:`vertexfinder.slices.restrict`)."""
        from ..slices import restrict

        return restrict(event, region, self.mapper(event))

    def mapper(self, event: EventRecord):
        """The ImageMapper of an event's detector, drift window and pooling (made once)."""
        from ..mapper import ImageMapper

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
        return prepare.check(event, self.mapper)

    def prepare(self, event: EventRecord) -> list[PreparedView]:
        """The event's planes in the model's working pixels (:func:`vertexfinder.finder.prepare.prepare`)."""
        return prepare.prepare(event, self.check(event), self.spec, self.cm_per_pixel, self.config)

    def propose(self, walked, prepared: list[PreparedView], prior, mode: str = "primary") -> None:
        """Add the proposals without walks to a walked event's candidates (primary, and in ``all``
        mode with ``secondary_clusters`` the secondary ones)."""
        for p, points in propose.proposals(walked.mapper, prepared, prior, walked.primary, self.config).items():
            walked.primary += [Candidate.proposal(p, x) for x in points]
        if mode == "all" and self.config.secondary_clusters:
            for p, points in propose.secondary_proposals(walked.mapper, prepared, self.config).items():
                walked.secondary += [Candidate.proposal(p, x) for x in points]
        if self.proposer is not None and self.config.point_proposals and (mode == "all" or
                                                                          self.config.points_for_primary):
            for p, (points, prob, classes) in points_of(self.proposal_fn, prepared, self.config).items():
                if mode == "all":
                    walked.secondary += [Candidate.proposal(p, x, hint, q) for x, q, hint in zip(points, prob, classes)]
                if self.config.points_for_primary:
                    walked.primary += [Candidate.proposal(p, x, hint, q) for x, q, hint in zip(points, prob, classes)]

    def refine(self, prepared: list[list[PreparedView]], todo, *, steps: int | None = None,
               pyramids: dict | None = None) -> None:
        """Refine (event index, Candidate) pairs in place with the refiner
        (:func:`vertexfinder.finder.refine.refine`); ``prepared``: each event's PreparedViews."""
        if self.refiner is None:
            raise ValueError("this finder has no refiner")
        n_planes = len(prepared[0]) if prepared else 0
        refine.refine(self.refine_fn, self.refine_spec, self.refiner.num_features, prepared, todo, n_planes,
                      self.config, steps=steps, pyramids=pyramids)


def default_backend(path=None) -> str:
    """The backend :meth:`VertexFinder.load` uses for a model without one named: ``"onnxruntime"``
    when onnxruntime is installed and the model's folder has ONNX models (``onnx.json``) exported
    from the ``.keras`` archives beside them, else ``"keras"``."""
    from ..errors import ConfigError, ModelFileError
    from ..model.onnx import onnx_folder, onnxruntime_available, read_manifest

    if not onnxruntime_available():
        return "keras"
    try:
        read_manifest(onnx_folder(path))
    except (FileNotFoundError, ConfigError, ModelFileError):  # no ONNX models, or out of date
        return "keras"
    return "onnxruntime"


def _scores(folder: Path, refined: bool) -> dict:
    """The JSON scores beside a model's networks (they score the refiner's candidates: none
    without a refiner): VertexFinder's ``scorer``, ``surface_scorer`` and ``vertex_scorer``."""
    from .score import CandidateScorer
    from .secondary import VertexScorer

    files = {"scorer": (folder / "scorer.json", CandidateScorer),
             "surface_scorer": (folder / "scorer_surface.json", CandidateScorer),
             "vertex_scorer": (folder / "vertex_scorer.json", VertexScorer)}
    return {key: cls.read(file) if refined and file.is_file() else None for key, (file, cls) in files.items()}


def network_function(net, kind: str):
    """The NumPy-in, NumPy-out call the stages use for a network (``kind``: walker, refiner,
    proposer or tagger): an :class:`vertexfinder.model.onnx.OnnxNetwork`'s own, else the Keras one
    of :mod:`models` (``step_function``, ``refine_function``, ...; imports Keras)."""
    if getattr(net, "backend", "keras") == "onnxruntime":
        return net.function()
    from ..model.files import import_keras

    models = import_keras()[1]

    make = {"walker": models.step_function, "refiner": models.refine_function,
            "proposer": models.proposal_function, "tagger": models.tagger_function}[kind]
    return make(net)


def glimpse_stacks(views: list[PreparedView], mapper, fit) -> np.ndarray | None:
    """The walker's glimpse stacks (views, K, Gw, Gd) of a fitted 3D point's projections
    (:func:`vertexfinder.finder.report.project`) on an event's prepared views, or None when it
    does not project on every view."""
    out = []
    for p, view in enumerate(views):
        proj = report.project(mapper, fit, p)
        if not (np.isfinite(proj.global_wire) and np.isfinite(proj.global_drift)):
            return None
        at = np.floor(view.to_model([[proj.global_wire, proj.global_drift]])).astype(np.int64)
        out.append(view.pyramid.extract(at)[0])
    return np.stack(out)


def load_model(path: str | Path | None = None):
    """The walker (a Keras model) of a model file or folder, the bundled default for None (safe mode)."""
    return VertexFinder.load(path, backend="keras").model
