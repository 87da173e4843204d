"""Where the primary vertex is lost: the search (no candidate near the truth) or the choice.

    python benchmarks/diagnose_primary.py data/tune.vfstore [--model PATH] [--events N]

Runs the finder in primary mode and records, per event, the candidates of every view that the 3D
match sees (ranked). Prints how many events have their primary vertex more than 5 cm off, how
many of those had the true vertex among the ``candidates_per_plane`` best candidates on every view,
how many had a 3D candidate within 2 cm of it among those the finder chose from (a choice error;
without one, a search error), and per view the share of events with a candidate within 4 px of the
true vertex, and with the best-ranked candidate there.
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
    ap.add_argument("--events", type=int, default=0)
    args = ap.parse_args(argv)

    from vertexfinder.evaluation import vertex_visible
    from vertexfinder.finder import VertexFinder
    from vertexfinder.io.events import read_events

    finder = VertexFinder.load(args.model)
    finder.require_second_look()  # the 3D candidates are scored and reported at the second look
    events = [e for e in read_events(args.sample) if any(p.pixels.any() for p in e.planes)]
    if args.events:
        events = events[: args.events]
    results = finder.find_many(events, mode="primary")
    k = finder.config.candidates_per_plane
    n = far = choice = fit_near = 0
    near_any, top_near = np.zeros(3), np.zeros(3)
    for ev, res in zip(events, results):
        truth = ev.primary
        if truth is None or not vertex_visible(ev, truth):
            continue
        n += 1
        v = res.vertices[0] if res.vertices else None
        d = np.linalg.norm(v.position_cm - truth.position_cm) if v is not None and v.position_cm is not None else np.inf
        ok = []
        for p in range(len(ev.planes)):
            ranked = sorted([c for c in res.plane_candidates if c.plane == p], key=lambda c: -c.rank)
            near = [i for i, c in enumerate(ranked) if np.linalg.norm(c.position - truth.planes[p]) <= 4]
            near_any[p] += bool(near)
            top_near[p] += bool(near) and near[0] == 0
            ok.append(bool(near) and near[0] < k)
        if d > 5:
            far += 1
            choice += all(ok)
            near3d = [np.linalg.norm(c.position_cm - truth.position_cm) <= 2 for c in res.candidates]
            fit_near += any(near3d)
    print(f"{n} events with a visible primary vertex; more than 5 cm off: {far} "
          f"(true vertex among the {k} best candidates on every view: {choice}; not: {far - choice})")
    print(f"of those, a 3D candidate the finder chose among was within 2 cm of the truth: {fit_near}")
    print("views with a candidate within 4 px of the true vertex:", np.round(near_any / max(n, 1), 3),
          "; best-ranked candidate there:", np.round(top_near / max(n, 1), 3))


if __name__ == "__main__":
    main()
