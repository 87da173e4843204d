"""The ``vertexfinder`` command line.

Thin by design: each command parses its arguments and calls plain functions
that the Python API exposes too. A failing command prints one line on stderr
naming the file and the problem and exits non-zero (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["main"]


class CommandError(Exception):
    """A command that cannot go on; its message is the one line the user sees."""


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


def convert(inputs, output, *, detector="dune-fd-1x2x6", drift_window=6, pooling="max", overwrite=False,
            progress=True, report=None) -> dict:
    """Convert ROOT dumps into an event store; bad events are skipped and reported.

    Returns a summary dict (converted, skipped, errors). The store appears at ``output`` only
    when the conversion finished (it is built under a temporary name, then renamed).
    """
    from tqdm import tqdm

    from .detectors import get_detector
    from .io.root import read_dump
    from .mapper import ImageMapper
    from .store import EventStore

    det = get_detector(detector)
    mapper = ImageMapper(det, drift_window=drift_window, pooling=pooling)
    report = report or (lambda msg: print(msg, file=sys.stderr))
    converted, errors = 0, []
    for path in inputs:
        if not Path(path).is_file():
            raise CommandError(f"{path}: no such file")

    class _NothingConverted(Exception):
        pass

    try:
        with EventStore.create(
            output, detector=det.name, views=list(det.views), drift_window=drift_window, pooling=pooling,
            pixel_cm=None, detector_description=det.spec.to_dict(), overwrite=overwrite,
        ) as writer:
            bar = tqdm(desc="converting", unit="event", disable=not progress)
            for path in inputs:
                for entry in read_dump(path, mapper=mapper, detector_name=det.name):
                    if entry.record is None:
                        msg = f"skipped {path} run {entry.run} subrun {entry.subrun} event {entry.event}: {entry.error}"
                        errors.append(msg)
                        report(msg)
                    else:
                        writer.append(entry.record)
                        converted += 1
                    bar.update(1)
            bar.close()
            if converted == 0:
                raise _NothingConverted
    except _NothingConverted:
        raise CommandError(f"{', '.join(map(str, inputs))}: no event could be converted ({len(errors)} skipped); no store written") from None
    return {"converted": converted, "skipped": len(errors), "errors": errors, "store": str(output)}


def write_events(records, output, *, detector, drift_window, pooling, total=None, overwrite=False,
                 progress=True, desc="writing") -> int:
    """Write EventRecords to ``output``: a ROOT dump if it ends in ``.root``, else an event store.

    Either way the output appears only when complete (temporary name, then rename).
    """
    from tqdm import tqdm

    from .detectors import get_detector

    det = get_detector(detector)
    bar = tqdm(records, total=total, desc=desc, unit="event", disable=not progress)
    if str(output).endswith(".root"):
        from .io.root import write_dump
        from .mapper import ImageMapper

        if Path(output).exists() and not overwrite:
            raise CommandError(f"{output}: exists (use --overwrite)")
        return write_dump(output, bar, mapper=ImageMapper(det, drift_window=drift_window, pooling=pooling))
    from .store import EventStore

    n = 0
    with EventStore.create(
        output, detector=det.name, views=list(det.views), drift_window=drift_window, pooling=pooling, pixel_cm=None,
        detector_description=det.spec.to_dict(), overwrite=overwrite,
    ) as writer:
        for rec in bar:
            writer.append(rec)
            n += 1
    return n


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


def _cmd_simulate(args) -> int:
    from .simulation import SimulationConfig, simulate

    cfg = SimulationConfig(
        detector=args.detector, sample=args.sample, drift_window=args.drift_window, pooling=args.pooling,
        cosmics=args.cosmics, particle=args.particle, energy_mev=args.energy_mev, beam=args.beam,
    )
    errors: list[str] = []
    records = simulate(events=args.events, seed=args.seed, jobs=args.jobs, first_event=args.first_event, config=cfg,
                       errors=errors)
    n = write_events(records, args.output, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
                     total=args.events, overwrite=args.overwrite, progress=not args.quiet, desc="simulating")
    for line in errors:
        print(f"skipped {line}", file=sys.stderr)
    print(f"simulated {n} {args.sample} events ({args.detector}, seed {args.seed}) into {args.output}"
          + (f"; skipped {len(errors)} that failed" if errors else ""))
    return 0


def _cmd_train(args) -> int:
    from .training import config_from_toml, train

    config = config_from_toml(args.config, args.set or [])
    train(config, args.output, verbose=0 if args.quiet else 1)
    print(f"trained; models in {args.output} (last.keras, best.keras, final.keras), logs in {args.output}/logs")
    return 0


def _cmd_convert(args) -> int:
    summary = convert(
        args.inputs, args.output, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
        overwrite=args.overwrite, progress=not args.quiet,
    )
    print(f"converted {summary['converted']} events into {summary['store']}; skipped {summary['skipped']}")
    return 0


# -- finding vertices -------------------------------------------------------------------------------
FIND_COLUMNS = ("run", "subrun", "event", "vertex", "kind", "score", "primary", "plane", "tpc", "wire", "channel",
                "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm", "residual_cm")


def read_events(path, *, detector="dune-fd-1x2x6", drift_window=6, pooling="max", report=None):
    """EventRecords from an event store, a ROOT dump, or a ``.npz`` file of frames or hits.

    A ``.npz`` holds either ``frame`` (channels, samples), ``channels`` and optionally ``tick_us``
    and ``start_tick`` (a channel-indexed frame), or ``channel``, ``peak_tick``, ``integral`` and
    optionally ``width_ticks`` (a hit list); optional ``run``, ``subrun``, ``event`` name it. Bad
    events of a dump are skipped and passed to ``report``.
    """
    from .mapper import ImageMapper

    p = Path(path)
    report = report or (lambda msg: print(msg, file=sys.stderr))
    if p.is_dir():
        from .store import EventStore

        store = EventStore.open(p)
        for i in range(len(store)):
            yield store[i]
    elif p.suffix == ".root":
        from .io.root import read_dump

        mapper = ImageMapper(detector, drift_window=drift_window, pooling=pooling)
        for entry in read_dump(p, mapper=mapper):
            if entry.record is None:
                report(f"skipped {p} run {entry.run} subrun {entry.subrun} event {entry.event}: {entry.error}")
            else:
                yield entry.record
    elif p.suffix == ".npz":
        import numpy as np

        from .inputs import event_from_frame, event_from_hits

        if not p.is_file():
            raise CommandError(f"{p}: no such file")
        with np.load(p) as z:
            data = {k: z[k] for k in z.files}
        ids = {k: int(data[k]) for k in ("run", "subrun", "event") if k in data}
        opts = dict(detector=detector, drift_window=drift_window, pooling=pooling, **ids)
        if "frame" in data and "channels" in data:
            yield event_from_frame(data["frame"], data["channels"], tick_us=float(data["tick_us"]) if "tick_us" in data else None,
                                   start_tick=int(data.get("start_tick", 0)), **opts)
        elif {"channel", "peak_tick", "integral"} <= set(data):
            yield event_from_hits(data["channel"], data["peak_tick"], data["integral"],
                                  width_ticks=data["width_ticks"] if "width_ticks" in data else None, **opts)
        else:
            raise CommandError(f"{p}: expected arrays frame + channels, or channel + peak_tick + integral; "
                               f"found {sorted(data)}")
    elif not p.exists():
        raise CommandError(f"{p}: no such file or event store")
    else:
        raise CommandError(f"{p}: not an event store, a .root dump or a .npz of frames or hits")


def vertex_rows(event, vertices):
    """The ``find`` output rows (dicts with FIND_COLUMNS) of one event: one per vertex and plane."""
    rows = []
    for i, v in enumerate(vertices):
        xyz = v.position_cm if v.position_cm is not None else (float("nan"),) * 3
        for p, pv in enumerate(v.planes):
            if pv is None:
                continue
            rows.append({
                "plane_id": p, "run": event.run, "subrun": event.subrun, "event": event.event, "vertex": i, "kind": v.kind,
                "score": round(v.score, 5), "primary": int(v.primary), "plane": pv.view, "tpc": pv.tpc,
                "wire": round(pv.wire, 3), "channel": pv.channel, "tick": round(pv.tick, 2),
                "global_wire": round(pv.global_wire, 3), "global_drift": round(pv.global_drift, 3),
                "x_cm": round(float(xyz[0]), 3), "y_cm": round(float(xyz[1]), 3), "z_cm": round(float(xyz[2]), 3),
                "residual_cm": round(v.residual_cm, 4),
            })
    return rows


@contextmanager
def atomic_output(output):
    """A temporary path beside ``output``, renamed onto it when the block ends without an error."""
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_rows(rows, output) -> None:
    """Write find rows as CSV, or as a ROOT TTree ``vertices`` (uproot) for ``.root``; atomically."""
    with atomic_output(output) as tmp:
        if Path(output).suffix == ".root":
            import numpy as np
            import uproot

            from .records import VERTEX_KINDS

            # TTree branches are numeric: kind and plane become ids (kind_id: VERTEX_KINDS order;
            # plane_id: index of the view in the detector's view order, plane_view: its letter code)
            cols = {}
            for c in FIND_COLUMNS:
                values = [r[c] for r in rows]
                if c == "kind":
                    cols["kind_id"] = np.array([VERTEX_KINDS.index(k) for k in values], dtype=np.int32)
                elif c == "plane":
                    cols["plane_view"] = np.array([ord(v[0]) for v in values], dtype=np.int32)
                elif c in ("score", "wire", "tick", "global_wire", "global_drift", "x_cm", "y_cm", "z_cm", "residual_cm"):
                    cols[c] = np.array(values, dtype=np.float64)
                else:
                    cols[c] = np.array(values, dtype=np.int64)
            cols["plane_id"] = np.array([r["plane_id"] for r in rows], dtype=np.int32)
            with uproot.recreate(tmp) as f:
                f["vertices"] = cols
        else:
            import csv

            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIND_COLUMNS, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)


def _load_finder(args):
    from .finder import VertexFinder

    return VertexFinder.load(args.model)


def _cmd_find(args) -> int:
    from tqdm import tqdm

    finder = _load_finder(args)
    rows, skipped, n = [], [], 0
    events = read_events(args.input, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
                         report=lambda msg: skipped.append(msg))
    batch = []

    def flush():
        nonlocal n
        good = []
        for ev in batch:
            try:
                finder.check(ev)
                good.append(ev)
            except (ValueError, TypeError) as exc:
                skipped.append(f"skipped {args.input} run {ev.run} subrun {ev.subrun} event {ev.event}: {exc}")
        for ev, res in zip(good, finder.find_many(good, mode=args.mode)):
            rows.extend(vertex_rows(ev, res.vertices))
            n += 1
        batch.clear()

    for ev in tqdm(events, desc="finding", unit="event", disable=args.quiet):
        batch.append(ev)
        if len(batch) >= finder.config.batch_events:
            flush()
    flush()
    for msg in skipped:
        print(msg, file=sys.stderr)
    if n == 0:
        raise CommandError(f"{args.input}: no event could be read ({len(skipped)} skipped); nothing written")
    write_rows(rows, args.output)
    print(f"found vertices in {n} events ({len(rows)} rows) -> {args.output}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return 0


def _cmd_evaluate(args) -> int:
    import itertools

    from .evaluation import evaluate, format_report

    finder = _load_finder(args)
    events = read_events(args.store, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling)
    if args.events:
        events = itertools.islice(events, args.events)
    metrics = evaluate(finder, events, progress=not args.quiet)
    metrics["model"] = str(args.model or "default")
    metrics["input"] = str(args.store)
    print(format_report(metrics))
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    return 0


def _cmd_export(args) -> int:
    from .export import export_savedmodel

    out = export_savedmodel(_load_finder(args), args.output, overwrite=args.overwrite)
    print(f"exported the walker step as a TensorFlow SavedModel -> {out}")
    return 0


def show_event(finder, event, output, *, mode="all", title=None):
    """Picture of an event: its planes, truth vertices, found vertices and the walks; returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_event

    res = finder.find_detailed(event, mode=mode)
    found = {p: [(v.planes[p].global_wire, v.planes[p].global_drift, v.kind) for v in res.vertices
                 if v.planes[p] is not None] for p in range(len(event.planes))}
    fig = plot_event(event, walks=res.walks, found=found, title=title)
    if output is not None:
        fig.savefig(output, dpi=110)
        plt.close(fig)
    return res


