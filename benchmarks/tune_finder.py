"""Compare finder settings (and refiners) on a sample with truth: one row per variant.

    python benchmarks/tune_finder.py data/tune.vfstore [--model PATH] [--refiner RUN_DIR|none]
        ['{"refine_weight": 1.0}' ...]

Each variant is a JSON object of FinderConfig fields. The walker comes from --model (default: the
bundled model); the refiner from --refiner (a folder with refiner.keras or best.keras and
refiner.json; default: the one beside the walker, if any; ``none``: no refiner); the candidate
scorer beside the walker is used with its own refiner only. Prints, per
variant, the primary vertex within 1 / 2 / 5 cm in 3D, per view within 1 cm, the share of events
whose primary is more than 5 cm off, the class accuracy, the class efficiencies within 2 cm and
the milliseconds per event (all mode).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample", help="event store or ROOT dump with truth")
    ap.add_argument("variants", nargs="*", help="JSON objects of FinderConfig fields (default: one, {})")
    ap.add_argument("--model", default=None, help="walker file or folder (default: the bundled model)")
    ap.add_argument("--refiner", default=None, help="refiner run folder, or none")
    ap.add_argument("--events", type=int, default=0, help="only the first N events")
    args = ap.parse_intermixed_args(argv)

    import keras

    from vertexfinder.evaluation import evaluate
    from vertexfinder.finder import FinderConfig, VertexFinder
    from vertexfinder.io.events import read_events
    from vertexfinder.model import RefineConfig

    base = VertexFinder.load(args.model)
    refiner, ref_cfg = base.refiner, base.refiner_config
    if args.refiner == "none":
        refiner = ref_cfg = None
    elif args.refiner:
        d = Path(args.refiner)
        f = d / "refiner.keras" if (d / "refiner.keras").is_file() else d / "best.keras"
        refiner, ref_cfg = keras.saving.load_model(f, compile=False), RefineConfig.read(d / "refiner.json")
    events = list(read_events(args.sample))
    if args.events:
        events = events[: args.events]
    print(f"{len(events)} events of {args.sample}; walker {args.model or 'bundled'}; refiner {args.refiner or ('beside the walker' if refiner is not None else 'none')}")
    print(f"{'variant':<44} {'3D 1cm':>7} {'2cm':>6} {'5cm':>6} {'>5cm':>6}  {'2D 1cm (views)':<20} {'class':>6}  "
          f"{'eff 2cm int/dec/conv':<20} {'ms':>5}")
    for text in args.variants or ["{}"]:
        finder = VertexFinder(base.model, base.model_config, FinderConfig(**json.loads(text)), refiner=refiner,
                              refiner_config=ref_cfg, scorer=base.scorer if refiner is base.refiner else None)
        m = evaluate(finder, events, progress=False)
        d = m["primary_distance_cm"]
        wrong = m.get("primary_wrong_vertex_rate", float("nan"))
        views = "/".join(f"{x:.2f}" for x in m["primary_within_1cm_2d"].values())
        eff = "/".join(f"{m['efficiency'][k]['2cm']:.2f}" for k in ("interaction", "decay", "conversion"))
        print(f"{text:<44} {m['primary_within_1cm_3d']:>7.3f} {m['primary_within_2cm_3d']:>6.3f} "
              f"{m['primary_within_5cm_3d']:>6.3f} {wrong:>6.3f}  {views:<20} {m['class_accuracy']:>6.3f}  {eff:<20} "
              f"{m['ms_per_event']:>5.0f}", flush=True)


if __name__ == "__main__":
    main()
