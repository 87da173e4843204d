"""Where the finder loses secondary vertices (decays, conversions, secondary interactions), stage by stage.

    python benchmarks/diagnose_secondary.py data/tune_p.vfstore [--model PATH] [--proposer RUN] [--events N]
        [--config JSON]

Runs the finder's stages one by one (``all`` mode) on events with truth and counts, per class of
true vertex visible on at least two views (charge within 3 px of its projection):

* ``reached``: a candidate (a walk cluster or a proposal without walks) within 4 px of it on two
  views or more, before the refiner looks;
* ``refined``: the same within 2 px after the refiner's looks;
* ``matched``: a vertex the finder's ``all`` mode finds (the vertex score's cut and the class look
  included; the primary too) within 2 cm of it in 3D;
* ``classified``: ... of its class.

Then the figures of :func:`vertexfinder.evaluation.evaluate` (efficiency and purity within 2 cm).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def near_on_views(candidates, truth_planes, radius_px) -> int:
    """Views where a candidate lies within ``radius_px`` of the true vertex's projection."""
    n = 0
    for p, x in enumerate(truth_planes):
        if not np.all(np.isfinite(x)):
            continue
        n += any(c.plane == p and np.linalg.norm(c.position - x) <= radius_px for c in candidates)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample")
    ap.add_argument("--model", default=None)
    ap.add_argument("--proposer", default=None, help="a proposer run or model folder (default: the model's own)")
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--config", default="{}", help="FinderConfig fields, a JSON object")
    args = ap.parse_args(argv)

    from vertexfinder.records import vertex_visible
    from vertexfinder.evaluation import evaluate
    from vertexfinder.finder import VertexFinder, propose
    from vertexfinder.finder import refine as refine_stage
    from vertexfinder.finder import walk as walk_stage
    from vertexfinder.io.events import read_events

    finder = VertexFinder.load(args.model, proposer=args.proposer, **json.loads(args.config))
    events = [e for e in read_events(args.sample) if any(p.pixels.any() for p in e.planes)]
    if args.events:
        events = events[: args.events]
    counts: dict = {}
    for ev in events:
        views = finder.prepare(ev)
        mapper = finder.check(ev)
        (walked,) = walk_stage.walk(finder.step, finder.spec, finder.num_steps, [ev], [views], [mapper], "all",
                                    finder.config)
        prior = propose.beam_prior(mapper, views, finder.config.beam_direction)
        finder.propose(walked, views, prior, "all")
        before = [(c.plane, c.position.copy()) for c in walked.secondary]
        todo = list(refine_stage.to_refine([walked], "all", finder.config))
        others = {id(c) for c in walked.secondary}  # the secondary refiner's, as in the finder
        finder.refine_secondary([views], [t for t in todo if id(t[1]) in others])
        found = finder.find_detailed(ev, mode="all").vertices
        for v in ev.vertices:
            if v is ev.primary:
                continue
            if not vertex_visible(ev, v):
                continue
            c = counts.setdefault(v.kind, np.zeros(5, dtype=np.int64))
            c[0] += 1
            c[1] += sum(np.isfinite(x).all() and any(pl == p and np.linalg.norm(pos - x) <= 4.0 for pl, pos in before)
                        for p, x in enumerate(v.planes)) >= 2
            c[2] += near_on_views(walked.secondary, v.planes, 2.0) >= 2
            near = [f for f in found if f.position_cm is not None
                    and np.linalg.norm(f.position_cm - v.position_cm) <= 2.0]
            c[3] += bool(near)
            c[4] += any(f.kind == v.kind for f in near)
    print(f"{len(events)} events of {args.sample}; model {args.model or 'bundled'}, proposer "
          f"{args.proposer or ('the model’s' if finder.proposer is not None else 'none')}, options {args.config}")
    print(f"{'true class':14s}{'visible':>9s}{'reached':>9s}{'refined':>9s}{'matched':>9s}{'classified':>11s}")
    for k, c in sorted(counts.items()):
        print(f"{k:14s}{c[0]:>9d}" + "".join(f"{x / max(c[0], 1):>9.3f}" for x in c[1:4]) + f"{c[4] / max(c[0], 1):>11.3f}")
    m = evaluate(finder, events)
    print("evaluate (all mode, within 2 cm): " + "; ".join(
        f"{k} efficiency {m['efficiency'][k]['2cm']:.3f} purity {m['purity'][k]['2cm']:.3f}" for k in m["efficiency"])
        + f"; class accuracy {m['class_accuracy']:.3f}; primary within 1 cm {m['primary_within_1cm_3d']:.3f}; "
        f"{m['ms_per_event']:.0f} ms/event")


if __name__ == "__main__":
    main()
