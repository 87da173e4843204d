"""Event-store benchmark: write rate, bytes per event, random-access latency, resident memory.

    python benchmarks/bench_store.py [--events 1000000] [--crop 16x16] [--dir /tmp] [--compression none] [--truth]

Writes ``--events`` events of three planes with crops of ``--crop`` pixels (30%
of them lit) and one truth vertex each (``--truth``: plus a per-pixel truth map
on every plane), then reads 10,000 random events and finally every event in
order, printing a table. The per-event index overhead
measured here does not depend on the crop size, so it extrapolates to DUNE
events (~0.7 MB of crops each).
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vertexfinder.records import EventRecord, PlaneImage, TruthVertex
from vertexfinder.io.store import EventStore


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_parts_mb():
    """(anonymous, file-backed) resident memory now; mapped store pages are file-backed and reclaimable."""
    parts = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon", "RssFile")):
                key, value = line.split(":")
                parts[key] = int(value.split()[0]) / 1024
    return parts.get("RssAnon", float("nan")), parts.get("RssFile", float("nan"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--crop", default="16x16")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--compression", default="zlib", choices=["zlib", "none"])
    ap.add_argument("--truth", action="store_true", help="store a per-pixel truth map with every plane")
    args = ap.parse_args(argv)
    w, d = (int(v) for v in args.crop.split("x"))
    rng = np.random.default_rng(0)
    crops = rng.integers(1, 256, size=(64, w, d), dtype=np.uint8) * (rng.random((64, w, d)) < 0.3)
    truths = [np.where(c > 0, 0, -1).astype(np.int16) if args.truth else None for c in crops]
    vertex = TruthVertex("interaction", [1.0, 2.0, 3.0], flags=0x11, planes=np.ones((3, 2)))
    path = Path(args.dir) / "bench.vfstore"
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    with EventStore.create(path, detector="dune-fd-1x2x6", views=["U", "V", "Z"], drift_window=6, pooling="max",
                           chunk_events=50_000, overwrite=True, compression=args.compression) as writer:
        for e in range(args.events):
            planes = [PlaneImage(v, crops[(e + k) % 64], (e % 3000, k), truths[(e + k) % 64]) for k, v in enumerate("UVZ")]
            writer.append(EventRecord(1, 0, e, "dune-fd-1x2x6", 6, "max", planes, [vertex], nu_pdg=14,
                                      interaction="CC", energy_gev=2.5, tpc=3))
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = EventStore.open(path)
    t_open = time.perf_counter() - t0
    info = store.info()
    pixel_bytes = sum(c["stored_bytes"] for c in store.manifest["chunks"])
    overhead = (info["bytes_on_disk"] - pixel_bytes) / info["events"]
    idx = rng.integers(0, len(store), 10_000)
    lat = []
    for i in idx:
        t = time.perf_counter()
        store[int(i)]
        lat.append(time.perf_counter() - t)
    lat = np.array(lat) * 1e6
    t = time.perf_counter()
    for i in range(len(store)):
        store.plane(i, 2)
    t_seq = time.perf_counter() - t
    anon, filebacked = rss_parts_mb()
    print(f"{'events':<34}{info['events']:>14,}")
    print(f"{'crop per plane':<34}{args.crop:>14}")
    print(f"{'compression':<34}{args.compression:>14}")
    print(f"{'per-pixel truth':<34}{'yes' if args.truth else 'no':>14}")
    print(f"{'write rate (events/s)':<34}{info['events'] / t_write:>14,.0f}")
    print(f"{'bytes on disk':<34}{info['bytes_on_disk']:>14,}")
    print(f"{'pixels':<34}{info['pixels']:>14,}")
    print(f"{'stored pixel bytes':<34}{pixel_bytes:>14,}")
    print(f"{'index overhead per event (bytes)':<34}{overhead:>14.1f}")
    print(f"{'  -> for 1M events (MB)':<34}{overhead * 1e6 / 1e6:>14.1f}")
    print(f"{'open (ms)':<34}{t_open * 1e3:>14.1f}")
    print(f"{'random event read median (us)':<34}{np.median(lat):>14.1f}")
    print(f"{'random event read p99 (us)':<34}{np.percentile(lat, 99):>14.1f}")
    print(f"{'sequential plane reads (planes/s)':<34}{len(store) / t_seq:>14,.0f}")
    print(f"{'peak resident memory (MB)':<34}{rss_mb():>14.0f}")
    print(f"{'  anonymous after reading all (MB)':<34}{anon:>14.0f}")
    print(f"{'  file-backed, reclaimable (MB)':<34}{filebacked:>14.0f}")
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
