"""Peak memory of ``vertexfinder find`` against the number of events: it must not grow.

    python benchmarks/bench_memory.py data/test.vfstore [--events 500,20000] [--mode primary]

Builds, in a temporary folder, stores of N events by cycling the sample's events (each copy with
its own event number; the images and truth are the sample's), runs ``vertexfinder find`` on each
in a fresh process and prints its peak resident memory (the kernel's ``ru_maxrss`` of that
process: anonymous memory and the file pages it touched), its time, and the peak against the
smallest run's. A grid job over a 100k-event store must not need more memory than one over 500.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cycled_store(sample: str, n: int, path: Path) -> None:
    """A store of ``n`` events: the sample's events again and again, event numbers 0..n-1."""
    from vertexfinder.io.events import read_events
    from vertexfinder.io.store import EventStore

    events = [e for e in read_events(sample) if any(p.pixels.any() for p in e.planes)]
    first = events[0]
    with EventStore.create(path, detector=first.detector, views=first.get_detector().views,
                           drift_window=first.drift_window, pooling=first.pooling) as w:
        for i in range(n):
            w.append(dataclasses.replace(events[i % len(events)], run=1, subrun=0, event=i))


def peak_of_find(store: Path, out: Path, mode: str) -> tuple[float, float]:
    """(peak resident MB, seconds) of ``vertexfinder find`` on ``store`` in its own process."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "vertexfinder", "find", str(store), "-o", str(out), "--mode", mode,
                          "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"find failed on {store}: {p.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sample", help="event store or dump whose events are cycled")
    ap.add_argument("--events", default="500,20000", help="comma-separated store sizes")
    ap.add_argument("--mode", default="primary", choices=["primary", "all"])
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args(argv)

    sizes = [int(x) for x in args.events.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in sizes:
            store = Path(tmp) / f"s{n}.vfstore"
            cycled_store(args.sample, n, store)
            peak, seconds = peak_of_find(store, Path(tmp) / f"s{n}.csv", args.mode)
            rows.append((n, peak, seconds))
            print(f"{n} events: peak {peak:.0f} MB, {seconds:.0f} s", file=sys.stderr, flush=True)
    base = rows[0][1]
    print(f"vertexfinder find --mode {args.mode}, events cycled from {args.sample}")
    print(f"{'events':>8} {'peak MB':>9} {'vs first':>9} {'s':>7} {'ms/event':>9}")
    for n, peak, seconds in rows:
        print(f"{n:>8} {peak:>9.0f} {peak / base:>8.2f}x {seconds:>7.0f} {1000 * seconds / n:>9.1f}")


if __name__ == "__main__":
    main()
