"""Each command's arguments: one function per command adds its subparser (``_COMMANDS``, in the
order ``vertexfinder --help`` lists them), and the argparse types that check counts and energies."""

from __future__ import annotations

import argparse

from ..detectors import DEFAULT_DETECTOR
from ..records import DEFAULT_DRIFT_WINDOW, DRIFT_POOLINGS


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


def _cosmics(text: str):
    if text == "auto":
        return text
    try:
        return _count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 or 'auto'; Received: {text!r}") from None


_cosmics.__name__ = "cosmic muons per event"


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


def _model_option(p):
    p.add_argument("--model", default=None, metavar="PATH", help="model file or folder (default: the bundled model)")


def _backend_option(p, both: bool = False):
    choices = ["auto", "onnxruntime", "keras"] + (["both"] if both else [])
    p.add_argument("--backend", default="auto", choices=choices, help="what runs the networks: onnxruntime (the ONNX "
                   "models, no TensorFlow), keras, or auto (onnxruntime when installed and the model has ONNX "
                   "models)" + ("; both: each in turn, the figures side by side and how often their vertices agree"
                                if both else ""))


def _quiet_option(p):
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _input_options(p):
    """How ``find``, ``evaluate`` and ``show`` read their inputs, and the model they use."""
    p.add_argument("--detector", default=None, help="detector of ROOT dumps, frames and hits (built-in name or "
                   f"description file; default: what a dump records; .h5: microboone; otherwise {DEFAULT_DETECTOR})")
    p.add_argument("--source", default=None, choices=["wires", "hits"], help="MicroBooNE open samples (.h5): read "
                   "the wire waveforms or the hits (with Pandora's slices, for --per-slice) (default: wires when "
                   "the file has them)")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel of dumps, frames, hits (default {DEFAULT_DRIFT_WINDOW})")
    p.add_argument("--pooling", default="max", choices=DRIFT_POOLINGS, help="drift pooling")
    _model_option(p)
    _backend_option(p, both=p.prog.endswith(" evaluate"))
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a FinderConfig option of the finder (TOML "
                   "value, e.g. secondary_min_score=0.7), repeatable")


