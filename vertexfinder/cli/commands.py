"""The commands: each parses nothing, checks its output, calls the library and prints one summary.

Each calls functions the Python API exposes too (:mod:`vertexfinder.io.events`,
:mod:`vertexfinder.training`, :mod:`vertexfinder.demo`, ...). Bad events are skipped and reported on
stderr; TensorFlow is imported (quietly, :func:`._tensorflow`) only once the arguments and outputs
are checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .runtime import _bars_shown, _progress, _tensorflow


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _cmd_detectors(args) -> int:
    from ..detectors import get_detector, list_detectors

    names = list_detectors()
    if not args.details:
        print("\n".join(names))
        return 0
    from ..mapper import ImageMapper

    header = f"{'detector':<16} {'TPCs':>4} {'channels':>8}  global image per view at drift window {args.drift_window}"
    print(header)
    for name in names:
        det = get_detector(name)
        m = ImageMapper(det, drift_window=args.drift_window)
        shapes = "  ".join(f"{v} {m.shape(v)[0]}x{m.shape(v)[1]}" for v in m.views)
        print(f"{name:<16} {len(det.tpcs):>4} {det.n_channels:>8}  {shapes}")
    return 0


def _cmd_info(args) -> int:
    from ..io.store import EventStore

    with EventStore.open(args.store) as store:
        info = store.info()
        if args.verify:
            store.verify()
            info["verified"] = True
    print(json.dumps(info, indent=2, default=str))
    return 0


def _check_output(output, overwrite: bool) -> None:
    """Refuse an output that cannot be written before any work is done (the writers check again)."""
    from pathlib import Path

    from ..errors import InputError

    out = Path(output)
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists (use --overwrite)")


def _cmd_simulate(args) -> int:
    from ..io.events import write_events
    from ..simulation import SimulationConfig, simulate

    _check_output(args.output, args.overwrite)  # before simulating anything
    cfg = SimulationConfig(
        detector=args.detector, sample=args.sample, drift_window=args.drift_window, pooling=args.pooling,
        cosmics=args.cosmics, particle=args.particle, energy_mev=args.energy_mev, beam=args.beam,
    )
    errors: list[str] = []
    records = simulate(events=args.events, seed=args.seed, jobs=args.jobs, first_event=args.first_event, config=cfg,
                       errors=errors)
    with _progress(records, total=args.events, desc="simulating", unit="event", disable=not _bars_shown(args)) as bar:
        n = write_events(bar, args.output, detector=args.detector, drift_window=args.drift_window,
                         pooling=args.pooling, overwrite=args.overwrite)
    for line in errors:
        _stderr(f"skipped {line}")
    print(f"simulated {n} {args.sample} events ({args.detector}, seed {args.seed}) into {args.output}"
          + (f"; skipped {len(errors)} that failed" if errors else ""))
    return 0


def _cmd_train(args) -> int:
    from ..training import config_from_toml, train

    config = config_from_toml(args.config, args.set or [])
    _tensorflow(args.debug)
    train(config, args.output, verbose=0 if args.quiet else 1)
    print(f"trained; models in {args.output} (last.keras, best.keras, final.keras), logs in {args.output}/logs")
    return 0


def _train_network(args, config_class, train_fn, name: str, beside: str) -> int:
    """``train-refiner`` and ``train-proposer``: the run configuration from ``--config`` and
    ``--set``, the run, and where its network is."""
    config = config_class.from_toml(args.config, args.set or [])
    _tensorflow(args.debug)
    train_fn(config, args.output, verbose=0 if args.quiet else 1)
    print(f"trained; the {name} is {args.output}/{name}.keras with {args.output}/{name}.json; put both beside "
          f"{beside} for the finder to use them")
    return 0


def _cmd_train_refiner(args) -> int:
    from ..model import RefineConfig
    from ..training import train_refiner

    return _train_network(args, RefineConfig, train_refiner, "refiner", "a walker (its .keras and config.json)")


def _cmd_train_proposer(args) -> int:
    from ..model import ProposerConfig
    from ..training import train_proposer

    return _train_network(args, ProposerConfig, train_proposer, "proposer", "a walker")


def _cmd_train_scorer(args) -> int:
    import itertools

    from ..errors import InputError
    from ..model import parse_overrides
    from ..training.score import (collect_matches, fit_scorer, fit_vertex_scorer, recording_config, scorer_output,
                                  scoring_finder)

    if args.vertices and args.surface:
        raise InputError("--vertices and --surface: one score at a time")
    name = "vertex_scorer.json" if args.vertices else "scorer_surface.json" if args.surface else "scorer.json"
    output = scorer_output(args.model, args.output, radius_cm=args.radius, name=name)
    _check_output(output, True)
    options = parse_overrides(args.set or [])
    config = recording_config(options, vertices=args.vertices)
    _tensorflow(args.debug)
    finder = scoring_finder(args.model, config)
    events = itertools.chain.from_iterable(_stores(args))
    if args.vertices:
        rows = collect_matches(finder, events, progress=_bars_shown(args))
        result = fit_vertex_scorer(rows, radius_cm=args.radius, finder_options=options)
    else:
        result = fit_scorer(finder, events, radius_cm=args.radius, finder_options=options, progress=_bars_shown(args))
    print(result.summary())
    result.scorer.write(output)
    print(f"{'vertex' if args.vertices else 'candidate'} scorer -> {output}")
    return 0


def _cmd_train_tagger(args) -> int:
    from ..model import parse_overrides, resolve_model
    from ..training.score import recording_config, scoring_finder
    from ..training.tagger import TaggerExamples, collect_examples, fit_tagger, write_tagger

    output = Path(args.output) if args.output else resolve_model(args.model)[0].parent / "tagger.keras"
    _check_output(output, True)
    options = parse_overrides(args.set or [])
    _tensorflow(args.debug)
    finder = scoring_finder(args.model, recording_config(options))
    finder.tagger = None  # examples of the candidates as they are without one
    examples = TaggerExamples.join([collect_examples(finder, events, radius_cm=args.radius, progress=_bars_shown(args))
                                    for events in _stores(args)])
    model, history = fit_tagger(examples, epochs=args.epochs, seed=args.seed, verbose=2 if _bars_shown(args) else 0)
    about = {"stores": [str(p) for p in args.store], "events_per_store": args.events, "finder_options": options,
             "examples": len(examples), "neutrino_examples": int(examples.labels.sum()), "radius_cm": args.radius,
             "epochs": args.epochs, "seed": args.seed}
    write_tagger(model, history, output, about=about)
    best = int(np.argmin(history["val_loss"]))
    print(f"{len(examples)} examples ({int(examples.labels.sum())} at the neutrino vertex); best epoch {best + 1}: "
          f"validation loss {history['val_loss'][best]:.4f}, AUC {history['val_auc'][best]:.4f}")
    print(f"neutrino tagger -> {output}")
    return 0


def _cmd_convert(args) -> int:
    from ..io.events import convert

    _check_output(args.output, args.overwrite)  # the command line's words (the API says overwrite=True)
    summary = convert(
        args.inputs, args.output, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
        overwrite=args.overwrite, progress=_bars_shown(args), report=_stderr,
    )
    print(f"converted {summary['converted']} events into {summary['store']}; skipped {summary['skipped']}")
    return 0


def _load_finder(args, backend: str | None = None):
    from ..errors import InputError
    from ..finder import FinderConfig, VertexFinder
    from ..model import parse_overrides, resolve_model

    try:
        config = FinderConfig(**parse_overrides(getattr(args, "set", None) or []))
    except (TypeError, ValueError) as exc:
        raise InputError(f"--set: not FinderConfig options ({exc})") from None
    return VertexFinder.load(args.model, config, backend=_backend(args, backend))


def _backend(args, backend: str | None = None) -> str:
    """The backend of a command's finder (``backend``, else ``--backend``; auto:
    :func:`vertexfinder.finder.default_backend`); TensorFlow is imported (quietly) for Keras, after
    a missing model has failed."""
    from ..finder import default_backend
    from ..model import resolve_model
    from ..model.onnx import onnx_folder

    backend = backend or getattr(args, "backend", "auto")
    if backend == "auto":
        backend = default_backend(args.model)
    if backend == "keras":
        resolve_model(args.model)  # a missing model fails before TensorFlow is imported
        _tensorflow(args.debug)
    else:
        onnx_folder(args.model)
    return backend


def _events(args, path, report=_stderr):
    from ..io.events import read_events

    return read_events(path, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
                       report=report, source=getattr(args, "source", None))


def _stores(args) -> list:
    """The events of each of ``args.store`` (the first ``args.events`` of each when given), read lazily."""
    import itertools

    stores = [_events(args, path) for path in args.store]
    return [itertools.islice(events, args.events) for events in stores] if args.events else stores


def _cmd_find(args) -> int:
    from ..errors import InputError
    from ..io.results import results_writer, vertex_rows

    _check_output(args.output, True)
    finder = _load_finder(args)
    skipped: list[str] = []

    def skip(ev, exc):
        skipped.append(f"skipped {args.input} run {ev.run} subrun {ev.subrun} event {ev.event}: {exc}")

    n = rows = 0
    slice_of: dict = {}
    whole = [0]

    def per_slice(events):  # each event once per slice of its slice maps, the charge outside set to zero
        from ..slices import slice_ids

        for ev in events:
            ids = slice_ids(ev)
            whole[0] += not ids
            for s in ids or [-1]:
                part = ev if s < 0 else finder.restrict(ev, s)
                slice_of[id(part)] = s
                yield part

    with results_writer(args.output) as add:  # rows written as they are found: memory does not grow with events
        with _progress(_events(args, args.input, report=skipped.append), desc="finding", unit="event",
                       disable=not _bars_shown(args)) as events:
            for ev, res in finder.find_iter(per_slice(events) if args.per_slice else events, mode=args.mode,
                                            on_skip=skip):
                found = vertex_rows(ev, res.vertices, slice_of.pop(id(ev), -1))
                add(found)
                rows += len(found)
                n += 1
        for msg in skipped:
            _stderr(msg)
        n_skipped = sum(msg.startswith("skipped ") for msg in skipped)  # not "cropped ...", "truth dropped ..."
        if n == 0:
            raise InputError(f"{args.input}: no event could be read ({n_skipped} skipped); nothing written")
    if whole[0]:
        _stderr(f"--per-slice: {whole[0]} events have no slice maps (hit inputs need a 'slice' column); each was "
                "found whole (slice -1)")
    what = "slices" if args.per_slice else "events"
    print(f"found vertices in {n} {what} ({rows} rows) -> {args.output}" + (f"; skipped {n_skipped}" if n_skipped else ""))
    return 0


def _cmd_evaluate(args) -> int:
    import itertools

    from ..evaluation import evaluate, format_report, parse_variation, vary_event
    from ..io.atomic import atomic_output

    variation = parse_variation(args.variation or "")
    if args.json:
        _check_output(args.json, True)
    def run(backend, found=None):
        finder = _load_finder(args, backend)
        events = _events(args, args.store)
        if args.events:
            events = itertools.islice(events, args.events)
        if variation:
            events = (vary_event(ev, variation) for ev in events)
        metrics = evaluate(finder, events, progress=_bars_shown(args), per_slice=args.per_slice, mode=args.mode,
                           positions=found)
        metrics.update(model=str(args.model or "default"), input=str(args.store), variation=variation,
                       backend=finder.backend)
        return metrics

    if args.backend != "both":
        metrics = run(None)
        print(format_report(metrics))
    else:  # the same events through each backend, and how often they agree
        from ..evaluation import agreement

        found = {"onnxruntime": [], "keras": []}
        metrics = {"backends": {name: run(name, found[name]) for name in found},
                   "agreement": agreement(found["onnxruntime"], found["keras"])}
        for name, m in metrics["backends"].items():
            print(f"== backend {name}\n{format_report(m)}\n")
        a = metrics["agreement"]
        print(f"backends agree (within {a['tolerance_cm']:g} cm) on the primary vertex of {a['same_primary']:.2%} "
              f"and on every vertex of {a['same_vertices']:.2%} of {a['events']} events; the primary vertices "
              f"differ by at most {a['max_primary_cm']:.2g} cm")
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    return 0


def _cmd_export(args) -> int:
    from ..export import export

    _check_output(args.output, args.overwrite)
    finder = _load_finder(args, "keras")
    out = export(finder, args.output, args.format, overwrite=args.overwrite)
    what = {"savedmodel": "the walker step as a TensorFlow SavedModel",
            "onnx": "the networks as ONNX models (load them with --backend onnxruntime)",
            "triton": "the networks as a Triton model repository"}[args.format]
    print(f"exported {what} -> {out}")
    return 0


def _cmd_show(args) -> int:
    import itertools

    from ..demo import show_event
    from ..errors import InputError

    _check_output(args.output, True)
    finder = _load_finder(args)
    event = next(itertools.islice(_events(args, args.input), args.event, None), None)
    if event is None:
        raise InputError(f"{args.input}: no event {args.event}")
    res = show_event(finder, event, args.output, mode=args.mode)
    print(f"event {event.event}: {len(res.vertices)} vertices found -> {args.output}")
    return 0


def _cmd_demo(args) -> int:
    from ..demo import demo

    demo(events=args.events, seed=args.seed, output=args.output, model=args.model, backend=_backend(args))
    return 0
