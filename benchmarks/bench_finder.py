"""Finder speed on one core: milliseconds per DUNE FD event with each backend, and how it grows with the image area.

    python benchmarks/bench_finder.py [--events 40] [--model PATH] [--config JSON] [--modes-only]
    python benchmarks/bench_finder.py --backends onnxruntime --detector sbnd --beam booster --cosmics auto --modes-only

The process is pinned to one core; onnxruntime, TensorFlow and Numba run one thread. Table 1: ms
per event for ``primary`` and ``all`` mode, events one at a time and batched (``batch_events``),
on simulated DUNE FD 1x2x6 nu-mix events, each backend side by side (``--backends``, default
onnxruntime and keras). Table 2: the time of each stage of the finder
(``FindResult.stage_seconds``), batched, per backend and mode. Table 3: the process cost of
``vertexfinder find`` on one event (a store of one event), process start to output: wall time and
peak memory (the child's maximum resident set), per backend. Table 4: ms per event in ``primary``
mode when every crop is padded with empty pixels to 1x, 4x and 16x its area (the cost is set by
seeds and steps, not pixels). Table 5: a dense patch-scan baseline as earlier tools did it: the
walker's own glimpse encoder run on a 32x32 patch around every charged pixel (one CNN call per
pixel, batched), ms per event. ``--config``: FinderConfig fields as a JSON object;
``--modes-only``: tables 1-3 only; ``--detector``, ``--beam``, ``--cosmics``: the simulated events
(default DUNE FD without cosmics; ``--cosmics auto`` for the cosmic muons of a surface
detector's readout).
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


def process_cost(args, backends, repeat: int = 3) -> None:
    """Table 3: ``vertexfinder find`` on a store of one simulated event (the benchmark's
    detector, beam, cosmics and seed), process start to output, on one core: the best wall time of
    ``repeat`` runs and the peak resident memory of the process."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from vertexfinder.cli import main as cli

    print(f"\n{'vertexfinder find, one event':<30}{'seconds':>10}{'peak MB':>10}   (process start to output)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "one.vfstore"
        cli(["simulate", "-o", str(store), "--events", "1", "--seed", str(args.seed), "--detector", args.detector,
             "--beam", args.beam, "--cosmics", args.cosmics, "-q"])
        for b in backends:
            argv = ["vertexfinder", "find", str(store), "-o", str(Path(tmp) / "out.csv"), "-q", "--backend", b]
            argv += ["--model", str(args.model)] if args.model else []
            # the process's own peak (VmHWM of its memory map, read as it exits: the rusage of a child
            # forked from this large process would count this one's pages)
            code = ("import atexit, runpy, sys\n"
                    "atexit.register(lambda: print('VmHWM', open('/proc/self/status').read().split('VmHWM:')[1]"
                    ".split()[0], file=sys.stderr))\n"
                    f"sys.argv = {argv!r}\nrunpy.run_module('vertexfinder', run_name='__main__', alter_sys=True)")
            best, peak = float("inf"), 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                run = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
                best = min(best, time.perf_counter() - t0)
                if run.returncode or "VmHWM" not in run.stderr:
                    raise RuntimeError(f"{' '.join(argv)} failed: {run.stderr[-500:]}")
                peak = max(peak, int(run.stderr.split("VmHWM")[-1].split()[0]))  # KiB
            print(f"{b:<30}{best:>10.2f}{peak / 1024:>10.0f}")


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
    parser.add_argument("--backends", default="onnxruntime,keras", help="comma-separated backends to time")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, whatever the libraries ask for

    import json

    from vertexfinder.finder import VertexFinder
    from vertexfinder.simulation import simulate

    if "keras" in backends:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    finders = {b: VertexFinder.load(args.model, backend=b, threads=1, **json.loads(args.config)) for b in backends}
    cosmics = args.cosmics if args.cosmics == "auto" else int(args.cosmics)
    events = [e for e in simulate(args.detector, "nu-mix", events=args.events, seed=args.seed, beam=args.beam,
                                  cosmics=cosmics)
              if e.primary is not None and any(p.pixels.any() for p in e.planes)]
    n = len(events)
    for finder in finders.values():
        finder.find_many(events[:2], mode="all")  # trace the step for the batch sizes in use
    print(f"{n} {args.detector} nu-mix events ({args.beam} beam, cosmics {args.cosmics}), one core; "
          f"model {args.model or 'default'}")
    print(f"\n{'ms per event':<14}" + "".join(f"{b + ' one per call':>26}{b + ' batched':>22}" for b in backends))
    for mode in ("primary", "all"):
        row = f"{mode:<14}"
        for finder in finders.values():
            single = timed(lambda: [finder.find(e, mode=mode) for e in events]) / n * 1000
            batched = timed(lambda: finder.find_many(events, mode=mode)) / n * 1000
            row += f"{single:>26.1f}{batched:>22.1f}"
        print(row)
    print(f"\n{'stage (batched, ms/event)':<26}" + "".join(f"{b[:8] + ' ' + m:>18}" for b in backends
                                                         for m in ("primary", "all")))
    stages = {(b, mode): {} for b in backends for mode in ("primary", "all")}
    for (b, mode), table in stages.items():
        for r in finders[b].find_many(events, mode=mode):
            for name, t in r.stage_seconds.items():
                table[name] = table.get(name, 0.0) + t * 1000 / n
    for name in stages[(backends[0], "all")]:
        print(f"{name:<26}" + "".join(f"{table.get(name, 0.0):>18.1f}" for table in stages.values()))
    process_cost(args, backends)
    if args.modes_only:
        return
    finder = finders[backends[0]]
    print(f"\n{'image area':<12}{'mean pixels':>14}{'ms/event (primary, batched, ' + backends[0] + ')':>44}")
    for grow in (1, 4, 16):
        evs = [padded(e, grow) for e in events]
        pixels = np.mean([sum(p.pixels.size for p in e.planes) for e in evs])
        t = timed(lambda: finder.find_many(evs, mode="primary")) / n * 1000
        print(f"{str(grow) + 'x':<12}{pixels:>14,.0f}{t:>44.1f}")

    import tensorflow as tf

    from generators.glimpses import GlimpseSpec, Pyramid

    finder = finders.get("keras") or VertexFinder.load(args.model, backend="keras", **json.loads(args.config))
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
