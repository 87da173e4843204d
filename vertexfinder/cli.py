"""The ``vertexfinder`` command line: the parser, the commands, and error reporting.

Each command parses its arguments and calls functions the Python API exposes too
(:mod:`vertexfinder.io.events`, :mod:`vertexfinder.results`, :mod:`vertexfinder.demo`, ...).
Bad events are skipped and reported on stderr. A failing command prints one line on stderr
naming the file and the problem and exits non-zero (``--debug`` shows the traceback); the start-up
chatter of TensorFlow's native libraries is kept off stderr (``--debug`` shows it too). Progress
bars are drawn on terminals only.

Run as the program (arguments from the command line), a Ctrl-C ends the process within
``INTERRUPT_GRACE_S`` seconds even when it arrives while TensorFlow or an exit handler holds the
main thread; a second Ctrl-C ends it at once. Outputs are written atomically, so whatever the
moment, an output is complete or absent, and ``train`` resumes where its backup stands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading

from .detectors import DEFAULT_DETECTOR
from .records import DEFAULT_DRIFT_WINDOW, DRIFT_POOLINGS
from .text import one_line

__all__ = ["main", "build_parser"]

#: Seconds a process run from the command line may take to end after a Ctrl-C.
INTERRUPT_GRACE_S = 5.0
#: Longest error message printed (the rest is cut).
_MAX_MESSAGE = 1000


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _bars_shown(args) -> bool:
    """Progress bars only on a terminal (in a log a bar is a line of carriage returns)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


@contextlib.contextmanager
def _progress(iterable, **options):
    """A tqdm bar over ``iterable`` that is erased, not left behind, when the command fails."""
    from tqdm import tqdm

    bar = tqdm(iterable, **options)
    try:
        yield bar
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null (what native libraries write goes nowhere), then back."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _quiet_environment(debug: bool) -> None:
    """Ask TensorFlow for errors only, before anything imports it (a user's own setting is kept)."""
    if not debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tensorflow(debug: bool) -> None:
    """Import TensorFlow and Keras without their start-up lines on stderr (absl's, oneDNN's, CUDA's:
    4-6 lines even with TF_CPP_MIN_LOG_LEVEL=3), and keep their Python loggers to fatal errors; the
    commands' own errors say what failed. ``debug``: import them as they are."""
    if debug:
        return
    if "tensorflow" not in sys.modules:
        with _native_stderr_silenced():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    import logging

    logging.getLogger("tensorflow").setLevel(logging.CRITICAL)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.FATAL)


class _InterruptDeadline:
    """After a Ctrl-C (SIGINT), end the process within ``grace`` seconds whatever the main thread does.

    Python turns SIGINT into KeyboardInterrupt only when the main thread next runs Python code: a
    ``train`` whose batches come from the simulation sits in one TensorFlow call, waiting for data,
    for minutes after a Ctrl-C. The C-level signal handler writes the signal number to a wakeup
    socket at once; a watcher thread reading it gives the normal path (KeyboardInterrupt, cleanup,
    exit) ``grace`` seconds, then ends the process with status 130; a second Ctrl-C (a second or
    more after the first) ends it at once. ``faulthandler`` backs the watcher up for the last phase
    of the interpreter's exit, where Python threads no longer run. Every output is written
    atomically and a run's backup is committed atomically, so ending this way leaves what a kill
    leaves: outputs complete or absent, a run that resumes.
    """

    def __init__(self, grace: float):
        import signal
        import socket

        self.grace = grace
        self._read, self._write = socket.socketpair()  # kept open for the life of the process
        self._write.setblocking(False)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._null = None
        self.reported = False  # main() has said "interrupted" already
        threading.Thread(target=self._watch, name="vertexfinder-interrupt-deadline", daemon=True).start()

    def _watch(self) -> None:
        import faulthandler
        import signal
        import time

        first = deadline = None
        while True:
            self._read.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
            try:
                data = self._read.recv(64)
            except TimeoutError:
                self._exit()  # the grace is over
            except OSError:
                return
            if int(signal.SIGINT) not in data:
                continue
            now = time.monotonic()
            if first is None:
                first, deadline = now, now + self.grace
                self._null = open(os.devnull, "w")  # noqa: SIM115 - kept open for faulthandler
                faulthandler.dump_traceback_later(self.grace + 2.0, exit=True, file=self._null)
            elif now - first >= 1.0:
                self._exit()  # a second Ctrl-C

    def _exit(self) -> None:
        if not self.reported:
            os.write(2, b"vertexfinder: interrupted\n")
        os._exit(130)


