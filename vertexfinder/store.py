"""The compact event store: 1 byte per pixel, memory-mapped, O(1) random access, checksummed, atomic.

On disk a store is a directory (conventionally ``*.vfstore``)::

    manifest.json                 the single source of truth (format, version, metadata, chunks)
    chunk-000000.pixels           every plane crop of the chunk's events back to back: uint8 pixels in
                                  C order, each crop compressed on its own (zlib, level 1) unless the
                                  store was created with compression="none"
    chunk-000000.events.npy       one row per event: ids, neutrino info, vertex range
    chunk-000000.planes.npy       one row per event and plane: byte offset, shape, origin, crc32, truth range
    chunk-000000.vertices.npy     one row per truth vertex: event, kind, flags, parent, pdg, position, projections
    chunk-000000.truth            per-pixel truth of each crop that has it: with zlib a dense map
                                  (vertex + 1 per pixel, 0 none; one byte, two above 254 vertices)
                                  deflated; uncompressed stores keep (flat pixel, vertex) pairs
    ...

Writing: each chunk's files are written under temporary names, flushed and
fsynced, renamed, and only then is ``manifest.json`` replaced (write
``manifest.json.tmp``, fsync, ``os.replace``). A crash leaves the store as of
its last committed chunk; files the manifest does not list are ignored. A new
store is built in a sibling ``<path>.partial-<pid>`` directory and renamed
onto ``path`` when complete, so it never opens as valid but half written.

Compression: the pixels are one byte each (ADC, see :mod:`vertexfinder.encoding`);
LArTPC crops are mostly empty, so each crop is deflated on its own: about 27x
smaller for DUNE events at ~1 ms per event to inflate, and any event is still
read alone (O(1)). ``compression="none"`` stores raw bytes that are sliced
straight from the memory map.

Reading: the manifest lists every file with its size and BLAKE2b digest. Opening
checks the sizes of all files and the digests of the small index files; each
crop's CRC-32 is checked when it is read; :meth:`EventStore.verify` checks
every digest. Pixel files are memory-mapped, so resident memory stays small
however large the store; event ``i`` is found with a binary search over the
chunks' event counts and read without touching other events.

Per-event overhead: 33 bytes per event + 49 per plane (+ the truth maps)
+ (45 + 16 x planes) per truth vertex, i.e. 180 bytes for a 3-plane event without
truth and 273 with one vertex: 1M events cost about 0.27 GB of index beside the
pixels (``benchmarks/bench_store.py`` measures it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from .errors import BadEventError, StoreCorruptError, StoreError, StoreVersionError
from .records import VERTEX_KINDS, EventRecord, PlaneImage, TruthVertex

__all__ = ["SCHEMA_VERSION", "EventStore", "StoreWriter"]

FORMAT = "vertexfinder-event-store"
SCHEMA_VERSION = 1
_INTERACTIONS = ("CC", "NC", "")
COMPRESSIONS = ("zlib", "none")

EVENT_DTYPE = np.dtype([
    ("run", "<u4"), ("subrun", "<u4"), ("event", "<u4"), ("nu_pdg", "<i4"), ("interaction", "u1"),
    ("energy_gev", "<f4"), ("tpc", "<i4"), ("vertex_start", "<u4"), ("n_vertices", "<u4"),
])
PLANE_DTYPE = np.dtype([
    ("offset", "<u8"), ("stored", "<u8"), ("wires", "<u4"), ("drift", "<u4"), ("origin_wire", "<i4"), ("origin_drift", "<i4"),
    ("crc32", "<u4"), ("truth_code", "u1"), ("truth_start", "<u8"), ("truth_bytes", "<u4"),
])
TRUTH_DTYPE = np.dtype([("pixel", "<u4"), ("vertex", "<i2")])
# how a crop's truth is stored: none, sparse (pixel, vertex) pairs, deflated dense uint8 (v + 1), deflated dense int16 (v)
TRUTH_NONE, TRUTH_SPARSE, TRUTH_DENSE_U8, TRUTH_DENSE_I16 = 0, 1, 2, 3


def _encode_truth(truth: np.ndarray, deflate: bool) -> tuple[int, bytes]:
    if not deflate:
        flat = np.flatnonzero(truth.ravel() >= 0)
        t = np.empty(flat.size, dtype=TRUTH_DTYPE)
        t["pixel"] = flat
        t["vertex"] = truth.ravel()[flat]
        return TRUTH_SPARSE, t.tobytes()
    if truth.size == 0 or truth.max() < 254:
        return TRUTH_DENSE_U8, zlib.compress((truth + 1).astype(np.uint8).tobytes(), 1)
    return TRUTH_DENSE_I16, zlib.compress(truth.astype("<i2").tobytes(), 1)


def _decode_truth(code: int, blob: bytes, shape) -> np.ndarray:
    if code == TRUTH_SPARSE:
        t = np.frombuffer(blob, dtype=TRUTH_DTYPE)
        out = np.full(shape, -1, dtype=np.int16)
        out.ravel()[t["pixel"].astype(np.int64)] = t["vertex"]
        return out
    raw = zlib.decompress(blob)
    if code == TRUTH_DENSE_U8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 1).reshape(shape)
    return np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(shape)


def _vertex_dtype(n_planes: int) -> np.dtype:
    return np.dtype([
        ("event", "<u8"), ("kind", "u1"), ("flags", "<u4"), ("parent", "<i4"), ("pdg", "<i4"),
        ("position_cm", "<f8", (3,)), ("planes", "<f8", (n_planes, 2)),
    ])


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_write(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreWriter:
    """Appends events to a store in chunks (see the module docstring for the guarantees)."""

    def __init__(self, directory: Path, manifest: dict, *, chunk_events: int, final_path: Path | None = None,
                 replace: bool = False):
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be >= 1; Received: chunk_events={chunk_events}")
        self._dir = directory
        self._manifest = manifest
        self._chunk_events = int(chunk_events)
        self._final = final_path
        self._replace = replace
        self._pending: list[EventRecord] = []
        self._closed = False
        self._n_planes = len(manifest["views"])
        self._vdtype = _vertex_dtype(self._n_planes)

    @property
    def path(self) -> Path:
        return self._final or self._dir

    def __len__(self) -> int:
        return int(self._manifest["events"]) + len(self._pending)

    def append(self, record: EventRecord) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the writer is closed")
        m = self._manifest
        ids = f"run {record.run} subrun {record.subrun} event {record.event}"
        if record.detector != m["detector"]:
            raise BadEventError(f"{ids}: detector {record.detector!r} differs from the store's {m['detector']!r}")
        if record.drift_window != m["drift_window"] or record.pooling != m["pooling"]:
            raise BadEventError(
                f"{ids}: drift window/pooling {record.drift_window}/{record.pooling} differ from the store's "
                f"{m['drift_window']}/{m['pooling']}"
            )
        views = [p.view for p in record.planes]
        if views != m["views"]:
            raise BadEventError(f"{ids}: planes {views} differ from the store's views {m['views']}")
        if record.interaction not in _INTERACTIONS:
            raise BadEventError(f"{ids}: interaction must be one of {_INTERACTIONS}; Received: {record.interaction!r}")
        for p in record.planes:
            if p.truth is not None and p.truth.size and p.truth.max() >= len(record.vertices):
                raise BadEventError(f"{ids}: plane {p.view} truth refers to vertex {int(p.truth.max())} of {len(record.vertices)}")
        self._pending.append(record)
        if len(self._pending) >= self._chunk_events:
            self.flush()

    def extend(self, records) -> int:
        n = 0
        for r in records:
            self.append(r)
            n += 1
        return n

    def flush(self) -> None:
        """Commit the pending events as one chunk (chunk files, then the manifest)."""
        if not self._pending:
            return
        m = self._manifest
        name = f"chunk-{len(m['chunks']):06d}"
        first_event = int(m["events"])
        recs = self._pending
        n_p = self._n_planes
        events = np.zeros(len(recs), dtype=EVENT_DTYPE)
        planes = np.zeros(len(recs) * n_p, dtype=PLANE_DTYPE)
        n_vtx = sum(len(r.vertices) for r in recs)
        vertices = np.zeros(n_vtx, dtype=self._vdtype)
        truths, crops = [], []
        offset = truth_at = v_at = n_pixels = 0
        deflate = self._manifest["compression"] == "zlib"
        for i, r in enumerate(recs):
            events[i] = (r.run, r.subrun, r.event, r.nu_pdg, _INTERACTIONS.index(r.interaction),
                         r.energy_gev, r.tpc, v_at, len(r.vertices))
            for j, v in enumerate(r.vertices):
                proj = np.full((n_p, 2), np.nan)
                if len(v.planes):
                    proj[:] = v.planes
                vertices[v_at + j] = (first_event + i, VERTEX_KINDS.index(v.kind), v.flags, v.parent, v.pdg,
                                      v.position_cm, proj)
            v_at += len(r.vertices)
            for k, p in enumerate(r.planes):
                pix = np.ascontiguousarray(p.pixels)
                blob = zlib.compress(pix.tobytes(), 1) if deflate else pix.tobytes()
                crops.append(blob)
                code, tblob = TRUTH_NONE, b""
                if p.truth is not None:
                    code, tblob = _encode_truth(p.truth, deflate)
                    truths.append(tblob)
                planes[i * n_p + k] = (offset, len(blob), pix.shape[0], pix.shape[1], p.origin[0], p.origin[1],
                                       zlib.crc32(pix.tobytes()) & 0xFFFFFFFF, code, truth_at, len(tblob))
                offset += len(blob)
                n_pixels += pix.size
                truth_at += len(tblob)
        files = {}

        def write(suffix, fn):
            final = self._dir / f"{name}.{suffix}"
            tmp = self._dir / f".{name}.{suffix}.tmp"
            _fsync_write(tmp, fn)
            os.replace(tmp, final)
            files[final.name] = {"bytes": final.stat().st_size, "blake2b": _digest(final)}

        write("pixels", lambda f: [f.write(c) for c in crops])
        write("events.npy", lambda f: np.save(f, events))
        write("planes.npy", lambda f: np.save(f, planes))
        write("vertices.npy", lambda f: np.save(f, vertices))
        write("truth", lambda f: [f.write(t) for t in truths])
        _fsync_dir(self._dir)
        m["chunks"].append({"name": name, "events": len(recs), "pixels": int(n_pixels), "stored_bytes": int(offset),
                            "vertices": n_vtx, "files": files})
        m["events"] = first_event + len(recs)
        _write_manifest(self._dir, m)
        self._pending = []

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._final is not None:
            _write_manifest(self._dir, self._manifest)
            old = None
            if self._final.exists():
                if not self._replace:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    raise StoreError(f"{self._final}: exists (appeared while writing); nothing written")
                old = self._final.with_name(self._final.name + f".old-{os.getpid()}")
                os.replace(self._final, old)
            os.replace(self._dir, self._final)
            _fsync_dir(self._final.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Drop pending events; a store being created is removed entirely."""
        self._pending = []
        self._closed = True
        if self._final is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _write_manifest(directory: Path, manifest: dict) -> None:
    tmp = directory / "manifest.json.tmp"
    _fsync_write(tmp, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    os.replace(tmp, directory / "manifest.json")
    _fsync_dir(directory)


class EventStore:
    """A read-only view of an event store; ``store[i]`` is an EventRecord."""

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, path, *, detector: str, views, drift_window: int, pooling: str, pixel_cm=None,
               detector_description: dict | None = None, chunk_events: int = 1000, overwrite: bool = False,
               compression: str = "zlib") -> StoreWriter:
        """A writer for a new store at ``path``, which appears only when the writer closes successfully.

        ``compression``: "zlib" (each crop deflated on its own; the default) or "none".
        """
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}; Received: compression={compression!r}")
        path = Path(path)
        if path.exists() and not overwrite:
            raise StoreError(f"{path}: exists (pass overwrite=True to replace it)")
        if not path.parent.exists():
            raise StoreError(f"{path}: the folder {path.parent} does not exist")
        partial = path.with_name(path.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        manifest = {
            "format": FORMAT, "schema_version": SCHEMA_VERSION, "created_by": f"vertexfinder {__version__}",
            "detector": str(detector), "detector_description": detector_description, "views": list(views),
            "drift_window": int(drift_window), "pooling": str(pooling),
            "pixel_cm": None if pixel_cm is None else [float(v) for v in pixel_cm],
            "compression": compression, "events": 0, "chunks": [],
        }
        _write_manifest(partial, manifest)
        return StoreWriter(partial, manifest, chunk_events=chunk_events, final_path=path, replace=overwrite)

    @classmethod
    def append(cls, path, *, chunk_events: int = 1000) -> StoreWriter:
        """A writer adding chunks to an existing store (each chunk committed on its own)."""
        store = cls.open(path)
        manifest = store._manifest
        store.close()
        return StoreWriter(Path(path), manifest, chunk_events=chunk_events)

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def open(cls, path, *, verify_crops: bool = True) -> "EventStore":
        return cls(path, verify_crops=verify_crops)

    def __init__(self, path, *, verify_crops: bool = True):
        self.path = Path(path)
        self.verify_crops = verify_crops
        mpath = self.path / "manifest.json"
        if not self.path.is_dir():
            raise StoreError(f"{self.path}: no such event store")
        if not mpath.is_file():
            raise StoreError(f"{self.path}: not an event store (no manifest.json)")
        try:
            m = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreCorruptError(f"{mpath}: corrupt manifest ({exc})") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise StoreCorruptError(f"{mpath}: not a vertexfinder event store manifest")
        if m.get("compression", "none") not in COMPRESSIONS and m.get("schema_version") == SCHEMA_VERSION:
            raise StoreCorruptError(f"{mpath}: unknown compression {m.get('compression')!r}")
        if m.get("schema_version") != SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path}: store schema version {m.get('schema_version')!r}, this vertexfinder reads version {SCHEMA_VERSION}"
            )
        self._manifest = m
        self._n_planes = len(m["views"])
        self._chunks = []
        for c in m["chunks"]:
            for fname, meta in c["files"].items():
                f = self.path / fname
                if not f.is_file():
                    raise StoreCorruptError(f"{f}: missing (listed in the manifest)")
                size = f.stat().st_size
                if size != meta["bytes"]:
                    raise StoreCorruptError(f"{f}: {size} bytes, the manifest says {meta['bytes']} (truncated or overwritten)")
                if not fname.endswith((".pixels", ".truth")) and _digest(f) != meta["blake2b"]:
                    raise StoreCorruptError(f"{f}: checksum mismatch (corrupt index file)")
            name = c["name"]
            try:
                arrays = {k: np.load(self.path / f"{name}.{k}.npy", mmap_mode="r", allow_pickle=False)
                          for k in ("events", "planes", "vertices")}
            except ValueError as exc:
                raise StoreCorruptError(f"{self.path / name}: unreadable index ({exc})") from None
            pixels_path = self.path / f"{name}.pixels"
            pixels = (np.memmap(pixels_path, dtype=np.uint8, mode="r") if pixels_path.stat().st_size > 0
                      else np.zeros(0, dtype=np.uint8))
            truth_path = self.path / f"{name}.truth"
            arrays["truth"] = (np.memmap(truth_path, dtype=np.uint8, mode="r") if truth_path.stat().st_size > 0
                               else np.zeros(0, dtype=np.uint8))
            self._chunks.append((name, arrays, pixels))
        counts = [c["events"] for c in m["chunks"]]
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    # -- metadata ----------------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        return {k: v for k, v in self._manifest.items() if k != "chunks"}

    detector = property(lambda self: self._manifest["detector"])
    views = property(lambda self: list(self._manifest["views"]))
    drift_window = property(lambda self: self._manifest["drift_window"])
    pooling = property(lambda self: self._manifest["pooling"])
    pixel_cm = property(lambda self: self._manifest["pixel_cm"])
    compression = property(lambda self: self._manifest.get("compression", "none"))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __repr__(self) -> str:
        return f"EventStore({str(self.path)!r}: {len(self)} events, detector {self.detector!r}, views {self.views})"

    def _locate(self, i: int):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.path}: event {i} out of range ({n} events)")
        i = i % n if n else i
        c = int(np.searchsorted(self._starts, i, side="right") - 1)
        return i, c, i - int(self._starts[c])

    def _plane(self, gi, c, j, k) -> PlaneImage:
        name, arrays, pixels = self._chunks[c]
        row = arrays["planes"][j * self._n_planes + k]
        shape = (int(row["wires"]), int(row["drift"]))
        off, stored = int(row["offset"]), int(row["stored"])
        where = f"{self.path / (name + '.pixels')}: event {gi} plane {self.views[k]}"
        if self._manifest.get("compression", "none") == "zlib":
            try:
                raw = zlib.decompress(pixels[off : off + stored])
            except zlib.error as exc:
                raise StoreCorruptError(f"{where}: crop does not inflate ({exc})") from None
            if len(raw) != shape[0] * shape[1]:
                raise StoreCorruptError(f"{where}: crop inflates to {len(raw)} bytes, expected {shape[0] * shape[1]}")
            pix = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
        else:
            pix = np.array(pixels[off : off + stored]).reshape(shape)
        if self.verify_crops and (zlib.crc32(pix.tobytes()) & 0xFFFFFFFF) != int(row["crc32"]):
            raise StoreCorruptError(f"{where}: crop fails its CRC-32 check")
        truth = None
        if row["truth_code"] != TRUTH_NONE:
            t0, tn = int(row["truth_start"]), int(row["truth_bytes"])
            try:
                truth = _decode_truth(int(row["truth_code"]), bytes(arrays["truth"][t0 : t0 + tn]), shape)
            except (zlib.error, ValueError) as exc:
                raise StoreCorruptError(f"{where}: truth map does not decode ({exc})") from None
        return PlaneImage(self.views[k], pix, (int(row["origin_wire"]), int(row["origin_drift"])), truth)

    def plane(self, i: int, p: int) -> PlaneImage:
        """Plane ``p`` of event ``i``, without reading the other planes."""
        gi, c, j = self._locate(i)
        if not 0 <= p < self._n_planes:
            raise IndexError(f"{self.path}: plane {p} out of range 0..{self._n_planes - 1}")
        return self._plane(gi, c, j, p)

    def __getitem__(self, i: int) -> EventRecord:
        gi, c, j = self._locate(int(i))
        _, arrays, _ = self._chunks[c]
        ev = arrays["events"][j]
        v0, nv = int(ev["vertex_start"]), int(ev["n_vertices"])
        verts = [
            TruthVertex(VERTEX_KINDS[int(v["kind"])], np.array(v["position_cm"]), flags=int(v["flags"]),
                        parent=int(v["parent"]), planes=np.array(v["planes"], dtype=np.float64), pdg=int(v["pdg"]))
            for v in arrays["vertices"][v0 : v0 + nv]
        ]
        return EventRecord(
            run=int(ev["run"]), subrun=int(ev["subrun"]), event=int(ev["event"]), detector=self.detector,
            drift_window=self.drift_window, pooling=self.pooling,
            planes=[self._plane(gi, c, j, k) for k in range(self._n_planes)], vertices=verts,
            nu_pdg=int(ev["nu_pdg"]), interaction=_INTERACTIONS[int(ev["interaction"])],
            energy_gev=float(ev["energy_gev"]), tpc=int(ev["tpc"]),
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def vertex_table(self) -> np.ndarray:
        """All truth vertices (structured array with the global event index in ``event``)."""
        parts = [np.asarray(a["vertices"]) for _, a, _ in self._chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=_vertex_dtype(self._n_planes))

    def info(self) -> dict:
        files = [self.path / "manifest.json"] + [self.path / f for c in self._manifest["chunks"] for f in c["files"]]
        on_disk = sum(f.stat().st_size for f in files)
        pixels = sum(c["pixels"] for c in self._manifest["chunks"])
        return {
            "path": str(self.path), "events": len(self), "planes": self._n_planes, "views": self.views,
            "detector": self.detector, "drift_window": self.drift_window, "pooling": self.pooling,
            "pixel_cm": self.pixel_cm, "compression": self.compression, "pixels": int(pixels), "vertices": sum(c["vertices"] for c in self._manifest["chunks"]),
            "chunks": len(self._manifest["chunks"]), "bytes_on_disk": int(on_disk),
            "bytes_per_pixel": float(on_disk / pixels) if pixels else None,
            "bytes_per_event": float(on_disk / len(self)) if len(self) else None,
            "schema_version": self._manifest["schema_version"], "created_by": self._manifest.get("created_by"),
        }

    def verify(self) -> None:
        """Check every file's digest, pixels included (reads everything once)."""
        for c in self._manifest["chunks"]:
            for fname, meta in c["files"].items():
                if _digest(self.path / fname) != meta["blake2b"]:
                    raise StoreCorruptError(f"{self.path / fname}: checksum mismatch")

    def close(self) -> None:
        self._chunks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