def _run_options(p, config_help, output_help):
    """The options of ``train`` and ``train-refiner``."""
    p.add_argument("--config", metavar="CONFIG.toml", help=config_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one option (TOML value), repeatable")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help=output_help)
    _quiet_option(p)


def _detectors(sub):
    p = sub.add_parser("detectors", help="list the built-in detectors")
    p.add_argument("--details", action="store_true", help="also print TPCs, channels and global image sizes")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel for --details (default {DEFAULT_DRIFT_WINDOW})")
    return p


def _info(sub):
    p = sub.add_parser("info", help="print a JSON summary of an event store")
    p.add_argument("store", help="event store directory")
    p.add_argument("--verify", action="store_true", help="also check every checksum (reads all pixel data)")
    return p


def _convert(sub):
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
    _quiet_option(p)
    return p


def _simulate(sub):
    from ..simulation.samples import SAMPLE_DESCRIPTIONS, SAMPLES

    samples = "; ".join(f"{name}: {what}" for name, what in SAMPLE_DESCRIPTIONS.items()).replace("%", "%%")
    p = sub.add_parser(
        "simulate", help="simulate events (neutrinos, cosmics, particle guns, class-rich samples) into an event "
        "store or a ROOT dump",
        description="Simulate LArTPC events. OUT ending in .root writes the historical dump layout; anything "
        "else writes an event store. The same seed gives the same events whatever --jobs is.",
    )
    p.add_argument("--detector", default=DEFAULT_DETECTOR, help="built-in detector name or description file")
    p.add_argument("--sample", default="nu-mix", choices=SAMPLES, metavar="SAMPLE",
                   help=f"what to simulate (default nu-mix). {samples}")
    p.add_argument("--events", type=_positive, default=10, help="number of events (default 10)")
    p.add_argument("--seed", type=_count, default=0, help="random seed (default 0)")
    p.add_argument("--first-event", type=_count, default=0, help="number of the first event (default 0)")
    p.add_argument("--jobs", type=_positive, default=1, help="worker processes (default 1)")
    p.add_argument("--cosmics", type=_cosmics, default=0,
                   help="cosmic muons drawn for every event: a number, or 'auto' for the sea-level rate over the "
                        "detector's top and readout window on a surface detector (none on DUNE FD) (default 0)")
    p.add_argument("--particle", default="mu-", help="gun particle: mu-, mu+, e-, e+, gamma, proton, pi+, pi-, pi0, ...")
    p.add_argument("--energy-mev", type=_parse_energy, default=(100.0, 1000.0),
                   help="gun kinetic energy in MeV: a value or a range lo:hi (default 100:1000)")
    p.add_argument("--beam", default="dune", choices=["dune", "booster"], help="neutrino spectrum (default dune)")
    p.add_argument("--drift-window", type=_positive, default=DEFAULT_DRIFT_WINDOW,
                   help=f"ticks per drift pixel (default {DEFAULT_DRIFT_WINDOW})")
    p.add_argument("--pooling", default="max", choices=DRIFT_POOLINGS, help="drift pooling")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="event store, or a .root file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _quiet_option(p)
    return p


def _train(sub):
    p = sub.add_parser(
        "train", help="train the walker on batches generated on the fly (resumes a killed run)",
        description="Train the recurrent walker. Batches are generated on the fly from an event store "
        "(store = PATH) or from the simulation. Running the same command again with the same RUN_DIR resumes "
        "a run that was stopped. Options are the fields of vertexfinder.training.TrainConfig.",
    )
    _run_options(p, "training configuration (TOML)", "run folder (checkpoints, logs)")
    return p


def _train_refiner(sub):
    p = sub.add_parser(
        "train-refiner", help="train the refiner, the finder's last full-resolution look at each candidate",
        description="Train the refiner on points drawn around the true vertices of an event store (store = PATH) "
        "or of the simulation. Running the same command again resumes a stopped run. Options are the fields of "
        "vertexfinder.model.RefineConfig.",
    )
    _run_options(p, "refiner configuration (TOML)", "run folder (checkpoints, history)")
    return p


def _train_proposer(sub):
    p = sub.add_parser(
        "train-proposer", help="train the proposer, the finder's one look at every view for every place a vertex may be",
        description="Train the proposer on crops around the true vertices of every kind of an event store (store = "
        "PATH) or of the simulation. Running the same command again resumes a stopped run. Options are the fields "
        "of vertexfinder.model.ProposerConfig.",
    )
    _run_options(p, "proposer configuration (TOML)", "run folder (checkpoints, history)")
    return p


def _train_tagger(sub):
    p = sub.add_parser(
        "train-tagger", help="learn the neutrino tagger: the neutrino vertex or a cosmic muon's point, per candidate",
        description="Run the finder on events with truth (surface detectors with cosmics, and DUNE), cut the walker's "
        "glimpse stacks of every 3D candidate and of the true vertices on every view, and train the neutrino tagger "
        "(models.tagger) on them. Writes tagger.keras and tagger.json (OUT, default beside the model). The candidate "
        "score then needs refitting (train-scorer) to use it.",
    )
    p.add_argument("store", nargs="+", help="event stores or ROOT dumps with truth")
    p.add_argument("--model", default=None, metavar="PATH", help="model folder (default: the bundled model)")
    p.add_argument("--events", type=_count, default=0, help="only the first N events of each store (default 0: all)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a FinderConfig option of the finder whose "
                   "candidates are recorded (TOML value), repeatable")
    p.add_argument("--epochs", type=_positive, default=20, help="training epochs (default 20)")
    p.add_argument("--seed", type=_count, default=0, help="random seed of the split and the weights (default 0)")
    p.add_argument("--radius", type=float, default=2.0, help="a candidate this close to the truth (cm) is the "
                   "neutrino vertex (default 2)")
    p.add_argument("-o", "--output", default=None, metavar="OUT.keras", help="tagger file (default: tagger.keras "
                   "beside the model)")
    _quiet_option(p)
    p.set_defaults(detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max")
    return p


def _train_scorer(sub):
    p = sub.add_parser(
        "train-scorer", help="learn the candidate score that picks the primary vertex among the 3D candidates",
        description="Run the finder on events with truth, record every 3D candidate its primary match tries, and fit "
        "the linear score (vertexfinder.training.score) that puts the best-scored candidate of an event within RADIUS "
        "of the true vertex. Writes scorer.json beside the model (or OUT). With --vertices: record every 3D match "
        "of all mode and fit the vertex score (a match within RADIUS of a true vertex or not), vertex_scorer.json.",
    )
    p.add_argument("store", nargs="+", help="event stores or ROOT dumps with truth (events the walker was not "
                   "trained on; several: a fit over all of them, e.g. one per detector)")
    p.add_argument("--model", default=None, metavar="PATH", help="model folder (default: the bundled model)")
    p.add_argument("--events", type=_count, default=0, help="only the first N events of each store (default 0: all)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a FinderConfig option of the finder whose "
                   "candidates are recorded (TOML value), repeatable")
    p.add_argument("--radius", type=float, default=2.0, help="a right candidate is this close, cm (default 2)")
    p.add_argument("--vertices", action="store_true", help="fit the vertex score of all mode (vertex_scorer.json) "
                   "instead of the primary candidate score")
    p.add_argument("--surface", action="store_true", help="fit the candidate score of surface detectors "
                   "(scorer_surface.json, used on detectors with cosmic muons; fit it on their events)")
    p.add_argument("-o", "--output", default=None, metavar="OUT.json", help="scorer file (default: scorer.json "
                   "beside the model)")
    _quiet_option(p)
    p.set_defaults(detector=DEFAULT_DETECTOR, drift_window=DEFAULT_DRIFT_WINDOW, pooling="max")  # how it reads
    return p


def _find(sub):
    from ..io.results import FIND_COLUMNS

    p = sub.add_parser(
        "find", help="find vertices in an event store, a ROOT dump, or a .npz of frames or hits",
        description="Find vertices. OUT ending in .root gets a TTree 'vertices'; anything else gets CSV with the "
        f"columns {', '.join(FIND_COLUMNS)} (one row per vertex and plane). Bad events are skipped and reported.",
    )
    p.add_argument("input", help="event store, .root dump, or .npz (frame + channels, or channel + peak_tick + integral)")
    p.add_argument("--mode", default="primary", choices=["primary", "all"], help="the neutrino vertex, or every vertex")
    p.add_argument("--per-slice", action="store_true",
                   help="find in every slice of an event on its own (hits with a 'slice' column, MicroBooNE open "
                        "samples with Pandora's slices): one primary vertex per slice, the 'slice' column says which")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .csv or .root")
    _input_options(p)
    _quiet_option(p)
    return p


def _evaluate(sub):
    p = sub.add_parser("evaluate", help="score the finder on events with truth (primary vertex, classes, speed)")
    p.add_argument("store", help="event store or ROOT dump with truth")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    p.add_argument("--mode", default="all", choices=["all", "primary"], help="the finder's mode: all (every "
                   "figure, the default) or primary (the primary vertex's figures only, faster)")
    p.add_argument("--per-slice", action="store_true", help="restrict each event to its neutrino's slice first (the "
                   "slice maps of the input, e.g. Pandora's, or for simulated events the true neutrino charge)")
    p.add_argument("--events", type=_count, default=0, help="only the first N events (default 0: all)")
    p.add_argument("--variation", metavar="NAME=VALUE,...", help="see the events with another detector response: "
                   "gain=F (charge x F), smear=PX (Gaussian, wire and drift), noise=RMS (bytes), threshold=BYTES, "
                   "dead=FRACTION (wires)")
    _input_options(p)
    _quiet_option(p)
    return p


def _export(sub):
    p = sub.add_parser("export", help="export the networks for other frameworks (SavedModel, ONNX, Triton)",
                       description="Export the model's networks. savedmodel: the walker step as a TensorFlow "
                       "SavedModel; onnx: every network the finder uses as ONNX, with the JSON files the finder "
                       "reads (load it with --model OUT --backend onnxruntime); triton: a Triton Inference Server "
                       "model repository of the ONNX networks (NAME/config.pbtxt, NAME/1/model.onnx) and the "
                       "client's JSON files in vertexfinder/.")
    p.add_argument("output", metavar="OUT", help="folder to write")
    p.add_argument("--format", default="savedmodel", choices=["savedmodel", "onnx", "triton"], help="export format "
                   "(default savedmodel)")
    _model_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    return p


def _show(sub):
    p = sub.add_parser("show", help="draw an event with truth, found vertices and walks (PNG)")
    p.add_argument("input", help="event store, .root dump, or .npz of frames or hits")
    p.add_argument("--event", type=_count, default=0, help="index of the event in the input (default 0)")
    p.add_argument("--mode", default="all", choices=["primary", "all"], help="finder mode (default all)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="picture to write")
    _input_options(p)
    return p


def _demo(sub):
    p = sub.add_parser("demo", help="simulate a few DUNE events, find their vertices, print a table, draw one")
    p.add_argument("--events", type=_positive, default=5, help="events to simulate (default 5)")
    p.add_argument("--seed", type=_count, default=2026, help="simulation seed (default 2026)")
    p.add_argument("-o", "--output", default="vertexfinder-demo.png", help="picture (default vertexfinder-demo.png)")
    _model_option(p)
    _backend_option(p)
    return p


#: (command, the function adding its subparser), in the order ``--help`` lists them.
_COMMANDS = (
    ("detectors", _detectors), ("info", _info), ("convert", _convert), ("simulate", _simulate), ("train", _train),
    ("train-refiner", _train_refiner), ("train-proposer", _train_proposer), ("train-scorer", _train_scorer),
    ("train-tagger", _train_tagger), ("find", _find), ("evaluate", _evaluate),
    ("export", _export), ("show", _show), ("demo", _demo),
)
