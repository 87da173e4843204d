"""What the refiner's class head says at the true secondary vertices of a sample.

    python benchmarks/diagnose_classes.py data/tune.vfstore [--model PATH] [--events 80]

For every visible true vertex other than the primary, on every view where it projects, the refiner
looks once from a point 1 px (Gaussian) off its projection. Prints, per true class, the number of
looks, the mean class probabilities (interaction, decay, conversion, none) and how often each class
is the most probable one: whether the class head can call a vertex it is put on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample")
    ap.add_argument("--model", default=None)
    ap.add_argument("--events", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from vertexfinder.evaluation import vertex_visible
    from vertexfinder.finder import Candidate, VertexFinder
    from vertexfinder.io.events import read_events
    from vertexfinder.records import VERTEX_KINDS

    finder = VertexFinder.load(args.model)
    if finder.refiner is None:
        raise SystemExit("the model has no refiner")
    events = [e for e in read_events(args.sample) if any(p.pixels.any() for p in e.planes)][: args.events]
    rng = np.random.default_rng(args.seed)
    probs = {k: [] for k in VERTEX_KINDS}
    for ev in events:
        todo, kinds = [], []
        for v in ev.vertices:
            if v is ev.primary or not vertex_visible(ev, v):
                continue
            for p in range(len(ev.planes)):
                x = np.asarray(v.planes[p], dtype=np.float64)
                if np.all(np.isfinite(x)):
                    todo.append((0, Candidate(p, x + rng.normal(0.0, 1.0, 2), 0.0, np.zeros(4), 0)))
                    kinds.append(v.kind)
        if todo:
            finder.refine([finder.prepare(ev)], todo, steps=1)
            for (_, c), k in zip(todo, kinds):
                probs[k].append(c.probs)
    names = list(VERTEX_KINDS) + ["none"]
    print(f"{len(events)} events of {args.sample}; refiner of {args.model or 'the bundled model'}")
    print(f"{'true class':14s}{'looks':>7s}   mean probabilities ({' / '.join(names)})   most probable ({' / '.join(names)})")
    for k, rows in probs.items():
        if not rows:
            continue
        a = np.array(rows)
        top = np.bincount(a.argmax(axis=1), minlength=len(names)) / len(a)
        print(f"{k:14s}{len(a):7d}   {' / '.join(f'{m:.2f}' for m in a.mean(axis=0))}   {' / '.join(f'{t:.2f}' for t in top)}")


if __name__ == "__main__":
    main()
