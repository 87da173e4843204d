"""Simulation speed: events per second per core.

    python benchmarks/bench_simulation.py [--events 200] [--detector dune-fd-1x2x6] [--jobs 2]

Prints a table: per sample, events/s on one core (jobs=1, after a warm-up that
compiles the Numba kernels), mean stored pixels and bytes per event; and the
rate with --jobs worker processes.
"""

import argparse
import os
import time

import numpy as np

from vertexfinder.simulation import simulate


def rate(detector, sample, events, seed, jobs=1, **kw):
    t0 = time.perf_counter()
    evs = list(simulate(detector, sample, events=events, seed=seed, jobs=jobs, **kw))
    dt = time.perf_counter() - t0
    nbytes = [sum(p.pixels.size for p in e.planes) for e in evs]
    return events / dt, float(np.mean(nbytes))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--detector", default="dune-fd-1x2x6")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    list(simulate(args.detector, "nu-mix", events=3, seed=99))  # warm-up: compile kernels
    print(f"detector {args.detector}, drift window 6, max pooling, {args.events} events per row, {os.cpu_count()} cores")
    print(f"{'sample':<10} {'jobs':>4} {'events/s':>9} {'events/s/core':>14} {'bytes/event':>12}")
    for sample in ("numu-cc", "nue-cc", "nc", "nu-mix"):
        r, b = rate(args.detector, sample, args.events, seed=1)
        print(f"{sample:<10} {1:>4} {r:>9.1f} {r:>14.1f} {b:>12.0f}")
    if args.jobs > 1:
        r, b = rate(args.detector, "nu-mix", args.events, seed=1, jobs=args.jobs)
        print(f"{'nu-mix':<10} {args.jobs:>4} {r:>9.1f} {r / args.jobs:>14.1f} {b:>12.0f}")


if __name__ == "__main__":
    main()
