"""Writing an event store: a new store, or chunks appended to one, each committed atomically.

Each chunk's files are written under temporary names, flushed and fsynced, renamed, and only then
is ``manifest.json`` replaced (write ``manifest.json.tmp``, fsync, ``os.replace``). A crash leaves
the store as of its last committed chunk; files the manifest does not list are ignored. A new
store is built in a hidden sibling ``.<name>.partial-<pid>`` directory and renamed onto ``path``
when complete, so it never opens as valid but half written; creating a store first removes what
writers killed before finishing left in its folder (partial stores and temporaries of processes no
longer running on this host, :func:`~vertexfinder.io.atomic.remove_stale_temporaries_in`).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

from ... import __version__, interrupts
from ...errors import BadEventError, StoreError
from ...records import VERTEX_KINDS, EventRecord
from ..atomic import remove_stale_temporaries_in, stamp_writer, writer_folder
from ..descriptions import detector_description
from .layout import (
    COMPRESSIONS,
    DIGEST_KEY,
    EVENT_DTYPE,
    FORMAT,
    INTERACTIONS,
    PLANE_DTYPE,
    PLANE_DTYPE_V1,
    SCHEMA_VERSION,
    TRUTH_NONE,
    WRITER_FILE,
    check_manifest,
    chunk_name,
    encode_truth,
    file_digest,
    manifest_digest,
    vertex_dtype,
)

__all__ = ["StoreWriter", "create_store", "create_store_of", "events_to_store"]


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
        self._vdtype = vertex_dtype(self._n_planes)

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
        if record.interaction not in INTERACTIONS:
            raise BadEventError(f"{ids}: interaction must be one of {INTERACTIONS}; Received: {record.interaction!r}")
        # what a store refuses to open is not written (layout.check_chunk_index)
        if record.tpc < -1:
            raise BadEventError(f"{ids}: tpc must be -1 (unknown) or a TPC index; Received: {record.tpc!r}")
        if not (np.isnan(record.energy_gev) or (np.isfinite(record.energy_gev) and record.energy_gev >= 0)):
            raise BadEventError(f"{ids}: energy_gev must be finite and >= 0, or NaN; Received: {record.energy_gev!r}")
        for p in record.planes:
            if p.truth is not None and p.truth.size and (p.truth.max() >= len(record.vertices) or p.truth.min() < -1):
                raise BadEventError(f"{ids}: plane {p.view} truth refers to vertices {int(p.truth.min())}.."
                                    f"{int(p.truth.max())}, expected -1 (none) or one of {len(record.vertices)}")
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
        name = chunk_name(len(m["chunks"]))
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
            events[i] = (r.run, r.subrun, r.event, r.nu_pdg, INTERACTIONS.index(r.interaction),
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
                    code, tblob = encode_truth(p.truth, deflate)
                    truths.append(tblob)
                planes[i * n_p + k] = (offset, len(blob), pix.shape[0], pix.shape[1], p.origin[0], p.origin[1],
                                       zlib.crc32(pix.tobytes()) & 0xFFFFFFFF, code, truth_at, len(tblob),
                                       zlib.crc32(tblob) & 0xFFFFFFFF)
                offset += len(blob)
                n_pixels += pix.size
                truth_at += len(tblob)
        files = {}

        def write(suffix, fn):
            final = self._dir / f"{name}.{suffix}"
            tmp = self._dir / f".{name}.{suffix}.tmp"
            _fsync_write(tmp, fn)
            os.replace(tmp, final)
            files[final.name] = {"bytes": final.stat().st_size, "blake2b": file_digest(final)}

        write("pixels", lambda f: [f.write(c) for c in crops])
        write("events.npy", lambda f: np.save(f, events))
        if m["schema_version"] == 1:  # appending to a schema-1 store keeps its format
            old = np.zeros(len(planes), dtype=PLANE_DTYPE_V1)
            for field in PLANE_DTYPE_V1.names:
                old[field] = planes[field]
            planes = old
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
            if interrupts.requested():  # after a Ctrl-C no new store is published
                shutil.rmtree(self._dir, ignore_errors=True)
                raise KeyboardInterrupt
            _write_manifest(self._dir, self._manifest)
            old = None
            if self._final.exists():
                if not self._replace:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    raise StoreError(f"{self._final}: exists (appeared while writing); nothing written")
                old = writer_folder(self._final, "old")
                if self._final.is_dir() and not self._final.is_symlink():
                    stamp_writer(self._final)  # if killed before it is removed, the next write removes it
                os.replace(self._final, old)
            os.replace(self._dir, self._final)
            (self._final / WRITER_FILE).unlink(missing_ok=True)  # after the rename: never an unstamped partial
            _fsync_dir(self._final.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)

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
    if manifest["schema_version"] >= 2:
        manifest[DIGEST_KEY] = manifest_digest(manifest)
    tmp = directory / "manifest.json.tmp"
    _fsync_write(tmp, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    os.replace(tmp, directory / "manifest.json")
    _fsync_dir(directory)


def create_store(path, *, detector: str, views, drift_window: int, pooling: str, pixel_cm=None,
                 detector_description: dict | None = None, chunk_events: int = 1000, overwrite: bool = False,
                 compression: str = "zlib") -> StoreWriter:
    """A writer for a new store at ``path`` (:meth:`EventStore.create <vertexfinder.io.store.EventStore.create>`)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}; Received: compression={compression!r}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreError(f"{path}: exists (pass overwrite=True to replace it)")
    if not path.parent.exists():
        raise StoreError(f"{path}: the folder {path.parent} does not exist")
    manifest = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "created_by": f"vertexfinder {__version__}",
        "detector": str(detector), "detector_description": detector_description, "views": list(views),
        "drift_window": int(drift_window), "pooling": str(pooling),
        "pixel_cm": None if pixel_cm is None else [float(v) for v in pixel_cm],
        "compression": compression, "events": 0, "chunks": [],
    }
    check_manifest(manifest, path, ValueError)  # what would not open is not written
    remove_stale_temporaries_in(path.parent)
    partial = writer_folder(path, "partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    stamp_writer(partial)
    _write_manifest(partial, manifest)
    return StoreWriter(partial, manifest, chunk_events=chunk_events, final_path=path, replace=overwrite)


def create_store_of(path, detector, *, drift_window: int, pooling: str, overwrite: bool = False) -> StoreWriter:
    """A writer for a new store of ``detector``'s events (a Detector, whose description the store records)."""
    return create_store(path, detector=detector.name, views=list(detector.views), drift_window=drift_window,
                        pooling=pooling, pixel_cm=None, detector_description=detector_description(detector),
                        overwrite=overwrite)


def events_to_store(records, output, *, detector, drift_window: int, pooling: str, overwrite: bool = False) -> int:
    """Write EventRecords of ``detector`` (a Detector) as the new store ``output``; the number written."""
    n = 0
    with create_store_of(output, detector, drift_window=drift_window, pooling=pooling, overwrite=overwrite) as writer:
        for rec in records:
            writer.append(rec)
            n += 1
    return n

