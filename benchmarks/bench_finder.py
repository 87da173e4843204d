"""Finder speed on one core: milliseconds per DUNE FD event, and how it grows with the image area.

    python benchmarks/bench_finder.py [--events 40] [--model PATH] [--config JSON] [--modes-only]
    python benchmarks/bench_finder.py --detector sbnd --beam booster --cosmics auto --modes-only

Runs with TensorFlow and Numba pinned to one thread. Table 1: ms per event for ``primary`` and
``all`` mode, events one at a time and batched (``batch_events``), on simulated DUNE FD 1x2x6
nu-mix events, and the time of each stage of the finder (``FindResult.stage_seconds``). Table 2: ms per event in ``primary`` mode when every crop is padded with empty
pixels to 1x, 4x and 16x its area (the cost is set by seeds and steps, not pixels). Table 3: a
dense patch-scan baseline as earlier tools did it: the walker's own glimpse encoder run on a
32x32 patch around every charged pixel (one CNN call per pixel, batched), ms per event.
``--config``: FinderConfig fields as a JSON object; ``--modes-only``: table 1 only; ``--detector``,
``--beam``, ``--cosmics``: the simulated events (default DUNE FD without cosmics; ``--cosmics auto``
for the cosmic muons of a surface detector's readout).
"""

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np  # noqa: E402


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def padded(ev, grow):
    """The event with every crop padded by empty pixels to ``grow`` times its area (centred)."""
    from vertexfinder.records import EventRecord, PlaneImage

    planes = []
    for p in ev.planes:
        nw, nd = p.pixels.shape
        f = np.sqrt(grow)
        pw, pd = int(nw * (f - 1) / 2), int(nd * (f - 1) / 2)
        pw, pd = min(pw, p.origin[0]), min(pd, p.origin[1])
        planes.append(PlaneImage(p.view, np.pad(p.pixels, ((pw, pw), (pd, pd))), (p.origin[0] - pw, p.origin[1] - pd)))
    return EventRecord(ev.run, ev.subrun, ev.event, ev.detector, ev.drift_window, ev.pooling, planes, ev.vertices)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--model", default=None)
    parser.add_argument("--config", default="{}", help="FinderConfig fields, a JSON object")
    parser.add_argument("--modes-only", action="store_true", help="only the primary / all table")
    parser.add_argument("--detector", default="dune-fd-1x2x6")
    parser.add_argument("--beam", default="dune", choices=["dune", "booster"])
    parser.add_argument("--cosmics", default="0", help="cosmic muons per event: a number or 'auto'")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from vertexfinder.finder import VertexFinder
    from vertexfinder.simulation import simulate

    import json

    finder = VertexFinder.load(args.model, **json.loads(args.config))
    cosmics = args.cosmics if args.cosmics == "auto" else int(args.cosmics)
    events = [e for e in simulate(args.detector, "nu-mix", events=args.events, seed=args.seed, beam=args.beam,
                                  cosmics=cosmics)
              if e.primary is not None and any(p.pixels.any() for p in e.planes)]
    n = len(events)
    finder.find_many(events[:2], mode="all")  # trace the step for the batch sizes in use
    print(f"{n} {args.detector} nu-mix events ({args.beam} beam, cosmics {args.cosmics}), one core; "
          f"model {args.model or 'default'}")
    print(f"\n{'mode':<10}{'one event per call':>20}{'batched':>12}   (ms per event)")
    for mode in ("primary", "all"):
        single = timed(lambda: [finder.find(e, mode=mode) for e in events]) / n * 1000
        batched = timed(lambda: finder.find_many(events, mode=mode)) / n * 1000
        print(f"{mode:<10}{single:>20.1f}{batched:>12.1f}")
    print(f"\n{'stage (batched, ms per event)':<30}{'primary':>10}{'all':>10}")
    stages = {mode: {} for mode in ("primary", "all")}
    for mode in stages:
        for r in finder.find_many(events, mode=mode):
            for name, t in r.stage_seconds.items():
                stages[mode][name] = stages[mode].get(name, 0.0) + t * 1000 / n
    for name in stages["all"]:
        print(f"{name:<30}{stages['primary'].get(name, 0.0):>10.1f}{stages['all'][name]:>10.1f}")
    if args.modes_only:
        return

    print(f"\n{'image area':<12}{'mean pixels':>14}{'ms/event (primary, batched)':>30}")
    for grow in (1, 4, 16):
        evs = [padded(e, grow) for e in events]
        pixels = np.mean([sum(p.pixels.size for p in e.planes) for e in evs])
        t = timed(lambda: finder.find_many(evs, mode="primary")) / n * 1000
        print(f"{str(grow) + 'x':<12}{pixels:>14,.0f}{t:>30.1f}")

    from generators.glimpses import GlimpseSpec, Pyramid

    enc = finder.model.encoder
    spec = GlimpseSpec(num_levels=finder.spec.num_levels, glimpse_size=finder.spec.glimpse_size, scale=finder.spec.scale)
    f = np.zeros((1, finder.model.num_features), np.float32)
    call = tf.function(lambda g, x: enc(g, x), reduce_retracing=True)
    sub = events[: max(3, n // 8)]

    def scan():
        for ev in sub:
            for p in ev.planes:
                pyr = Pyramid(p.pixels, spec)
                charged = np.argwhere(p.pixels > 0)
                for i in range(0, len(charged), 4096):
                    g = pyr.extract(charged[i : i + 4096])
                    call(g, np.repeat(f, len(g), axis=0))

    charged = np.mean([sum(int((p.pixels > 0).sum()) for p in e.planes) for e in sub])
    t = timed(scan, repeat=1) / len(sub) * 1000
    print(f"\ndense patch scan (one encoder call per charged pixel, {charged:,.0f} pixels/event): {t:.0f} ms per event")


if __name__ == "__main__":
    main()