def _cmd_show(args) -> int:
    import itertools

    finder = _load_finder(args)
    events = read_events(args.input, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling)
    event = next(itertools.islice(events, args.event, None), None)
    if event is None:
        raise CommandError(f"{args.input}: no event {args.event}")
    res = show_event(finder, event, args.output, mode=args.mode)
    print(f"event {event.event}: {len(res.vertices)} vertices found -> {args.output}")
    return 0


def demo(*, events: int = 5, seed: int = 2026, output="vertexfinder-demo.png", model=None, stream=None) -> list:
    """Simulate DUNE FD events, find their vertices with the (default) model, print a table, draw one.

    Returns the table rows (dicts).
    """
    import time

    import numpy as np

    from .finder import VertexFinder
    from .simulation import simulate

    stream = stream or sys.stdout
    finder = VertexFinder.load(model)
    evs = [e for e in simulate("dune-fd-1x2x6", "nu-mix", events=events, seed=seed) if e.primary is not None]
    finder.find_many(evs[:1], mode="all")  # trace the compiled step once, outside the timing
    t0 = time.perf_counter()
    results = finder.find_many(evs, mode="all")
    ms = 1000 * (time.perf_counter() - t0) / max(len(evs), 1)
    rows = []
    print(f"{'event':>5} {'interaction':>11} {'E/GeV':>6} {'true vertex (x, y, z) cm':>26} {'found':>26} "
          f"{'dist/cm':>8} {'vertices':>8}", file=stream)
    for ev, res in zip(evs, results):
        prim = res.vertices[0] if res.vertices and res.vertices[0].primary else None
        true = ev.primary.position_cm
        pos = prim.position_cm if prim is not None and prim.position_cm is not None else np.full(3, np.nan)
        d = float(np.linalg.norm(pos - true))
        kinds = {k: sum(v.kind == k for v in res.vertices[1:]) for k in ("interaction", "decay", "conversion")}
        label = f"{'nue' if abs(ev.nu_pdg) == 12 else 'numu'} {ev.interaction}"
        print(f"{ev.event:>5} {label:>11} {ev.energy_gev:>6.2f} {_xyz(true):>26} {_xyz(pos):>26} {d:>8.2f} "
              f"{1 + sum(kinds.values()):>8}", file=stream)
        rows.append({"event": ev.event, "distance_cm": d, **kinds})
    print(f"{ms:.0f} ms per event (all mode, {len(evs)} events batched)", file=stream)
    if output:
        show_event(finder, evs[0], output, title=f"demo event {evs[0].event}: truth (circles), found (crosses), walks")
        print(f"picture of event {evs[0].event} -> {output}", file=stream)
    return rows


