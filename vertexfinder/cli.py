"""The ``vertexfinder`` command line.

Thin by design: each command parses its arguments and calls plain functions
that the Python API exposes too. A failing command prints one line on stderr
naming the file and the problem and exits non-zero (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
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
    records = simulate(events=args.events, seed=args.seed, jobs=args.jobs, first_event=args.first_event, config=cfg)
    n = write_events(records, args.output, detector=args.detector, drift_window=args.drift_window, pooling=args.pooling,
                     total=args.events, overwrite=args.overwrite, progress=not args.quiet, desc="simulating")
    print(f"simulated {n} {args.sample} events ({args.detector}, seed {args.seed}) into {args.output}")
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