def _cmd_detectors(args) -> int:
    from .detectors import get_detector, list_detectors

    names = list_detectors()
    if not args.details:
        print("\n".join(names))
        return 0
    from .mapper import ImageMapper

    header = f"{'detector':<16} {'TPCs':>4} {'channels':>8}  global image per view at drift window {args.drift_window}"
    print(header)
    for name in names:
        det = get_detector(name)
        m = ImageMapper(det, drift_window=args.drift_window)
        shapes = "  ".join(f"{v} {m.shape(v)[0]}x{m.shape(v)[1]}" for v in m.views)
        print(f"{name:<16} {len(det.tpcs):>4} {det.n_channels:>8}  {shapes}")
    return 0


def _cmd_info(args) -> int:
    from .store import EventStore

    with EventStore.open(args.store) as store:
        info = store.info()
        if args.verify:
            store.verify()
            info["verified"] = True
    print(json.dumps(info, indent=2, default=str))
    return 0


def _parse_energy(text: str):
    try:
        if ":" in text:
            lo, hi = (float(v) for v in text.split(":"))
            if not 0 < lo <= hi:
                raise ValueError
            return (lo, hi)
        value = float(text)
        if value <= 0:
            raise ValueError
        return (value, value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a kinetic energy in MeV (500) or a range (100:1000); Received: {text!r}") from None


def _check_output(output, overwrite: bool) -> None:
    """Refuse an output that cannot be written before any work is done (the writers check again)."""
    from pathlib import Path

    from .errors import InputError

    out = Path(output)
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists (use --overwrite)")


def _cmd_simulate(args) -> int:
    from .io.events import write_events
    from .simulation import SimulationConfig, simulate

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
    from .training import config_from_toml, train

    config = config_from_toml(args.config, args.set or [])
    _tensorflow(args.debug)
    train(config, args.output, verbose=0 if args.quiet else 1)
    print(f"trained; models in {args.output} (last.keras, best.keras, final.keras), logs in {args.output}/logs")
    return 0


def _cmd_train_refiner(args) -> int:
    from .refining import RefineConfig, train_refiner

    config = RefineConfig.from_toml(args.config, args.set or [])
    _tensorflow(args.debug)
    train_refiner(config, args.output, verbose=0 if args.quiet else 1)
    print(f"trained; the refiner is {args.output}/refiner.keras with {args.output}/refiner.json; put both beside a "
          "walker (its .keras and config.json) for the finder to use them")
    return 0


def _cmd_convert(args) -> int:
    from .io.events import convert

    summary = convert(
        args.inputs, args.output, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
        overwrite=args.overwrite, progress=_bars_shown(args), report=_stderr,
    )
    print(f"converted {summary['converted']} events into {summary['store']}; skipped {summary['skipped']}")
    return 0


def _load_finder(args):
    from .finder import VertexFinder
    from .modelconfig import resolve_model

    resolve_model(args.model)  # a missing model fails before TensorFlow is imported
    _tensorflow(args.debug)
    return VertexFinder.load(args.model)


def _events(args, path, report=_stderr):
    from .io.events import read_events

    return read_events(path, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
                       report=report)


def _cmd_find(args) -> int:
    from .errors import InputError
    from .results import vertex_rows, write_rows

    _check_output(args.output, True)
    finder = _load_finder(args)
    skipped: list[str] = []

    def skip(ev, exc):
        skipped.append(f"skipped {args.input} run {ev.run} subrun {ev.subrun} event {ev.event}: {exc}")

    rows, n = [], 0
    with _progress(_events(args, args.input, report=skipped.append), desc="finding", unit="event",
                   disable=not _bars_shown(args)) as events:
        for ev, res in finder.find_iter(events, mode=args.mode, on_skip=skip):
            rows.extend(vertex_rows(ev, res.vertices))
            n += 1
    for msg in skipped:
        _stderr(msg)
    if n == 0:
        raise InputError(f"{args.input}: no event could be read ({len(skipped)} skipped); nothing written")
    write_rows(rows, args.output)
    print(f"found vertices in {n} events ({len(rows)} rows) -> {args.output}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0


def _cmd_evaluate(args) -> int:
    import itertools

    from .evaluation import evaluate, format_report, parse_variation, vary_event
    from .io.atomic import atomic_output

    variation = parse_variation(args.variation or "")
    if args.json:
        _check_output(args.json, True)
    finder = _load_finder(args)
    events = _events(args, args.store)
    if args.events:
        events = itertools.islice(events, args.events)
    if variation:
        events = (vary_event(ev, variation) for ev in events)
    metrics = evaluate(finder, events, progress=_bars_shown(args))
    metrics["model"] = str(args.model or "default")
    metrics["input"] = str(args.store)
    metrics["variation"] = variation
    print(format_report(metrics))
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    return 0


def _cmd_train_scorer(args) -> int:
    import dataclasses
    import itertools
    from pathlib import Path

    import numpy as np

    from .errors import InputError, RunError
    from .finder import FinderConfig, VertexFinder
    from .modelconfig import resolve_model
    from .scoring import collect, fit, hand_set_score, top_choice
    from .training import parse_overrides

    if not args.radius > 0:
        raise InputError(f"--radius must be a positive distance in cm; Received: {args.radius}")
    output = Path(args.output) if args.output else resolve_model(args.model)[0].parent / "scorer.json"
    _check_output(output, True)
    options = parse_overrides(args.set or [])
    try:
        config = FinderConfig(**{**options, "use_scorer": False})
    except (TypeError, ValueError) as exc:
        raise InputError(f"--set: not FinderConfig options ({exc})") from None
    if not (config.refine and config.refine_3d):
        raise InputError("--set: the candidates are recorded at the second look; refine and refine_3d must stay on")
    _tensorflow(args.debug)
    finder = VertexFinder.load(args.model, config)
    if finder.refiner is None:
        raise RunError(f"{args.model or 'the bundled model'}: a candidate scorer needs a model with a refiner")
    events = _events(args, args.store)
    if args.events:
        events = itertools.islice(events, args.events)
    rows = collect(finder, events, progress=_bars_shown(args))
    scorer = dataclasses.replace(fit(rows, radius_cm=args.radius), finder_options=options)
    hand = top_choice(rows, hand_set_score(finder.config))
    learned = top_choice(rows, scorer)
    print(f"{len(rows)} events, {sum(len(x) for x, _ in rows)} candidates; best candidate within "
          f"{args.radius:g} cm: hand-set score {np.mean(hand <= args.radius):.3f}, learned {np.mean(learned <= args.radius):.3f}")
    scorer.write(output)
    print(f"candidate scorer -> {output}")
    return 0


def _cmd_export(args) -> int:
    from .export import export_savedmodel

    _check_output(args.output, args.overwrite)
    out = export_savedmodel(_load_finder(args), args.output, overwrite=args.overwrite)
    print(f"exported the walker step as a TensorFlow SavedModel -> {out}")
    return 0


def _cmd_show(args) -> int:
    import itertools

    from .demo import show_event
    from .errors import InputError

    _check_output(args.output, True)
    finder = _load_finder(args)
    event = next(itertools.islice(_events(args, args.input), args.event, None), None)
    if event is None:
        raise InputError(f"{args.input}: no event {args.event}")
    res = show_event(finder, event, args.output, mode=args.mode)
    print(f"event {event.event}: {len(res.vertices)} vertices found -> {args.output}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import demo

    _tensorflow(args.debug)
    demo(events=args.events, seed=args.seed, output=args.output, model=args.model)
    return 0


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; Received: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}; Received: {value}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


_positive = _int_at_least(1, "a positive integer")
_count = _int_at_least(0, "an integer >= 0")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .results import FIND_COLUMNS

    parser = argparse.ArgumentParser(
        prog="vertexfinder",
        description="Recurrent multi-resolution vertex finder for liquid-argon TPCs.",
    )
    parser.add_argument("--version", action="version", version=f"vertexfinder {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("detectors", help="list the built-in detectors")
    p.add_argument("--details", action="store_true", help="also print TPCs, channels and global image sizes")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel for --details (default {DEFAULT_DRIFT_WINDOW})")
    p.set_defaults(func=_cmd_detectors)

    p = sub.add_parser("info", help="print a JSON summary of an event store")
    p.add_argument("store", help="event store directory")
    p.add_argument("--verify", action="store_true", help="also check every checksum (reads all pixel data)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "convert", help="convert ROOT dumps (historical layout) into an event store",
        description="Convert ROOT dumps into an event store. Malformed events are skipped and reported; "
        "the store is written under a temporary name and appears only when complete.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN.root", help="ROOT dump files")
    p.add_argument("-o", "--output", required=True, metavar="STORE", help="event store to write")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, help="built-in detector name or description file "
                   f"(default {DEFAULT_DETECTOR}, what the historical dumps were made with)")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel of the dumps (default {DEFAULT_DRIFT_WINDOW})")
    p.add_argument("--pooling", default="max", choices=DRIFT_POOLINGS,
                   help="drift pooling the dumps were made with (recorded in the store)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_convert)

    from .simulation.samples import SAMPLES

    p = sub.add_parser(
        "simulate", help="simulate events (neutrinos, cosmics, particle guns) into an event store or a ROOT dump",
        description="Simulate LArTPC events. OUT ending in .root writes the historical dump layout; anything "
        "else writes an event store. The same seed gives the same events whatever --jobs is.",
    )
    p.add_argument("--detector", default=DEFAULT_DETECTOR, help="built-in detector name or description file")
    p.add_argument("--sample", default="nu-mix", choices=SAMPLES, help="what to simulate (default nu-mix)")
    p.add_argument("--events", type=_positive, default=10, help="number of events (default 10)")
    p.add_argument("--seed", type=_count, default=0, help="random seed (default 0)")
    p.add_argument("--first-event", type=_count, default=0, help="number of the first event (default 0)")
    p.add_argument("--jobs", type=_positive, default=1, help="worker processes (default 1)")
    p.add_argument("--cosmics", type=_count, default=0, help="cosmic muons added to every event (default 0)")
    p.add_argument("--particle", default="mu-", help="gun particle: mu-, mu+, e-, e+, gamma, proton, pi+, pi-, pi0, ...")
    p.add_argument("--energy-mev", type=_parse_energy, default=(100.0, 1000.0),
                   help="gun kinetic energy in MeV: a value or a range lo:hi (default 100:1000)")
    p.add_argument("--beam", default="dune", choices=["dune", "booster"], help="neutrino spectrum (default dune)")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel (default {DEFAULT_DRIFT_WINDOW})")
    p.add_argument("--pooling", default="max", choices=DRIFT_POOLINGS, help="drift pooling")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="event store, or a .root file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    def add_run_options(p, config_help, output_help):
        p.add_argument("--config", metavar="CONFIG.toml", help=config_help)
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override one option (TOML value), repeatable")
        p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help=output_help)
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "train", help="train the walker on batches generated on the fly (resumes a killed run)",
        description="Train the recurrent walker. Batches are generated on the fly from an event store "
        "(store = PATH) or from the simulation. Running the same command again with the same RUN_DIR resumes "
        "a run that was stopped. Options are the fields of vertexfinder.training.TrainConfig.",
    )
    add_run_options(p, "training configuration (TOML)", "run folder (checkpoints, logs)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "train-refiner", help="train the refiner, the finder's last full-resolution look at each candidate",
        description="Train the refiner on points drawn around the true vertices of an event store (store = PATH) "
        "or of the simulation. Running the same command again resumes a stopped run. Options are the fields of "
        "vertexfinder.refining.RefineConfig.",
    )
    add_run_options(p, "refiner configuration (TOML)", "run folder (checkpoints, history)")
    p.set_defaults(func=_cmd_train_refiner)

    p = sub.add_parser(
        "train-scorer", help="learn the candidate score that picks the primary vertex among the 3D candidates",
        description="Run the finder on events with truth, record every 3D candidate its primary match tries, and fit "
        "the linear score (vertexfinder.scoring) that puts the best-scored candidate of an event within RADIUS of "
        "the true vertex. Writes scorer.json beside the model (or OUT).",
    )
    p.add_argument("store", help="event store or ROOT dump with truth (events the walker was not trained on)")
    p.add_argument("--model", default=None, metavar="PATH", help="model folder (default: the bundled model)")
    p.add_argument("--events", type=_count, default=0, help="only the first N events (default 0: all)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a FinderConfig option of the finder whose "
                   "candidates are recorded (TOML value), repeatable")
    p.add_argument("--radius", type=float, default=2.0, help="a right candidate is this close, cm (default 2)")
    p.add_argument("-o", "--output", default=None, metavar="OUT.json", help="scorer file (default: scorer.json "
                   "beside the model)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train_scorer, detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max")

    def add_input_options(p):
        p.add_argument("--detector", default=DEFAULT_DETECTOR, help="detector of ROOT dumps, frames and hits "
                       f"(built-in name or description file; default {DEFAULT_DETECTOR})")
        p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                       help=f"ticks per drift pixel of dumps, frames, hits (default {DEFAULT_DRIFT_WINDOW})")
        p.add_argument("--pooling", default="max", choices=DRIFT_POOLINGS, help="drift pooling")
        p.add_argument("--model", default=None, metavar="PATH", help="model file or folder (default: the bundled model)")

    p = sub.add_parser(
        "find", help="find vertices in an event store, a ROOT dump, or a .npz of frames or hits",
        description="Find vertices. OUT ending in .root gets a TTree 'vertices'; anything else gets CSV with the "
        f"columns {', '.join(FIND_COLUMNS)} (one row per vertex and plane). Bad events are skipped and reported.",
    )
    p.add_argument("input", help="event store, .root dump, or .npz (frame + channels, or channel + peak_tick + integral)")
    p.add_argument("--mode", default="primary", choices=["primary", "all"], help="the neutrino vertex, or every vertex")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv or .root")
    add_input_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_find)

    p = sub.add_parser("evaluate", help="score the finder on events with truth (primary vertex, classes, speed)")
    p.add_argument("store", help="event store or ROOT dump with truth")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument("--events", type=_count, default=0, help="only the first N events (default 0: all)")
    p.add_argument("--variation", metavar="NAME=VALUE,...", help="see the events with another detector response: "
                   "gain=F (charge x F), smear=PX (Gaussian, wire and drift), noise=RMS (bytes), threshold=BYTES, "
                   "dead=FRACTION (wires)")
    add_input_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="export the model for the C++ framework (TensorFlow SavedModel)")
    p.add_argument("output", metavar="OUT", help="SavedModel folder to write")
    p.add_argument("--format", default="savedmodel", choices=["savedmodel"], help="export format")
    p.add_argument("--model", default=None, metavar="PATH", help="model file or folder (default: the bundled model)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("show", help="draw an event with truth, found vertices and walks (PNG)")
    p.add_argument("input", help="event store, .root dump, or .npz of frames or hits")
    p.add_argument("--event", type=_count, default=0, help="index of the event in the input (default 0)")
    p.add_argument("--mode", default="all", choices=["primary", "all"], help="finder mode (default all)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="picture to write")
    add_input_options(p)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("demo", help="simulate a few DUNE events, find their vertices, print a table, draw one")
    p.add_argument("--events", type=_positive, default=5, help="events to simulate (default 5)")
    p.add_argument("--seed", type=_count, default=2026, help="simulation seed (default 2026)")
    p.add_argument("-o", "--output", default="vertexfinder-demo.png", help="picture (default vertexfinder-demo.png)")
    p.add_argument("--model", default=None, metavar="PATH", help="model file or folder (default: the bundled model)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; returns the exit status (0, 1 on an error, 130 when interrupted).

    ``argv`` None: the program itself (the process's own arguments). Then a Ctrl-C ends the process
    at once once the command has cleaned up, and within ``INTERRUPT_GRACE_S`` seconds whatever the
    main thread does (see :class:`_InterruptDeadline`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_environment(args.debug)
    deadline = None
    if argv is None and threading.current_thread() is threading.main_thread():
        deadline = _InterruptDeadline(INTERRUPT_GRACE_S)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        hint = "; run the same command again to resume" if args.command == "train" else ""
        print(f"vertexfinder: interrupted{hint}", file=sys.stderr)
        if deadline is not None:
            # The program ends here: the cleanup has run (finally blocks, atomic outputs), and the
            # interpreter's own shutdown, with TensorFlow's data threads still running, can hang or crash.
            deadline.reported = True
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    except Exception as exc:  # the one place errors become a one-line message
        if args.debug:
            raise
        from .errors import VertexFinderError

        if isinstance(exc, (VertexFinderError, OSError, ValueError, KeyError)):
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            print(f"vertexfinder {args.command}: error: {one_line(msg, _MAX_MESSAGE)}", file=sys.stderr)
            return 1
        print(f"vertexfinder {args.command}: internal error: {type(exc).__name__}: {one_line(exc, _MAX_MESSAGE)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if deadline is not None:
            # The command is over: a Ctrl-C during the interpreter's exit (where Python puts back the
            # default handler, and TensorFlow's teardown takes a second or two) would turn a finished
            # command into a death by SIGINT.
            import signal

            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