def _xyz(p):
    return "(" + ", ".join(f"{v:7.1f}" for v in p) + ")"


def _cmd_demo(args) -> int:
    demo(events=args.events, seed=args.seed, output=args.output, model=args.model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="vertexfinder",
        description="Recurrent multi-resolution vertex finder for liquid-argon TPCs.",
    )
    parser.add_argument("--version", action="version", version=f"vertexfinder {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("detectors", help="list the built-in detectors")
    p.add_argument("--details", action="store_true", help="also print TPCs, channels and global image sizes")
    p.add_argument("--drift-window", type=int, default=6, help="ticks per drift pixel for --details (default 6)")
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
    p.add_argument("--detector", default="dune-fd-1x2x6", help="built-in detector name or description file "
                   "(default dune-fd-1x2x6, what the historical dumps were made with)")
    p.add_argument("--drift-window", type=int, default=6, help="ticks per drift pixel of the dumps (default 6)")
    p.add_argument("--pooling", default="max", choices=["max", "mean", "mean-around-max"],
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
    p.add_argument("--detector", default="dune-fd-1x2x6", help="built-in detector name or description file")
    p.add_argument("--sample", default="nu-mix", choices=SAMPLES, help="what to simulate (default nu-mix)")
    p.add_argument("--events", type=int, default=10, help="number of events (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--first-event", type=int, default=0, help="number of the first event (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--cosmics", type=int, default=0, help="cosmic muons added to every event (default 0)")
    p.add_argument("--particle", default="mu-", help="gun particle: mu-, mu+, e-, e+, gamma, proton, pi+, pi-, pi0, ...")
    p.add_argument("--energy-mev", type=_parse_energy, default=(100.0, 1000.0),
                   help="gun kinetic energy in MeV: a value or a range lo:hi (default 100:1000)")
    p.add_argument("--beam", default="dune", choices=["dune", "booster"], help="neutrino spectrum (default dune)")
    p.add_argument("--drift-window", type=int, default=6, help="ticks per drift pixel (default 6)")
    p.add_argument("--pooling", default="max", choices=["max", "mean", "mean-around-max"], help="drift pooling")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="event store, or a .root file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser(
        "train", help="train the walker on batches generated on the fly (resumes a killed run)",
        description="Train the recurrent walker. Batches are generated on the fly from an event store "
        "(store = PATH) or from the simulation. Running the same command again with the same RUN_DIR resumes "
        "a run that was stopped. Options are the fields of vertexfinder.training.TrainConfig.",
    )
    p.add_argument("--config", metavar="CONFIG.toml", help="training configuration (TOML)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one option (TOML value), repeatable")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run folder (checkpoints, logs)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    def add_input_options(p):
        p.add_argument("--detector", default="dune-fd-1x2x6", help="detector of ROOT dumps, frames and hits "
                       "(built-in name or description file; default dune-fd-1x2x6)")
        p.add_argument("--drift-window", type=int, default=6, help="ticks per drift pixel of dumps, frames, hits (default 6)")
        p.add_argument("--pooling", default="max", choices=["max", "mean", "mean-around-max"], help="drift pooling")
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
    p.add_argument("--events", type=int, default=0, help="only the first N events (default all)")
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
    p.add_argument("--event", type=int, default=0, help="index of the event in the input (default 0)")
    p.add_argument("--mode", default="all", choices=["primary", "all"], help="finder mode (default all)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="picture to write")
    add_input_options(p)
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("demo", help="simulate a few DUNE events, find their vertices, print a table, draw one")
    p.add_argument("--events", type=int, default=5, help="events to simulate (default 5)")
    p.add_argument("--seed", type=int, default=2026, help="simulation seed (default 2026)")
    p.add_argument("-o", "--output", default="vertexfinder-demo.png", help="picture (default vertexfinder-demo.png)")
    p.add_argument("--model", default=None, metavar="PATH", help="model file or folder (default: the bundled model)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("vertexfinder: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place errors become a one-line message
        if args.debug:
            raise
        from .errors import VertexFinderError

        if isinstance(exc, (VertexFinderError, CommandError, OSError, ValueError, KeyError)):
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            print(f"vertexfinder {args.command}: error: {msg}", file=sys.stderr)
            return 1
        print(f"vertexfinder {args.command}: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
