"""The finder's figures when the same events are seen with another detector response.

    python benchmarks/bench_robustness.py data/test.vfstore [--model PATH] [--events N]

Every event of the sample is seen nominally and with each variation of
``vertexfinder.evaluation.vary_event`` below (the charge times 0.25, 0.5, 2 and 4, smearing along
wire and drift, low-level noise, a threshold, dead wires), and the finder (all mode) is scored on
each. Prints one row per variation: the primary vertex within 1 / 2 / 5 cm in 3D, the wrong-vertex
rate, the class accuracy, and the change of the 2 cm figure from the nominal one (points).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIATIONS = [
    ("nominal", ""),
    ("gain x0.25", "gain=0.25"),
    ("gain x0.5", "gain=0.5"),
    ("gain x2", "gain=2"),
    ("gain x4", "gain=4"),
    ("smearing 1 px", "smear=1"),
    ("noise 2.6 (doubled)", "noise=2.6"),
    ("noise 5", "noise=5"),
    ("threshold 4", "threshold=4"),
    ("dead wires 3%", "dead=0.03"),
    ("gain x2, smear 1, noise 2.6", "gain=2,smear=1,noise=2.6"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample", help="event store or ROOT dump with truth")
    ap.add_argument("--model", default=None, help="model file or folder (default: the bundled model)")
    ap.add_argument("--events", type=int, default=0, help="only the first N events")
    ap.add_argument("--only", default="", help="comma-separated row labels to run (default all)")
    args = ap.parse_args(argv)

    from vertexfinder.evaluation import evaluate, parse_variation, vary_event
    from vertexfinder.finder import VertexFinder
    from vertexfinder.io.events import read_events

    finder = VertexFinder.load(args.model)
    events = list(read_events(args.sample))
    if args.events:
        events = events[: args.events]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(f"{len(events)} events of {args.sample}; model {args.model or 'bundled'}")
    print(f"{'variation':<30} {'1 cm':>6} {'2 cm':>6} {'5 cm':>6} {'>5 cm':>6} {'class':>6} {'d(2 cm)':>8}")
    nominal = None
    for label, text in VARIATIONS:
        if only and label not in only and label != "nominal":
            continue
        var = parse_variation(text)
        m = evaluate(finder, [vary_event(ev, var) for ev in events], progress=False)
        two = m["primary_within_2cm_3d"]
        nominal = two if nominal is None else nominal
        print(f"{label:<30} {m['primary_within_1cm_3d']:>6.3f} {two:>6.3f} {m['primary_within_5cm_3d']:>6.3f} "
              f"{m['primary_wrong_vertex_rate']:>6.3f} {m['class_accuracy']:>6.3f} {100 * (two - nominal):>+8.1f}",
              flush=True)


if __name__ == "__main__":
    main()
