"""The demo (simulate DUNE events, find their vertices, print a table, draw one) and event pictures."""

from __future__ import annotations

import sys

__all__ = ["demo", "show_event", "first_found"]


def show_event(finder, event, output, *, mode="all", title=None):
    """Picture of an event: its planes, truth vertices, found vertices (each joined to its parent,
    a conversion labelled with its gap) and the walks; returns the FindResult."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import found_and_links, plot_event

    res = finder.find_detailed(event, mode=mode)
    found, links = found_and_links(res.vertices, len(event.planes))  # each vertex joined to its parent
    fig = plot_event(event, walks=res.walks, found=found, links=links, title=title)
    if output is not None:
        from pathlib import Path

        from .io.atomic import atomic_output

        kind = Path(output).suffix  # the temporary ends like the output: matplotlib picks the format by it
        try:
            with atomic_output(output, suffix=kind) as tmp:
                fig.savefig(tmp, dpi=110, format=kind[1:] or "png")
        finally:
            plt.close(fig)
    return res


def first_found(finder, sample: str, seed: int, kind: str, *, detector: str | None = None, events: int = 8):
    """(event, FindResult in ``all`` mode) of the first event of a seeded simulated sample where
    ``finder`` finds a ``kind`` vertex within 2 cm of a true one of that kind (the last event
    with charge when none does): the pictures of the documentation and the notebooks."""
    import numpy as np

    from .detectors import DEFAULT_DETECTOR
    from .simulation import simulate

    for event in simulate(detector or DEFAULT_DETECTOR, sample, events=events, seed=seed):
        if not any(p.pixels.any() for p in event.planes):
            continue
        res = finder.find_detailed(event, mode="all")
        truth = [t.position_cm for t in event.vertices if t.kind == kind]
        if any(v.kind == kind and v.position_cm is not None and truth
               and min(np.linalg.norm(v.position_cm - t) for t in truth) <= 2.0 for v in res.vertices):
            break
    return event, res


def demo(*, events: int = 5, seed: int = 2026, output="vertexfinder-demo.png", model=None, stream=None,
         backend: str | None = None) -> list:
    """Simulate DUNE FD events, find their vertices with the (default) model, print a table, draw one.

    ``backend``: what runs the networks (:meth:`VertexFinder.load`). Returns the table rows (dicts).
    """
    import time

    import numpy as np

    from .detectors import DEFAULT_DETECTOR
    from .finder import VertexFinder
    from .simulation import simulate

    stream = stream or sys.stdout
    finder = VertexFinder.load(model, backend=backend)
    evs = [e for e in simulate(DEFAULT_DETECTOR, "nu-mix", events=events, seed=seed) if e.primary is not None]
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
